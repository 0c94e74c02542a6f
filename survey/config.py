"""Settings from the environment, read once into a frozen Struct and passed in (12-factor)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

import msgspec
from msgspec import Meta


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    data_dir: str = ".survey"
    questionnaires_dir: str = "questionnaires"
    secret: str | None = None
    min_cell: Annotated[int, Meta(ge=1)] = 5
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8000
    # Worker processes for `survey serve`; None: one per core.
    workers: Annotated[int, Meta(ge=1)] | None = None
    # Submissions per client per minute; 0 turns the limit off.
    rate_limit: Annotated[int, Meta(ge=0)] = 60
    # How long a request waits for a pooled connection before answering 503.
    db_timeout: Annotated[float, Meta(gt=0)] = 5.0
    pool_size: Annotated[int, Meta(ge=1)] = 10
    # Redis for rate-limit counters; unset, they are kept in PostgreSQL.
    redis_url: str | None = None
    # Log lines: JSON objects, text for people, or `auto` (text at a terminal, else JSON).
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # If set, GET /metrics needs `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = None
    # Days an unfinished multi-page response is kept for its resume link.
    draft_days: Annotated[int, Meta(ge=1)] = 30


# Setting name → environment variable. The README's settings table is checked against this.
ENVIRONMENT = {
    "database_url": "DATABASE_URL",
    "data_dir": "SURVEY_DATA_DIR",
    "questionnaires_dir": "SURVEY_QUESTIONNAIRES_DIR",
    "secret": "SURVEY_SECRET",
    "min_cell": "SURVEY_MIN_CELL",
    "workers": "SURVEY_WORKERS",
    "rate_limit": "SURVEY_RATE_LIMIT",
    "db_timeout": "SURVEY_DB_TIMEOUT",
    "pool_size": "SURVEY_POOL_SIZE",
    "redis_url": "SURVEY_REDIS_URL",
    "log_format": "SURVEY_LOG_FORMAT",
    "log_level": "SURVEY_LOG_LEVEL",
    "metrics_token": "SURVEY_METRICS_TOKEN",
    "draft_days": "SURVEY_DRAFT_DAYS",
}


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default os.environ); a bad value raises msgspec.ValidationError."""
    environ = os.environ if environ is None else environ
    raw = {name: environ[var] for name, var in ENVIRONMENT.items() if environ.get(var)}
    return msgspec.convert(raw, Settings, strict=False)


def with_secret(settings: Settings) -> Settings:
    """Settings with a signing secret: SURVEY_SECRET, or one generated once into the data dir."""
    if settings.secret:
        return settings
    path = Path(settings.data_dir) / "secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return msgspec.structs.replace(settings, secret=path.read_text().strip())


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
