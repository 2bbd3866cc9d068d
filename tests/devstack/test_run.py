"""`make run` end to end: embedded servers, migrations, seed, three children; Ctrl-C cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import psutil

from app.devstack.embedded import free_port

ROOT = Path(__file__).resolve().parents[2]


def _processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(path) in cmdline:
            found.append(process)
    return found


def _demo_order_status(port: int, tmp_path: Path, *, wait_for: str) -> str:
    """The status of the member's demo order, polled until it is `wait_for` (30 s at most)."""
    password = (tmp_path / "data" / "admin-password").read_text().strip()
    status = "none"
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=5) as client:
        token = client.post(
            "/auth/token", data={"username": "member@example.com", "password": password}
        ).json()["access_token"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status != wait_for:
            orders = client.get("/orders", headers={"Authorization": f"Bearer {token}"})
            items = orders.json()["items"]
            status = items[0]["status"] if items else "none"
            time.sleep(0.5)
    return status


def _acknowledged_callbacks(payments_url: str) -> list[str]:
    deadline = time.monotonic() + 10
    acknowledged: list[str] = []
    while time.monotonic() < deadline and not acknowledged:
        callbacks = httpx.get(f"{payments_url}/admin/stats", timeout=5).json()["callbacks"]
        acknowledged = [c["type"] for c in callbacks if c["status"] == 200]
        time.sleep(0.2)
    return acknowledged


def test_run_serves_ready_and_ctrl_c_leaves_no_process_behind(tmp_path: Path) -> None:
    port = free_port()
    payments_url = f"http://127.0.0.1:{free_port()}"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "APP_ENV"}
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        ADMIN_PASSWORD="",
        # The payment simulator on a free port too: parallel runs must not collide on 8010.
        PAYMENTS_BASE_URL=payments_url,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "app.devstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            output.append(line)
            if "ready in" in line or process.poll() is not None:
                break
        assert any("ready in" in line for line in output), "".join(output)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready") as response:
            assert response.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs") as response:
            assert response.status == 200
        # The seeded demo order goes through the outbox, the worker and the payment simulator.
        assert _demo_order_status(port, tmp_path, wait_for="paid") == "paid"
        # ...and the simulator's signed callback was verified and acknowledged by the API.
        assert _acknowledged_callbacks(payments_url) == ["payment.succeeded"]
        assert any("generated admin password" in line for line in output)
        assert (tmp_path / "data" / "admin-password").stat().st_mode & 0o777 == 0o600

        spawned = psutil.Process(process.pid).children(recursive=True)
        spawned += _processes_using(tmp_path)
        assert len(spawned) >= 6  # api, worker (+ its pool), beat, payments, postgres, redis

        stopped_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)
        elapsed = time.monotonic() - stopped_at
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert elapsed < 10
    assert [p for p in spawned if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert _processes_using(tmp_path) == []
