"""Researcher authentication over HTTP: bearer tokens on the API, the scope guard,
and the /reports login that exchanges a token for a signed session cookie."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.testing import AsyncTestClient

from survey.core.tokens import new_session, token_hash
from survey.errors import SurveyError
from survey.flows.researchers import create_token
from survey.store import db, researchers
from survey.web import app as app_module
from survey.web import auth
from survey.web.errors import on_survey_error

pytestmark = pytest.mark.anyio


async def new_token(conn, name: str = "alice", scopes: tuple[str, ...] = ("reports",)) -> str:
    _, token = await create_token(conn, name, list(scopes))
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def set_cookie(response, name: str) -> str:
    """The Set-Cookie header for one cookie."""
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def attributes(header: str) -> dict[str, str]:
    parts = [p.strip() for p in header.split(";")[1:]]
    return {k.lower(): v for k, _, v in (p.partition("=") for p in parts)}


async def session_for(conn, settings, token: str) -> dict[str, str]:
    """A Cookie header with a session for `token`, as the login would have set it."""
    row = await researchers.select_token_by_hash(conn, token_hash(token))
    assert row is not None
    value = new_session(settings.secret, row.id, time.time())
    return {"Cookie": f"{auth.SESSION_COOKIE}={value}"}


def check_401(response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


# --- the bearer token, through GET /api/v1/me ------------------------------------------------


async def test_me_without_a_token_is_401_with_www_authenticate(client):
    check_401(await client.get("/api/v1/me"))


@pytest.mark.parametrize(
    "header", ["Bearer cs_not-a-token", "Bearer ", "Basic YWxpY2U6c2VjcmV0", "cs_abc"]
)
async def test_me_with_a_bad_or_malformed_token_is_401(client, conn, header):
    await new_token(conn)

    check_401(await client.get("/api/v1/me", headers={"Authorization": header}))


async def test_me_with_a_revoked_token_is_401(client, conn):
    token = await new_token(conn)
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200

    await researchers.update_token_revoked(conn, "alice")

    check_401(await client.get("/api/v1/me", headers=bearer(token)))


async def test_me_names_the_token_and_its_scopes_and_notes_the_use(client, conn):
    token = await new_token(conn, "book-laptop", ("reports", "submit"))

    response = await client.get("/api/v1/me", headers={"authorization": f"bearer {token}"})

    assert response.status_code == 200, response.text
    assert response.json() == {"name": "book-laptop", "scopes": ["reports", "submit"]}
    rows = await researchers.select_tokens(conn)
    assert rows[0].last_used_at is not None


async def test_me_is_in_the_openapi_document_with_bearer_security(client):
    schema = (await client.get("/schema/openapi.json")).json()

    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    me = schema["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert "401" in me["responses"]


# --- requires_scope("reports") on a handler of its own ------------------------------------------


@get("/api/v1/reports-only", guards=[auth.requires_scope("reports")])
async def reports_only(request: Request[Any, Any, Any]) -> dict[str, Any]:
    researcher: auth.Researcher = request.state.researcher
    return {"name": researcher.name, "scopes": researcher.scopes}


@post("/api/v1/reports-only", guards=[auth.requires_scope("reports")], status_code=200)
async def reports_only_post() -> dict[str, str]:
    return {"ok": "yes"}


@get("/reports/guarded/page", guards=[auth.requires_scope("reports")])
async def reports_page() -> str:
    return "the dashboard"


@pytest.fixture
async def guarded(settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An app of the guarded handlers above, with the service's pool, settings and error map."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        app.state.pool = await db.create_pool(settings.database_url, 2)
        try:
            yield
        finally:
            await app.state.pool.close()

    guarded_app = Litestar(
        route_handlers=[reports_only, reports_only_post, reports_page],
        lifespan=[lifespan],
        state=State({"settings": settings}),
        exception_handlers={SurveyError: on_survey_error},
    )
    async with AsyncTestClient(app=guarded_app) as client:
        yield client


async def test_the_guard_without_a_token_is_401(guarded):
    check_401(await guarded.get("/api/v1/reports-only"))


async def test_the_guard_with_an_unknown_token_is_401(guarded, conn):
    await new_token(conn)

    check_401(await guarded.get("/api/v1/reports-only", headers=bearer("cs_" + "x" * 43)))


async def test_the_guard_with_a_revoked_token_is_401(guarded, conn):
    token = await new_token(conn)
    await researchers.update_token_revoked(conn, "alice")

    check_401(await guarded.get("/api/v1/reports-only", headers=bearer(token)))


async def test_the_guard_with_a_token_without_the_scope_is_403(guarded, conn):
    token = await new_token(conn, "importer", ("submit",))

    response = await guarded.get("/api/v1/reports-only", headers=bearer(token))

    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "reports" in response.json()["detail"]


async def test_the_guard_with_a_good_token_lets_the_handler_see_the_researcher(guarded, conn):
    token = await new_token(conn, "alice", ("reports", "submit"))

    response = await guarded.get("/api/v1/reports-only", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json() == {"name": "alice", "scopes": ["reports", "submit"]}


async def test_a_page_behind_the_guard_redirects_to_the_login_and_back(guarded):
    response = await guarded.get("/reports/guarded/page?industry=Finance", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/reports?next=" + quote(
        "/reports/guarded/page?industry=Finance", safe=""
    )


async def test_a_page_behind_the_guard_takes_the_session_cookie(guarded, conn, settings):
    cookie = await session_for(conn, settings, await new_token(conn))

    response = await guarded.get("/reports/guarded/page", headers=cookie)

    assert response.status_code == 200
    assert response.text == "the dashboard"


async def test_the_session_cookie_reads_the_api_but_cannot_post_to_it(guarded, conn, settings):
    token = await new_token(conn)
    cookie = await session_for(conn, settings, token)

    assert (await guarded.get("/api/v1/reports-only", headers=cookie)).status_code == 200
    check_401(await guarded.post("/api/v1/reports-only", headers=cookie))
    assert (await guarded.post("/api/v1/reports-only", headers=bearer(token))).status_code == 200


# --- the login at /reports -------------------------------------------------------------------

CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


async def login_form(client, path: str = "/reports") -> str:
    """GET the form (which sets the CSRF cookie); return its CSRF token."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    match = CSRF.search(response.text)
    assert match, response.text
    return match[1]


