"""How the long-running commands log: one format for our loggers and uvicorn's, text for people
or JSON lines for machines, written by a thread so that a slow terminal or pipe never blocks
the event loop.

JSON lines carry ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger``,
``message``, ``endpoint`` when the line is about one device (``extra={"endpoint": ...}``), and
``exception`` with the traceback when there is one.  Text lines escape control characters, so
that an endpoint name from the network cannot forge a line of its own.

:class:`LifecycleLog` logs each device's lifecycle at INFO from the server's events: Register,
Update, De-register, expiry and a drained queue, each with its endpoint.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO

from lwm2m.server import (
    Deregistered,
    Expired,
    LwM2MServer,
    QueueDrained,
    Registered,
    ServerEvent,
    Updated,
)
from lwm2m.server.registration import Registration

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

logger = logging.getLogger("lwm2m.devices")


def add_log_arguments(cmd: argparse.ArgumentParser, *, http: bool = True) -> None:
    cmd.add_argument("--log-level", choices=LOG_LEVELS, default="info")
    cmd.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="text for people, json for machines: one object a line (text)",
    )
    if http:
        cmd.add_argument(
            "--access-log", action="store_true", help="log every HTTP request (off by default)"
        )


def _escape(text: str) -> str:
    """Control characters as escapes: one record, one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        record.message = _escape(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        endpoint = getattr(record, "endpoint", None)
        if endpoint is not None:
            line["endpoint"] = endpoint
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(
    level: str, log_format: str, stream: TextIO | None = None
) -> Callable[[], None]:
    """Route every logger (uvicorn's too) through one handler on a queue, written out by a
    thread in ``log_format``; returns the function that flushes and stops it."""
    formatter = JsonFormatter() if log_format == "json" else TextFormatter()
    writer = logging.StreamHandler(sys.stderr if stream is None else stream)
    writer.setFormatter(formatter)
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, writer)
    root = logging.getLogger()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    root.addHandler(logging.handlers.QueueHandler(records))
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:  # no handlers of their own: ours, in our format
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    listener.start()
    return listener.stop


class LifecycleLog:
    """Logs every device's Register, Update, De-register, expiry and drained queue at INFO."""

    def __init__(self, server: LwM2MServer) -> None:
        self._unsubscribe = server.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: ServerEvent) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return
        match event:
            case Registered(registration=registration, previous=previous):
                again = "" if previous is None else " again (its last registration replaced)"
                self._log(registration, f"registered{again}: {_describe(registration)}")
            case Updated(registration=registration):
                self._log(registration, f"updated: {_describe(registration)}")
            case Deregistered(registration=registration):
                self._log(registration, "de-registered")
            case Expired(registration=registration):
                self._log(registration, "expired: no Update within its lifetime")
            case QueueDrained(endpoint=endpoint, count=count):
                requests = "request" if count == 1 else "requests"
                logger.info(
                    "%s woke: %d queued %s sent",
                    endpoint,
                    count,
                    requests,
                    extra={"endpoint": endpoint},
                )

    @staticmethod
    def _log(registration: Registration, what: str) -> None:
        endpoint = registration.endpoint
        logger.info("%s %s", endpoint, what, extra={"endpoint": endpoint})


def _describe(registration: Registration) -> str:
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(registration.expires_at))
    return (
        f"LwM2M {registration.lwm2m_version}, binding {registration.binding}, lifetime"
        f" {registration.lifetime} s (until {expires})"
    )
