"""Tokens and signed values (pure): result links, researcher tokens, session cookies.

Only a token's SHA-256 is ever stored. A result token opens one respondent's result; with an
Idempotency-Key it is derived under the service secret, so that a retry gets the same private
link back. A researcher token is `cs_` and 256 random bits; a browser exchanges it for a session
cookie that holds the token's id and an expiry, signed with the service secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

SCOPES = ("reports", "submit")
TOKEN_PREFIX = "cs_"
SESSION_SECONDS = 8 * 60 * 60


def new_result_token(secret: str, slug: str, idempotency_key: str | None) -> str:
    """A random token; with an Idempotency-Key, one derived from it under the secret.

    Deriving it lets a retry get the same private link back although only its hash is stored.
    """
    if idempotency_key is None:
        return secrets.token_urlsafe(24)
    mac = hmac.new(secret.encode(), f"result\0{slug}\0{idempotency_key}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def new_researcher_token() -> str:
    """`cs_` and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> bytes:
    """The stored lookup key of a token. Every token carries at least 128 random bits, so a
    plain SHA-256 is safe (no salt, no slow hash needed)."""
    return hashlib.sha256(token.encode()).digest()


def parse_scopes(text: str) -> list[str]:
    """`reports,submit` → ['reports', 'submit']; ValueError naming what is unknown."""
    scopes = sorted({s.strip() for s in text.split(",") if s.strip()})
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise ValueError(
            f"unknown scope {', '.join(map(repr, unknown))}" if unknown else "no scope given"
        )
    return scopes


# --- researchers' session cookies ---------------------------------------------------------------


def _signature(secret: str, payload: str) -> str:
    # A purpose label keeps this MAC apart from the others made with the same secret.
    mac = hmac.new(secret.encode(), b"session\0" + payload.encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def sign_session(secret: str, token_id: uuid.UUID, expires: int) -> str:
    """The cookie value: `<token id>.<expiry, unix seconds>.<HMAC-SHA256>`."""
    payload = f"{token_id.hex}.{expires}"
    return f"{payload}.{_signature(secret, payload)}"


def read_session(secret: str, value: str, now: float) -> uuid.UUID | None:
    """The token id of a well-signed, unexpired session cookie; None for anything else."""
    payload, _, signature = value.rpartition(".")
    if not hmac.compare_digest(signature.encode(), _signature(secret, payload).encode()):
        return None
    token_id, _, expires = payload.partition(".")
    try:
        if int(expires) <= now:
            return None
        return uuid.UUID(hex=token_id)
    except ValueError:
        return None


def new_session(secret: str, token_id: uuid.UUID, now: float) -> str:
    return sign_session(secret, token_id, int(now) + SESSION_SECONDS)


# --- the form's signed issue time, and the browser's cookie ---------------------------------------


def _mac(secret: str, purpose: bytes, payload: str) -> bytes:
    return hmac.new(secret.encode(), purpose + b"\0" + payload.encode(), "sha256").digest()


CLOCK_SKEW = 5.0  # seconds a stamp may seem to come from the future


def form_stamp(secret: str, slug: str, issued: int) -> str:
    """`<unix seconds>.<MAC>`: when the server gave out a form of `slug`, which it can check
    when the form comes back without keeping anything."""
    mac = base64.urlsafe_b64encode(_mac(secret, b"form", f"{slug}\0{issued}")[:16])
    return f"{issued}.{mac.rstrip(b'=').decode()}"


def stamp_seconds(secret: str, slug: str, stamp: str, now: float) -> float | None:
    """Seconds since a form stamp was issued; None when it is not one this server signed for
    `slug`, or lies in the future."""
    issued_text, _, _ = stamp.partition(".")
    if not (issued_text.isascii() and issued_text.isdigit()) or len(issued_text) > 12:
        return None
    issued = int(issued_text)
    expected = form_stamp(secret, slug, issued)
    if not hmac.compare_digest(stamp.encode(), expected.encode()):
        return None
    seconds = now - issued
    # Servers' clocks may differ by a little: a stamp a few seconds ahead is one just given out.
    return max(seconds, 0.0) if seconds >= -CLOCK_SKEW else None


def new_browser_id() -> str:
    """The random value of the browser cookie (128 bits)."""
    return secrets.token_urlsafe(16)


def browser_hash(secret: str, slug: str, browser_id: str) -> bytes:
    """What is stored of the browser cookie with a response to `slug`: its MAC under the
    service secret and the questionnaire, so that a stolen database gives neither the cookie's
    value nor a way to link one browser's answers to different questionnaires."""
    return _mac(secret, b"browser", f"{slug}\0{browser_id}")