async def log_in(client, token: str, next_: str | None = None):
    data = {"_csrf_token": await login_form(client), "token": token}
    if next_ is not None:
        data["next"] = next_
    return await client.post("/reports", data=data, follow_redirects=False)


async def test_the_login_form_has_one_password_field_and_the_page_headers(client):
    response = await client.get("/reports?next=/reports/connector")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    inputs = re.findall(r"<input [^>]*>", response.text)
    visible = [i for i in inputs if 'type="hidden"' not in i]
    assert len(visible) == 1
    assert 'type="password"' in visible[0]
    assert 'name="token"' in visible[0]
    assert '<input type="hidden" name="next" value="/reports/connector">' in response.text
    assert '<label for="token">' in response.text


async def test_an_unsafe_next_is_not_carried_in_the_form(client):
    response = await client.get("/reports?next=https://evil.example/reports/x")

    assert 'name="next"' not in response.text


async def test_a_good_token_gets_a_strict_httponly_session_cookie_and_goes_to_next(client, conn):
    token = await new_token(conn)

    response = await log_in(client, token, "/reports/connector?industry=Finance")

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/reports/connector?industry=Finance"
    header = set_cookie(response, auth.SESSION_COOKIE)
    attrs = attributes(header)
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "strict"
    assert attrs["path"] == "/"
    assert attrs["max-age"] == str(8 * 3600)
    assert "secure" not in attrs  # plain http in the test; see the https test
    assert token not in header


async def test_the_cookie_is_secure_when_the_request_is_https(app, conn):
    token = await new_token(conn)

    async with AsyncTestClient(app=app, base_url="https://testserver.local") as client:
        response = await log_in(client, token)

    assert response.status_code == 303, response.text
    assert "secure" in attributes(set_cookie(response, auth.SESSION_COOKIE))


async def test_without_next_the_login_goes_to_the_connector_dashboard(client, conn):
    response = await log_in(client, await new_token(conn), "https://evil.example/reports/x")

    assert response.headers["location"] == "/reports/connector"


async def test_without_a_connector_questionnaire_the_login_goes_to_the_list(
    settings, questionnaires, conn
):
    app = app_module.create_app(settings, {"teamwork": questionnaires["teamwork"]})
    token = await new_token(conn)

    async with AsyncTestClient(app=app) as client:
        response = await log_in(client, token)

    assert response.headers["location"] == "/reports"


