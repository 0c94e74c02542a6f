"""The pure parts of researcher authentication: session signatures, scopes, safe redirects."""

from __future__ import annotations

import uuid

import pytest

from survey.core.tokens import _signature, new_session, parse_scopes, read_session
from survey.web import auth

SECRET = "test-secret"
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
NOW = 1_800_000_000.0


def test_a_signed_session_reads_back_as_its_token_id():
    value = new_session(SECRET, ID, NOW)

    assert read_session(SECRET, value, NOW + 60) == ID


def test_a_session_expires_after_eight_hours():
    value = new_session(SECRET, ID, NOW)

    assert read_session(SECRET, value, NOW + 8 * 3600 - 1) == ID
    assert read_session(SECRET, value, NOW + 8 * 3600) is None


def test_a_session_signed_with_another_secret_is_refused():
    value = new_session("another-secret", ID, NOW)

    assert read_session(SECRET, value, NOW) is None


def test_changing_the_token_id_or_the_expiry_breaks_the_signature():
    value = new_session(SECRET, ID, NOW)
    token_id, expires, signature = value.split(".")
    other = uuid.uuid4().hex

    assert read_session(SECRET, f"{other}.{expires}.{signature}", NOW) is None
    assert read_session(SECRET, f"{token_id}.{int(expires) + 3600}.{signature}", NOW) is None
    assert read_session(SECRET, f"{token_id}.{expires}.{signature[:-1]}A", NOW) is None


@pytest.mark.parametrize("value", ["", ".", "..", "x.y.z", "é.1.2", ID.hex, f"{ID.hex}.9"])
def test_garbage_is_no_session(value):
    assert read_session(SECRET, value, NOW) is None


def test_a_well_signed_value_that_is_not_a_session_is_refused():
    payload = f"not-a-uuid.{int(NOW) + 60}"
    value = f"{payload}.{_signature(SECRET, payload)}"

    assert read_session(SECRET, value, NOW) is None


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("reports", ["reports"]),
        ("submit,reports", ["reports", "submit"]),
        (" reports , ", ["reports"]),
    ],
)
def test_scopes_are_parsed_sorted_and_deduplicated(text, scopes):
    assert parse_scopes(text) == scopes


@pytest.mark.parametrize(("text", "message"), [("admin", "'admin'"), (",", "no scope")])
def test_an_unknown_or_missing_scope_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_scopes(text)


def test_a_guard_for_an_unknown_scope_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown scope"):
        auth.requires_scope("admin")


@pytest.mark.parametrize(
    "target", ["/reports/connector", "/reports/connector?industry=Finance&from=2026-01-01"]
)
def test_a_local_path_under_reports_is_a_safe_next(target):
    assert auth.safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "/",
        "/reports",
        "/q/connector",
        "https://evil.example/reports/x",
        "//evil.example/reports/",
        "/reports/../q/connector",
        "/reports/\\evil.example",
        "/reports/x\r\nSet-Cookie: a=b",
        "reports/connector",
    ],
)
def test_anything_else_is_not_a_safe_next(target):
    assert auth.safe_next(target) is None
