"""The `survey` command: click commands that parse arguments and call one function each."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click
import msgspec

from survey import config, db, loader, migrate
from survey.config import Settings
from survey.errors import DatabaseUnavailable, QuestionnaireError


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_from_env() -> Settings:
    try:
        return config.from_env()
    except msgspec.ValidationError as exc:
        fail(f"bad setting: {exc}")
        raise  # unreachable; fail() exits


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or the embedded PostgreSQL started in the data dir."""
    if settings.database_url:
        return settings.database_url
    click.echo(f"starting the embedded PostgreSQL in {Path(settings.data_dir).resolve()}", err=True)
    try:
        return db.start_embedded(settings.data_dir)
    except Exception as exc:  # pgserver raises plain exceptions with the server's log
        fail(f"could not start the embedded PostgreSQL: {exc}", 2)
        raise


async def run_migrations(url: str) -> list[str]:
    conn = await db.connect(url)
    try:
        return await migrate.migrate(conn)
    finally:
        await conn.close()


def migrate_or_exit(url: str) -> list[str]:
    try:
        return asyncio.run(run_migrations(url))
    except DatabaseUnavailable as exc:
        fail(f"cannot reach the database at {config.redact(url)}: {exc}", 2)
        raise


@click.group()
def main() -> None:
    """Connector Survey: serve questionnaires, score responses, report."""


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> None:
    """Check questionnaire files: one line per problem; exit 1 if there is any."""
    bad = False
    for name in files:
        try:
            loaded = loader.load(Path(name).read_bytes(), name)
        except OSError as exc:
            click.echo(f"{name}: cannot read: {exc.strerror}")
            bad = True
        except QuestionnaireError as exc:
            click.echo("\n".join(exc.lines()))
            bad = True
        else:
            q = loaded.definition
            click.echo(f"{name}: ok ({q.slug}, version {loaded.version}, {len(q.items)} items)")
    sys.exit(1 if bad else 0)


@main.command(name="migrate")
def migrate_command() -> None:
    """Apply pending database migrations."""
    settings = settings_from_env()
    names = migrate_or_exit(database_url(settings))
    click.echo(f"applied {len(names)} migration(s)" + (f": {', '.join(names)}" if names else ""))


@main.command()
@click.option("--host", default=None, help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port to listen on (default 8000).")
@click.option("--workers", default=None, type=int, help="Worker processes (SURVEY_WORKERS).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web form, the API and the reports."""
    import uvicorn

    settings = settings_from_env()
    try:
        loader.load_dir(Path(settings.questionnaires_dir))
    except QuestionnaireError as exc:
        click.echo("\n".join(p.message for p in exc.problems), err=True)
        fail("refusing to start with an invalid questionnaire")
    url = database_url(settings)
    migrate_or_exit(url)
    settings = config.with_secret(settings)
    # Workers are separate processes: hand them the resolved URL and secret by environment.
    os.environ["DATABASE_URL"] = url
    os.environ["SURVEY_SECRET"] = settings.secret or ""
    host = host or settings.host
    port = port or settings.port
    click.echo(f"serving on http://{host}:{port}", err=True)
    uvicorn.run(
        "survey.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers or settings.workers,
        log_level="info",
        access_log=False,
        proxy_headers=False,
    )
