"""structlog for the service, the worker and the libraries (uvicorn, celery, sqlalchemy).

Every log line goes through one processor chain that binds the request id and masks
credentials: JSON lines in prod, a readable console in dev. Standard-library loggers are routed
through the same chain, so uvicorn's access log is redacted too.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import Mapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

REDACTED = "***"

# Keys whose values are credentials wherever they appear (log fields, nested dicts, headers).
_SENSITIVE_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|authorization|api[-_]?key|cookie|"
    r"credential|private[-_]?key|signature|pepper",
    re.IGNORECASE,
)
# Credentials embedded in free text: "Bearer abc", "password=abc", URLs with user:password@.
_SENSITIVE_TEXT = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|token|api[-_]?key|refresh_token|access_token)"
            r"([\"']?\s*[=:]\s*[\"']?)[^\s&\"',;]+"
        ),
        r"\1\2" + REDACTED,
    ),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/\s@]*):[^@/\s]+@"), r"\1:" + REDACTED + "@"),
)


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and bool(_SENSITIVE_KEY.search(key))


def redact_text(text: str) -> str:
    for pattern, replacement in _SENSITIVE_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of `value` with every credential masked, however deeply it is nested."""
    if depth > 8:
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_sensitive_key(key) else redact(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Header lists come as (name, value) pairs: mask by the name.
        if len(value) == 2 and is_sensitive_key(value[0]):
            return (value[0], REDACTED)
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, bytes | str):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        return redact_text(text)
    return value


def redact_event(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the last line of defence before anything is written."""
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate of the message
    for key in list(event_dict):
        if key in {"timestamp", "level", "logger"}:
            continue
        event_dict[key] = REDACTED if is_sensitive_key(key) else redact(event_dict[key])
    return event_dict


def _render_exception_redacted(_: Any, __: str, event_dict: EventDict) -> EventDict:
    # Tracebacks carry exception messages, which may quote a connection string or a token.
    if "exception" in event_dict and isinstance(event_dict["exception"], str):
        event_dict["exception"] = redact_text(event_dict["exception"])
    return event_dict


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """Writes to whatever `sys.stderr` is at the time of the write.

    A plain StreamHandler keeps the stream it was built with; test runners and process
    supervisors swap `sys.stderr`, and a handler still holding the old (closed) one loses lines.
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        redact_event,
    ]


def configure_logging(*, level: str = "INFO", json: bool = False) -> None:
    """Route structlog and the standard library through one redacting pipeline."""
    shared = _shared_processors()
    renderer: Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter_processors: list[Processor] = [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        _render_exception_redacted,
        renderer,
    ]
    # `uvicorn --no-access-log` leaves its access logger with no handlers and cut off from the
    # root. Routing it into ours as well would switch the access log back on behind the
    # operator's back; with the log on (uvicorn's own handler) or outside uvicorn, route it.
    access = logging.getLogger("uvicorn.access")
    access_log = bool(access.handlers) or access.propagate
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": structlog.stdlib.ProcessorFormatter,
                    "processors": formatter_processors,
                    "foreign_pre_chain": shared,
                }
            },
            "handlers": {"default": {"()": StderrHandler, "formatter": "structlog"}},
            "root": {"handlers": ["default"], "level": level.upper()},
            "loggers": {
                # uvicorn installs its own handlers; route them through ours instead.
                "uvicorn": {"handlers": [], "propagate": True},
                "uvicorn.error": {"handlers": [], "propagate": True},
                "uvicorn.access": {"handlers": [], "propagate": access_log},
                "celery": {"handlers": [], "propagate": True},
                "sqlalchemy.engine": {"level": "WARNING"},
                "asyncio": {"level": "WARNING"},
            },
        }
    )
