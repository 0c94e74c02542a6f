"""Domain errors. The web layer maps each to one HTTP status in one place (survey.web.errors)."""

from __future__ import annotations

import json
import re
from itertools import compress

import msgspec


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with an input: where (a field or a path) and what."""

    field: str
    message: str


class SurveyError(Exception):
    """Base of every error the service raises on purpose."""


class QuestionnaireError(SurveyError):
    """A questionnaire file that does not load; `problems` holds every one found."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.file}: {p.field}: {p.message}" for p in self.problems]


class NotFound(SurveyError):
    """The thing asked for does not exist (or no longer does)."""


class InvalidSubmission(SurveyError):
    """A well-formed submission that breaks the questionnaire's rules."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) with the submission")


class InvalidQuery(InvalidSubmission):
    """Query parameters that name no filter, or a value the filter cannot take."""


class MalformedBody(SurveyError):
    """A body that is not the JSON it should be."""


class UnsupportedMediaType(SurveyError):
    """A body sent as something other than the media type the route takes."""


class IdempotencyConflict(SurveyError):
    """An Idempotency-Key reused with a different body."""


class DatabaseUnavailable(SurveyError):
    """PostgreSQL cannot be reached right now; the client should retry."""


class EmbeddedVersionMismatch(SurveyError):
    """The embedded database's folder was made by another major version of PostgreSQL."""


class FiguresUnavailable(SurveyError):
    """SVG and PDF figures need a Chromium on the server, and none could be started."""


class TokenExists(SurveyError):
    """A researcher token with this name exists (revoked tokens keep their names)."""


class Unauthorized(SurveyError):
    """No researcher credentials, or ones that are unknown, revoked or expired."""


class Forbidden(SurveyError):
    """Valid researcher credentials without the scope this needs."""


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def problem_from_validation(exc: msgspec.ValidationError) -> Problem:
    """msgspec says 'Expected `int`, got `str` - at `$.sections[0].title`'; split it."""
    match = _AT.match(str(exc))
    assert match is not None  # the pattern matches any string
    path = (match["path"] or "").lstrip(".") or "$"
    return Problem(path, match["message"])


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def duplicate_key(
    body: bytes | str, fields: frozenset[str], decoded: object = None
) -> Problem | None:
    """The first key a JSON object gives twice, in JSON that msgspec has already decoded.

    RFC 8259 leaves duplicate names to the parser: msgspec keeps the last, others the first, so a
    body with `"say_why": 1, "say_why": 5` could be scored as one answer and read back elsewhere
    as the other. Such a body is refused instead. A top-level name in `fields` is reported as
    itself; any other as an answer.

    Given `decoded` (msgspec's generic decoding of `body`), a body whose text holds no more keys
    than the decoded objects do has no duplicate, which takes a few string operations; only
    otherwise is it parsed again to find which key is given twice.
    """
    raw = body.encode() if isinstance(body, str) else body
    if decoded is not None and keys_in_text(raw) == keys_in(decoded):
        return None
    try:
        json.loads(body, object_pairs_hook=_unique_keys)
    except _Duplicate as exc:
        field = exc.key if exc.key in fields else f"answers.{exc.key}"
        return Problem(field, "is given more than once")
    except (ValueError, RecursionError):
        return None  # msgspec has decoded it: its own checks stand
    return None


def keys_in_text(body: bytes) -> int:
    """How many keys the objects in valid JSON text give, repeats included.

    Each key is followed by the only colons outside strings. Without its escaped quotes and
    backslashes (`\\\\` first, so that `\\\\"` keeps its closing quote), the text splits on
    quotes into strings (the odd parts) and what lies between them (the even parts).
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b"".join(body.split(b'"')[::2]).count(b":")


def keys_in(value: object) -> int:
    """How many keys the dicts in a decoded JSON value hold (each distinct within its dict)."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if item.__class__ is dict:
            count += len(item)
            item = item.values()
        elif item.__class__ is not list:
            continue
        # The dicts and lists among the values, picked without a Python-level loop.
        stack.extend(compress(item, map(_CONTAINERS.__contains__, map(type, item))))
    return count


_CONTAINERS = frozenset((dict, list))
