"""A submission as clients send it: the wire model, read from JSON with every problem named."""

from __future__ import annotations

from typing import Any

import msgspec

from survey.core.model import Questionnaire, Strict
from survey.errors import InvalidSubmission, MalformedBody, duplicate_key, problem_from_validation


class Submission(Strict, frozen=True, kw_only=True):
    # Values are checked item by item in scoring.validate, so that a wrong type is reported
    # against its item; `Answer` is what a valid one looks like.
    answers: dict[str, Any] = {}  # noqa: RUF012 - msgspec copies an empty default
    consent: bool = False
    quote_consent: bool = False


FIELDS = frozenset(Submission.__struct_fields__)

_typed = msgspec.json.Decoder(Submission)
_plain = msgspec.json.Decoder()


def decode(body: bytes) -> Submission:
    """The submission in a JSON body, as the submit API and each line of an import take it.

    Raises MalformedBody for what is not JSON (or nests too deeply), and InvalidSubmission for
    JSON of the wrong shape or with a key given twice (errors.duplicate_key).
    """
    try:
        decoded = _plain.decode(body)
        submission = msgspec.convert(decoded, Submission)
    except msgspec.ValidationError as exc:
        raise InvalidSubmission([problem_from_validation(_named(body, exc))]) from exc
    except msgspec.DecodeError as exc:
        reason = str(exc).removeprefix("JSON is malformed: ")
        raise MalformedBody(f"malformed JSON: {reason}") from exc
    except RecursionError as exc:
        raise MalformedBody("malformed JSON: nested too deeply") from exc
    duplicate = duplicate_key(body, FIELDS, decoded)
    if duplicate is not None:
        raise InvalidSubmission([duplicate])
    return submission


def _named(body: bytes, exc: msgspec.ValidationError) -> msgspec.ValidationError:
    """The typed decoder's error for the body: it names the field where convert's may not."""
    try:
        _typed.decode(body)
    except msgspec.ValidationError as typed:
        return typed
    return exc


def may_quote(q: Questionnaire, submission: Submission) -> bool:
    """Quoting needs the consent to be quoted and, where the questionnaire asks for one, the
    consent to take part."""
    return submission.quote_consent and (submission.consent or q.consent is None)
