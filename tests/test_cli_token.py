"""`survey token create|list|revoke` through click's CliRunner, on a real database."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import asyncpg
import httpx
from click.testing import CliRunner

from survey.cli import main


def run(url: str, *args: str):
    return CliRunner().invoke(main, ["token", *args], env={"DATABASE_URL": url})


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


async def stored(url: str) -> list[dict]:
    conn = await asyncpg.connect(url)
    try:
        return [dict(r) for r in await conn.fetch("SELECT * FROM researcher_token")]
    finally:
        await conn.close()


def test_create_prints_the_token_once_as_the_last_line(database_url):
    result = run(database_url, "create", "alice", "--scope", "reports,submit")

    assert result.exit_code == 0, result.output
    out = lines(result.stdout)
    token = out[-1]
    assert token.startswith("cs_")
    assert len(token) >= 46
    assert result.output.count(token) == 1
    assert "alice" in out[0]
    assert "reports,submit" in out[0]
    [row] = asyncio.run(stored(database_url))
    assert row["name"] == "alice"
    assert row["scopes"] == ["reports", "submit"]
    assert token not in repr(row)


def test_create_defaults_to_the_reports_scope(database_url):
    result = run(database_url, "create", "alice")

    assert result.exit_code == 0, result.output
    assert asyncio.run(stored(database_url))[0]["scopes"] == ["reports"]


def test_create_migrates_an_empty_database_first(empty_database_url):
    result = run(empty_database_url, "create", "alice")

    assert result.exit_code == 0, result.output
    assert len(asyncio.run(stored(empty_database_url))) == 1


def test_create_with_a_taken_name_exits_1_and_prints_no_token(database_url):
    run(database_url, "create", "alice")

    result = run(database_url, "create", "alice")

    assert result.exit_code == 1
    assert lines(result.output) == [
        "error: a token named 'alice' exists already; choose another name "
        "(revoked tokens keep theirs)"
    ]
    assert len(asyncio.run(stored(database_url))) == 1


def test_create_with_an_unknown_scope_is_a_usage_error(database_url):
    result = run(database_url, "create", "alice", "--scope", "reports,admin")

    assert result.exit_code == 2
    assert "unknown scope 'admin'" in result.output
    assert "cs_" not in result.output


def test_create_with_a_bad_name_is_a_usage_error(database_url):
    result = run(database_url, "create", "two words")

    assert result.exit_code == 2
    assert "NAME" in result.output


def test_list_shows_names_scopes_and_dates_but_never_a_token(database_url):
    alice = lines(run(database_url, "create", "alice", "--scope", "reports").stdout)[-1]
    bob = lines(run(database_url, "create", "bob", "--scope", "submit").stdout)[-1]
    run(database_url, "revoke", "bob")

    result = run(database_url, "list")

    assert result.exit_code == 0, result.output
    header, *rows = lines(result.output)
    assert header.split() == ["name", "scopes", "created", "last", "used", "revoked"]
    assert [r.split()[:2] for r in rows] == [["alice", "reports"], ["bob", "submit"]]
    assert rows[0].rstrip().endswith("-")  # not revoked
    assert not rows[1].rstrip().endswith("-")  # revoked: a date
    assert alice not in result.output
    assert bob not in result.output
    assert "cs_" not in result.output


def test_list_json_gives_names_scopes_and_iso_dates_but_never_a_token(database_url):
    alice = lines(run(database_url, "create", "alice", "--scope", "reports").stdout)[-1]
    bob = lines(run(database_url, "create", "bob", "--scope", "reports,submit").stdout)[-1]
    run(database_url, "revoke", "bob")

    result = run(database_url, "list", "--json")

    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["tokens"]
    assert [set(t) for t in listed] == [
        {"name", "scopes", "created_at", "last_used_at", "revoked_at"}
    ] * 2
    assert [(t["name"], t["scopes"]) for t in listed] == [
        ("alice", ["reports"]),
        ("bob", ["reports", "submit"]),
    ]
    [row_alice, row_bob] = sorted(asyncio.run(stored(database_url)), key=lambda r: r["name"])
    assert datetime.fromisoformat(listed[0]["created_at"]) == row_alice["created_at"]
    assert listed[0]["created_at"].endswith("Z")
    assert listed[0]["last_used_at"] is None
    assert listed[0]["revoked_at"] is None
    assert datetime.fromisoformat(listed[1]["revoked_at"]) == row_bob["revoked_at"]
    assert alice not in result.output
    assert bob not in result.output
    assert "cs_" not in result.output


def test_list_json_without_tokens_is_an_empty_list(database_url):
    result = run(database_url, "list", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"tokens": []}


def test_list_without_tokens_says_so(database_url):
    result = run(database_url, "list")

    assert result.exit_code == 0
    assert "no tokens" in result.output


def test_revoke_of_an_unknown_name_exits_1_with_a_clear_message(database_url):
    result = run(database_url, "revoke", "nobody")

    assert result.exit_code == 1
    assert lines(result.output) == ["error: no token named 'nobody' (see `survey token list`)"]


def test_the_printed_token_authenticates_until_it_is_revoked(database_url, live_server):
    token = lines(run(database_url, "create", "alice", "--scope", "reports").stdout)[-1]
    headers = {"Authorization": f"Bearer {token}"}

    response = httpx.get(f"{live_server}/api/v1/me", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice", "scopes": ["reports"]}

    revoked = run(database_url, "revoke", "alice")

    assert revoked.exit_code == 0, revoked.output
    assert lines(revoked.output) == ["revoked token 'alice'"]
    assert httpx.get(f"{live_server}/api/v1/me", headers=headers).status_code == 401
    [row] = asyncio.run(stored(database_url))
    assert row["revoked_at"] is not None
    assert row["last_used_at"] is not None
