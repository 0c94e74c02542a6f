"""The `survey` command through click's CliRunner, and `survey serve` as a real process."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import yaml
from click.testing import CliRunner

from survey.cli import Exit, main
from survey.core import loader
from survey.core.model import LikertItem
from survey.store import migrate
from tests.support import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = ROOT / "questionnaires" / "connector.yaml"
ALL = [m.name for m in migrate.available()]
UNREACHABLE_URL = "postgresql://u:secretpw@127.0.0.1:1/x"


def run(*args: str, **env: str | None):
    return CliRunner().invoke(main, list(args), env=env)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def broken_connector(directory: Path) -> Path:
    """connector.yaml with an unknown key, a duplicate item id and an unknown scale."""
    data = yaml.safe_load(CONNECTOR.read_text())
    items = data["sections"][0]["items"]
    items[0]["colour"] = "red"
    items[1]["id"] = items[0]["id"]
    items[2]["scale"] = "agree7"
    path = directory / "connector.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def with_password(url: str, database: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{parts.username}:{password}@{host}", path=f"/{database}")
    )


async def migrate_with(url: str, directory: Path) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrate.migrate(conn, directory)
    finally:
        await conn.close()


async def ledger(url: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return [r["name"] for r in await conn.fetch("SELECT name FROM schema_migration")]
    finally:
        await conn.close()


# --- the group ---------------------------------------------------------------------------------


def test_version_prints_the_installed_package_version():
    result = run("--version")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"survey {importlib.metadata.version('connector-survey')}\n"


def test_an_unknown_option_is_a_usage_error_exiting_2():
    result = run("migrate", "--colour")

    assert result.exit_code == Exit.USAGE == 2
    assert "No such option '--colour'" in result.stderr


# --- validate ---------------------------------------------------------------------------------


def test_validate_accepts_the_shipped_questionnaire():
    result = run("validate", str(CONNECTOR))

    assert result.exit_code == 0, result.output
    assert f"{CONNECTOR}: ok (connector, version " in result.output


def test_validate_lists_each_problem_on_its_own_line_with_its_path_and_exits_1(tmp_path):
    broken = broken_connector(tmp_path)

    result = run("validate", str(broken))

    assert result.exit_code == 1
    out = lines(result.output)
    assert f"{broken}: sections[0].items[0].colour: unknown key 'colour'" in out
    assert f"{broken}: sections[0].items[1].id: duplicate item id 'say_why'" in out
    assert f"{broken}: sections[0].items[2].scale: unknown scale 'agree7'" in out
    assert len(out) == 3, out


def test_validate_checks_every_file_and_fails_if_any_is_bad(tmp_path):
    broken = broken_connector(tmp_path)

    result = run("validate", str(CONNECTOR), str(broken))

    assert result.exit_code == 1
    out = lines(result.output)
    assert out[0].startswith(f"{CONNECTOR}: ok")
    assert all(line.startswith(f"{broken}: sections[0].items[") for line in out[1:])


def test_validate_of_a_file_that_is_not_yaml_says_so_and_exits_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("slug: [unclosed\n")

    result = run("validate", str(path))

    assert result.exit_code == 1
    [line] = lines(result.output)
    assert line.startswith(f"{path}: line 2: not valid YAML: ")
    assert "expected ',' or ']'" in line


def test_validate_of_a_missing_file_exits_1_with_one_clear_line(tmp_path):
    missing = tmp_path / "nowhere.yaml"

    result = run("validate", str(missing))

    assert result.exit_code == 1
    assert lines(result.output) == [f"{missing}: cannot read: No such file or directory"]


def test_validate_json_gives_each_file_with_its_problems_and_paths_in_one_document(tmp_path):
    broken = broken_connector(tmp_path)
    missing = tmp_path / "nowhere.yaml"
    version = loader.load(CONNECTOR.read_bytes()).version

    result = run("validate", "--json", str(CONNECTOR), str(broken), str(missing))

    assert result.exit_code == 1
    assert result.stderr == ""
    document = json.loads(result.stdout)
    good, bad, unread = document.pop("files")
    assert document == {"ok": False}
    assert good == {
        "file": str(CONNECTOR),
        "ok": True,
        "slug": "connector",
        "version": version,
        "items": len(loader.load(CONNECTOR.read_bytes()).definition.items),
        "problems": [],
    }
    assert bad["file"] == str(broken)
    assert (bad["ok"], bad["slug"], bad["version"], bad["items"]) == (False, None, None, None)
    assert bad["problems"] == [
        {"field": "sections[0].items[0].colour", "message": "unknown key 'colour'"},
        {"field": "sections[0].items[1].id", "message": "duplicate item id 'say_why'"},
        {"field": "sections[0].items[2].scale", "message": "unknown scale 'agree7'"},
    ]
    assert unread["problems"] == [
        {"field": "", "message": "cannot read: No such file or directory"}
    ]


def test_validate_json_of_good_files_says_ok_and_exits_0():
    result = run("validate", "--json", str(CONNECTOR))

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True


def test_validate_needs_at_least_one_file():
    result = run("validate")

    assert result.exit_code == 2
    assert "Missing argument" in result.output


# --- migrate ----------------------------------------------------------------------------------


def test_migrate_applies_every_migration_then_none(empty_database_url):
    first = run("migrate", DATABASE_URL=empty_database_url)

    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"applied {len(ALL)} migration(s): {', '.join(ALL)}"
    assert sorted(asyncio.run(ledger(empty_database_url))) == ALL

    second = run("migrate", DATABASE_URL=empty_database_url)

    assert second.exit_code == 0, second.output
    assert second.stdout.strip() == "applied 0 migration(s)"


async def relations(url: str) -> list[str]:
    """Every table, view and sequence in the database's own schemas."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT c.relname
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
            """
        )
        return [r["relname"] for r in rows]
    finally:
        await conn.close()


def test_migrate_status_lists_every_migration_pending_on_a_new_database_and_writes_nothing(
    empty_database_url,
):
    # A read-only session: the command fails if it tries to write anything at all.
    joiner = "&" if urlsplit(empty_database_url).query else "?"
    read_only = f"{empty_database_url}{joiner}default_transaction_read_only=on"

    result = run("migrate", "--status", DATABASE_URL=read_only)

    assert result.exit_code == 0, result.output
    assert lines(result.stdout) == [
        *(f"pending  {name}" for name in ALL),
        f"0 applied, {len(ALL)} pending",
    ]
    assert asyncio.run(relations(empty_database_url)) == []


def test_migrate_status_lists_applied_and_pending_as_json_on_a_half_migrated_database(
    empty_database_url, tmp_path
):
    for path in sorted(migrate.MIGRATIONS_DIR.glob("[0-9]*.sql"))[:2]:
        (tmp_path / path.name).write_text(path.read_text())
    asyncio.run(migrate_with(empty_database_url, tmp_path))

    result = run("migrate", "--status", "--json", DATABASE_URL=empty_database_url)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"applied": ALL[:2], "pending": ALL[2:], "applied_now": []}
    assert sorted(asyncio.run(ledger(empty_database_url))) == ALL[:2]


def test_migrate_json_gives_the_ledger_and_what_this_run_applied(empty_database_url):
    first = run("migrate", "--json", DATABASE_URL=empty_database_url)

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"applied": ALL, "pending": [], "applied_now": ALL}

    second = run("migrate", "--json", DATABASE_URL=empty_database_url)

    assert json.loads(second.stdout) == {"applied": ALL, "pending": [], "applied_now": []}


def test_migrate_status_of_an_unreachable_database_exits_69_with_nothing_on_stdout():
    result = run("migrate", "--status", "--json", DATABASE_URL=UNREACHABLE_URL)

    assert result.exit_code == Exit.UNAVAILABLE
    assert result.stdout == ""
    assert lines(result.stderr)[0].startswith("error: cannot reach the database at ")


def check_one_clear_line(result, shown_url: str) -> None:
    assert result.exit_code == Exit.UNAVAILABLE == 69
    assert lines(result.output) == lines(result.stderr)
    assert len(lines(result.output)) == 1, result.output
    line = lines(result.output)[0]
    assert line.startswith("error: ")
    assert shown_url in line
    assert "Traceback" not in result.output
    assert "secretpw" not in result.output


def test_migrate_with_an_unreachable_database_says_so_in_one_line_without_the_password():
    result = run("migrate", DATABASE_URL=UNREACHABLE_URL)

    check_one_clear_line(result, "postgresql://u:***@127.0.0.1:1/x")


def test_migrate_to_a_database_that_does_not_exist_says_so_in_one_line(server_url):
    url = with_password(server_url, "no_such_survey_database", "secretpw")

    result = run("migrate", DATABASE_URL=url)

    check_one_clear_line(result, with_password(server_url, "no_such_survey_database", "***"))
    assert "no_such_survey_database" in result.output


def test_an_embedded_postgresql_that_cannot_start_exits_69_in_one_line(tmp_path):
    # Its data directory would be made inside this one, which is a file.
    data_dir = tmp_path / "not-a-directory"
    data_dir.write_text("")

    result = run("migrate", DATABASE_URL=None, SURVEY_DATA_DIR=str(data_dir))

    assert result.exit_code == Exit.UNAVAILABLE
    assert lines(result.stdout) == []
    assert lines(result.stderr)[-1].startswith("error: could not start the embedded PostgreSQL: ")
    assert "Traceback" not in result.output


def test_an_embedded_database_of_another_major_version_is_refused_with_what_to_do(tmp_path):
    # A folder that an earlier release's PostgreSQL 16 made: PostgreSQL 18 cannot open it.
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("16\n")

    result = run("migrate", DATABASE_URL=None, SURVEY_DATA_DIR=str(tmp_path))

    assert result.exit_code == Exit.UNAVAILABLE
    last = lines(result.stderr)[-1]
    assert "holds a PostgreSQL 16 database" in last and "export it" in last
    assert sorted(p.name for p in (tmp_path / "pgdata").iterdir()) == ["PG_VERSION"]


def test_a_bad_setting_is_refused_in_one_line(empty_database_url):
    result = run("migrate", DATABASE_URL=empty_database_url, SURVEY_POOL_SIZE="lots")

    assert result.exit_code == 1
    assert len(lines(result.output)) == 1
    assert lines(result.output)[0].startswith("error: bad setting")
    assert "pool_size" in result.output


# --- serve ------------------------------------------------------------------------------------


def test_serve_refuses_an_invalid_questionnaire_before_touching_the_database(tmp_path):
    questionnaires = tmp_path / "questionnaires"
    questionnaires.mkdir()
    broken = broken_connector(questionnaires)

    # An unreachable database would exit 69: exiting 1 shows nothing was tried before the check.
    result = run(
        "serve",
        SURVEY_QUESTIONNAIRES_DIR=str(questionnaires),
        DATABASE_URL=UNREACHABLE_URL,
        SURVEY_DATA_DIR=str(tmp_path / "data"),
    )

    assert result.exit_code == 1
    err = lines(result.stderr)
    assert f"{broken}: sections[0].items[0].colour: unknown key 'colour'" in err
    assert f"{broken}: sections[0].items[1].id: duplicate item id 'say_why'" in err
    assert f"{broken}: sections[0].items[2].scale: unknown scale 'agree7'" in err
    assert err[-1] == "error: refusing to start with an invalid questionnaire"
    assert "serving on" not in result.output
    assert not (tmp_path / "data").exists()


def test_serve_migrates_serves_a_submission_and_stops_cleanly_on_sigterm(
    empty_database_url, questionnaires, tmp_path
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": empty_database_url,
        "SURVEY_DATA_DIR": str(tmp_path / "data"),
        "SURVEY_QUESTIONNAIRES_DIR": str(ROOT / "questionnaires"),
    }
    env.pop("SURVEY_SECRET", None)
    log = tmp_path / "serve.log"
    connector = questionnaires["connector"].definition
    answers = {item.id: 4 for item in connector.items if isinstance(item, LikertItem)}

    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "survey", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(process, f"{base}/readyz", log)

            response = httpx.post(
                f"{base}/api/v1/questionnaires/connector/responses",
                json={"answers": answers, "consent": True},
                timeout=10,
            )
            assert response.status_code == 201, response.text
            body = response.json()
            assert body["complete"] is True
            assert body["profile"] is not None
            assert httpx.get(f"{base}/api/v1/results/{body['result_token']}").status_code == 200

            process.send_signal(signal.SIGTERM)
            # uvicorn shuts down, then re-raises the signal it caught to end the process.
            assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    text = log.read_text()
    assert "Traceback" not in text, text
    assert "Application shutdown complete" in text, text
    assert sorted(asyncio.run(ledger(empty_database_url))) == ALL
    # No SURVEY_SECRET given: one was generated into the data dir, readable by the owner only.
    secret = tmp_path / "data" / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
