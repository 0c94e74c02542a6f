"""Taking in one submission, shared by the API, the web form and the bulk import."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime

import msgspec
from uuid_utils.compat import uuid7

from survey import db, scoring, store
from survey.errors import InvalidSubmission
from survey.model import Loaded, Submission


class ProfileRef(msgspec.Struct, frozen=True):
    id: str
    label: str


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """A scored response as the API shows it: scores rounded to one decimal."""

    id: uuid.UUID
    version: str
    created_at: datetime
    complete: bool
    profile: ProfileRef | None
    index: float | None
    dimensions: dict[str, float | None]


class Receipt(Result, frozen=True, kw_only=True):
    """What a submission answers: the result and the private link to it."""

    result_url: str
    result_token: str


def token_hash(token: str) -> bytes:
    """Result tokens carry ≥128 random bits, so a plain SHA-256 is a safe lookup key."""
    return hashlib.sha256(token.encode()).digest()


def new_token(secret: str, slug: str, idempotency_key: str | None) -> str:
    """A random token; with an Idempotency-Key, one derived from it under the secret.

    Deriving it lets a retry get the same private link back although only its hash is stored.
    """
    if idempotency_key is None:
        return secrets.token_urlsafe(24)
    mac = hmac.new(secret.encode(), f"result\0{slug}\0{idempotency_key}".encode(), "sha256")
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def result_of(loaded: Loaded, row: store.StoredResponse) -> Result:
    profile = next((p for p in loaded.definition.profiles if p.id == row.profile), None)
    return Result(
        id=row.id,
        version=row.version,
        created_at=row.created_at,
        complete=row.complete,
        profile=ProfileRef(profile.id, profile.label) if profile else None,
        index=_round(row.index_score),
        dimensions={k: _round(v) for k, v in row.dimensions.items()},
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def submit(
    conn: db.Connection,
    loaded: Loaded,
    submission: Submission,
    *,
    source: str,
    secret: str,
    idempotency_key: str | None = None,
    body: bytes | None = None,
) -> Receipt:
    """Validate, score and store a submission; raises InvalidSubmission listing every problem."""
    q = loaded.definition
    problems = scoring.validate(q, submission)
    if problems:
        raise InvalidSubmission(problems)
    answers = scoring.normalise(q, submission.answers)
    result = scoring.score(q, answers)
    token = new_token(secret, q.slug, idempotency_key)
    new = store.NewResponse(
        id=uuid7(),
        slug=q.slug,
        version=loaded.version,
        source=source,
        answers=answers,
        dimensions=result.dimensions,
        index_score=result.index,
        profile=result.profile.id if result.profile else None,
        quote_consent=submission.quote_consent and (submission.consent or q.consent is None),
        result_token_hash=token_hash(token),
        idempotency_key=idempotency_key,
        request_hash=hashlib.sha256(body).digest() if idempotency_key and body else None,
    )
    row, _ = await store.insert_response(conn, new)
    shown = result_of(loaded, row)
    return Receipt(**msgspec.structs.asdict(shown), result_url=f"/r/{token}", result_token=token)
