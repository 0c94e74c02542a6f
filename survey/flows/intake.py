"""One response at a time, for the API and the web form: submit (validate, normalise, score,
store, present), and a respondent's own result by its private token: read, rank, delete."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Mapping
from datetime import datetime

import msgspec
from uuid_utils.compat import uuid7

from survey.core import precision, scoring, tokens
from survey.core import quality as core_quality
from survey.core.model import Loaded, Score
from survey.core.submission import Submission, may_quote
from survey.core.sums import shape_of
from survey.errors import InvalidSubmission
from survey.flows import quality
from survey.store import db, responses, rollup


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
    # Items answered that the answers given do not show: their answers were not stored.
    ignored: list[str] = []


def result_of(loaded: Loaded, row: responses.StoredResponse) -> Result:
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
    item_order: list[str] | None = None,
    signals: core_quality.Signals | None = None,
    browser_hash: bytes | None = None,
    retake_of: uuid.UUID | None = None,
    channel: str | None = None,
) -> Receipt:
    """Validate, score, flag and store a submission; raises InvalidSubmission listing every
    problem. `signals` and `browser_hash` come from the web form (the API has neither);
    `retake_of`, the earlier response a retake was started from; `channel`, the one its link
    named (core.channels, checked)."""
    q = loaded.definition
    problems = scoring.validate(q, submission)
    if problems:
        raise InvalidSubmission(problems)
    if retake_of is not None:
        # Deleted since the form named it: then this is an ordinary response.
        retake_of = await responses.lock_response(conn, retake_of)
    answers = scoring.normalise(q, submission.answers)
    result = scoring.score(q, answers)
    checked = await quality.evaluate(
        conn,
        loaded,
        answers,
        result.dimensions,
        signals=signals,
        browser_hash=browser_hash,
        order=item_order,
    )
    token = tokens.new_result_token(secret, q.slug, idempotency_key)
    new = responses.NewResponse(
        id=uuid7(),
        slug=q.slug,
        version=loaded.version,
        source=source,
        answers=answers,
        dimensions=result.dimensions,
        index_score=result.index,
        profile=result.profile.id if result.profile else None,
        quote_consent=may_quote(q, submission),
        result_token_hash=tokens.token_hash(token),
        idempotency_key=idempotency_key,
        request_hash=hashlib.sha256(body).digest() if idempotency_key and body else None,
        item_order=item_order,
        flags=core_quality.as_retake(checked.flags) if retake_of else checked.flags,
        quality=checked.measures,
        answers_hash=checked.answers_hash,
        browser_hash=browser_hash,
        retake_of=retake_of,
        channel=channel,
    )
    row, _ = await responses.insert_response(conn, new)
    shown = result_of(loaded, row)
    return Receipt(
        **msgspec.structs.asdict(shown),
        result_url=f"/r/{token}",
        result_token=token,
        ignored=scoring.ignored(q, submission.answers),
    )


async def find_result(
    conn: db.Connection, questionnaires: Mapping[str, Loaded], token: str
) -> tuple[Loaded, responses.StoredResponse] | None:
    """The stored response a result token opens, and its questionnaire (if still served)."""
    row = await responses.select_response_by_token(conn, tokens.token_hash(token))
    if row is None or row.slug not in questionnaires:
        return None
    return questionnaires[row.slug], row


async def delete_result(conn: db.Connection, token: str) -> bool:
    """Erase the response a result token opens; False when there is none."""
    return await responses.delete_response_by_token(conn, tokens.token_hash(token))


# The percentile means little against a handful of others.
MIN_FOR_PERCENTILE = 30


class Standing(msgspec.Struct, frozen=True):
    percentile: float
    n: int

    @property
    def percent(self) -> int:
        """The percentile as a whole number, halves rounded up."""
        return int(self.percentile + 0.5)


async def standing(conn: db.Connection, slug: str, index: float | None) -> Standing | None:
    """Where an index stands among every scored response, once there are enough."""
    if index is None:
        return None
    below, ties, total = await responses.select_index_rank(conn, slug, index)
    share = scoring.percentile(below, ties, total)
    if total < MIN_FOR_PERCENTILE or share is None:
        return None
    return Standing(share, total)


# The SEMs move slowly; reading them costs a query, so each process keeps them a while.
PRECISION_SECONDS = 600.0
_precision: dict[tuple[str, str], tuple[float, precision.Precision]] = {}


async def precision_for(conn: db.Connection, loaded: Loaded) -> precision.Precision:
    """The SEMs of the index and the dimensions, from the clean responses to this version
    (demo rows left out); a dimension with fewer than precision.MIN_N complete has none."""
    key = (loaded.definition.slug, loaded.version)
    now = time.monotonic()
    cached = _precision.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    # Responses reach the rollup when a report folds them; without a researcher looking, fold
    # a batch here (at most once per process and PRECISION_SECONDS; never waits on a fold).
    await rollup.update_report_rollup(conn, key[0], shape_of(loaded.definition))
    sums = await rollup.select_clean_sums(conn, key[0], key[1], ["r"])
    found = precision.precision_from(loaded.definition, sums)
    _precision[key] = (now + PRECISION_SECONDS, found)
    return found


class Certainty(msgspec.Struct, frozen=True, kw_only=True):
    """How sure a result is, as its page says it."""

    sems: precision.Precision
    chances: list[precision.Chance] | None
    borderline: bool
    # The most likely profile other than the respondent's, when the result is borderline.
    neighbour: str | None = None
    changes: list[precision.Change] | None  # since the earlier take, for a retake
    # A retake of a response to another version of the questionnaire: not compared.
    changed_version: bool = False


async def certainty_of(
    conn: db.Connection, loaded: Loaded, row: responses.StoredResponse
) -> Certainty:
    """The result's bands, profile certainty and, for a retake, its change since the earlier
    take whose response is still there."""
    q = loaded.definition
    known = await precision_for(conn, loaded)
    profile = next((p for p in q.profiles if p.id == row.profile), None)
    chances = precision.certainty(q, Score(row.dimensions, row.index_score, profile), known)
    changes = None
    changed_version = False
    if row.retake_of is not None:
        earlier = await responses.select_scores(conn, row.retake_of)
        if earlier is not None and earlier[0] == row.version:
            changes = precision.changes(q, earlier[1:], (row.index_score, row.dimensions), known)
        changed_version = earlier is not None and earlier[0] != row.version
    neighbour = None
    if chances and precision.borderline(chances):
        neighbour = next((c.profile for c in chances if c.profile != row.profile), None)
    return Certainty(
        sems=known,
        chances=chances,
        borderline=neighbour is not None,
        neighbour=neighbour,
        changes=changes,
        changed_version=changed_version,
    )
