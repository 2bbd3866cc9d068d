"""Runs child processes with prefixed output and stops them all, in order, on a signal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

# Ctrl-C must leave nothing behind within 10 s: children get this long after SIGTERM, then
# SIGKILL; the embedded servers are stopped after them.
CHILD_STOP_SECONDS = 6.0


@dataclass
class Child:
    name: str
    command: Sequence[str]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._width = 6

    def start(
        self, name: str, command: Sequence[str], extra_env: Mapping[str, str] | None = None
    ) -> Child:
        child = Child(name=name, command=command)
        # A session of its own: the terminal's Ctrl-C reaches only us, and we stop children in
        # order. Killing the process group also reaches anything the child forked (Celery's
        # pool processes).
        child.process = subprocess.Popen(  # noqa: S603 - fixed commands built by us
            list(command),
            env={**self.env, **(extra_env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._width = max(self._width, len(name))
        threading.Thread(target=self._pump, args=(name, child.process.stdout), daemon=True).start()
        self.children.append(child)
        return child

    def _pump(self, name: str, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self.print(name, line)

    def print(self, name: str, line: str) -> None:
        with self._lock:
            sys.stdout.write(f"{name:<{self._width}} | {line}\n")
            sys.stdout.flush()

    def first_exited(self) -> Child | None:
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                return child
        return None

    def stop_all(self) -> None:
        """SIGTERM to every child's process group, then SIGKILL whatever is left."""
        for child in reversed(self.children):
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_SECONDS
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.print("run", f"{child.name} did not stop in time; killing it")
            _signal_group(child, signal.SIGKILL)
            child.process.wait()


def _signal_group(child: Child, sig: signal.Signals) -> None:
    if child.process is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.process.pid, sig)