async def test_logged_in_the_reports_page_lists_the_dashboards(client, conn, questionnaires):
    await log_in(client, await new_token(conn, "alice"))

    response = await client.get("/reports")

    assert response.status_code == 200
    assert "alice" in response.text
    for slug in questionnaires:
        assert f'<a href="/reports/{slug}">' in response.text
    assert 'action="/reports/logout"' in response.text
    assert 'type="password"' not in response.text


async def test_the_session_cookie_authenticates_reading_the_api(client, conn):
    await log_in(client, await new_token(conn, "alice"))

    response = await client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["name"] == "alice"


@pytest.mark.parametrize("token", ["cs_wrong", "", "   "])
async def test_a_wrong_token_shows_the_form_again_with_an_error_and_401(client, conn, token):
    await new_token(conn)

    response = await log_in(client, token, "/reports/connector")

    assert response.status_code == 401
    assert "That token is not valid" in response.text
    assert 'aria-invalid="true"' in response.text
    assert '<input type="hidden" name="next" value="/reports/connector">' in response.text
    assert auth.SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_a_revoked_token_cannot_log_in(client, conn):
    token = await new_token(conn)
    await researchers.update_token_revoked(conn, "alice")

    response = await log_in(client, token)

    assert response.status_code == 401
    assert "That token is not valid" in response.text


async def test_a_token_without_the_reports_scope_cannot_log_in(client, conn):
    token = await new_token(conn, "importer", ("submit",))

    response = await log_in(client, token)

    assert response.status_code == 403
    assert "cannot open the reports" in response.text
    assert auth.SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_the_login_needs_the_csrf_token(client, conn):
    token = await new_token(conn)
    await login_form(client)

    response = await client.post("/reports", data={"token": token}, follow_redirects=False)

    assert response.status_code == 403
    assert auth.SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_a_tampered_session_cookie_is_refused(client, conn):
    response = await log_in(client, await new_token(conn))
    value = set_cookie(response, auth.SESSION_COOKIE).split(";")[0].split("=", 1)[1]
    token_id, expires, signature = value.split(".")
    client.cookies.clear()

    for tampered in (
        f"{token_id}.{int(expires) + 86400}.{signature}",
        f"{token_id}.{expires}.{signature[::-1]}",
        f"{'0' * 32}.{expires}.{signature}",
    ):
        cookie = {"Cookie": f"{auth.SESSION_COOKIE}={tampered}"}
        check_401(await client.get("/api/v1/me", headers=cookie))
        page = await client.get("/reports", headers=cookie)
        assert 'type="password"' in page.text

    cookie = {"Cookie": f"{auth.SESSION_COOKIE}={value}"}
    assert (await client.get("/api/v1/me", headers=cookie)).status_code == 200


async def test_revoking_the_token_ends_its_sessions(client, conn):
    await log_in(client, await new_token(conn))
    assert (await client.get("/api/v1/me")).status_code == 200

    await researchers.update_token_revoked(conn, "alice")

    check_401(await client.get("/api/v1/me"))
    assert 'type="password"' in (await client.get("/reports")).text


async def test_logout_clears_the_session_cookie(client, conn):
    await log_in(client, await new_token(conn))
    csrf = CSRF.search((await client.get("/reports")).text)[1]

    response = await client.post(
        "/reports/logout", data={"_csrf_token": csrf}, follow_redirects=False
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/reports"
    attrs = attributes(set_cookie(response, auth.SESSION_COOKIE))
    assert attrs.get("max-age") == "0" or "1970" in attrs.get("expires", "")
    assert auth.SESSION_COOKIE not in client.cookies
    check_401(await client.get("/api/v1/me"))


async def test_logout_needs_the_csrf_token(client, conn):
    await log_in(client, await new_token(conn))

    response = await client.post("/reports/logout", follow_redirects=False)

    assert response.status_code == 403
    assert (await client.get("/api/v1/me")).status_code == 200


async def test_the_token_never_reaches_the_database(client, conn):
    token = await new_token(conn, "alice", ("reports", "submit"))
    await log_in(client, token)
    await client.get("/api/v1/me", headers=bearer(token))

    rows = await conn.fetch("SELECT * FROM researcher_token")

    assert len(rows) == 1
    for value in rows[0].values():
        assert token not in str(value)
        assert token.encode() not in (value if isinstance(value, bytes) else b"")
    assert rows[0]["token_hash"] == token_hash(token)
