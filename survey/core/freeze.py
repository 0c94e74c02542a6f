"""The preregistration lock (pure): a SHA-256 over what a study committed to before its data.

`survey freeze SLUG [--plan FILE]` records it: the questionnaire's version, the hash of its
scoring rules, and the SHA-256 of an analysis plan when one is given, with the time. Reports
and exports then name the frozen hash and say whether the instrument changed since: its
scoring rules differ from the frozen ones (a wording change alone makes a new version, not
new scoring).

The scoring rules are everything that turns answers into the numbers a report uses: the
scales' values and N/A, each item's type, section, scale, dimension, reverse keying, options,
bounds, display condition and attention check, whether it is a segment, the sections' display
conditions, the minimum answered, the index's id and weights (defaults written out), the
feedback bands' cut-offs and the profiles' conditions in order. Wording is not, nor what only
shows on the form (required, a text's length). The quality thresholds are not either: they
decide which responses a clean report counts, not their scores, and may change with data.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from survey.core.model import (
    ChoiceItem,
    Item,
    LikertItem,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
)

# The edition of the rules' listing below: a published hash is checked against this one.
RULES_FORMAT = 1


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value, order="deterministic")


def _item_rules(item: Item, section: str) -> dict[str, Any]:
    """What of an item scores, selects or shows responses: never its wording."""
    rules: dict[str, Any] = {
        "id": item.id,
        "type": type(item).__name__,
        "section": section,
        "show_if": _plain(item.show_if),
        "check": _plain(item.check),
    }
    if isinstance(item, LikertItem):
        rules |= {"scale": item.scale, "dimension": item.dimension, "reverse": item.reverse}
    if isinstance(item, ChoiceItem | MultiChoiceItem):
        rules["options"] = list(item.options)  # the stored values a condition or filter names
    if isinstance(item, NumberItem):
        rules |= {"min": item.min, "max": item.max, "integer": item.integer}
    if isinstance(item, ChoiceItem | NumberItem):
        rules["segment"] = item.segment
    return rules


def scoring_rules(q: Questionnaire) -> dict[str, Any]:
    """The rules that score a response, listed field by field (so that a field a release adds
    to the format changes no hash): no wording, no defaults written out or left implicit."""
    return {
        "format": RULES_FORMAT,
        "scales": {
            name: {"values": scale.points, "na": scale.na is not None}
            for name, scale in sorted(q.scales.items())
        },
        "sections": [{"id": s.id, "show_if": _plain(s.show_if)} for s in q.sections],
        "items": [_item_rules(item, s.id) for s in q.sections for item in s.items],
        "min_answered": q.scoring.min_answered,
        "index": {"id": q.scoring.index.id, "weights": dict(sorted(q.weights.items()))},
        "dimensions": [
            {
                "id": d.id,
                "bands": [[band.at_least, band.below] for band in d.feedback],
            }
            for d in q.dimensions
        ],
        # In order: the first profile whose conditions hold is the one a response gets.
        "profiles": [{"id": p.id, "when": _plain(p.when)} for p in q.profiles],
    }


def rules_hash(q: Questionnaire) -> str:
    """SHA-256 (hex) of the scoring rules' canonical JSON."""
    return hashlib.sha256(msgspec.json.encode(scoring_rules(q), order="sorted")).hexdigest()


class Freeze(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded lock."""

    slug: str
    hash: str  # SHA-256 over the fields below
    version: str
    rules_hash: str
    plan_sha256: str | None
    plan_name: str | None
    frozen_at: datetime


def freeze(
    slug: str,
    version: str,
    q: Questionnaire,
    plan: bytes | None,
    plan_name: str | None,
    at: datetime,
) -> Freeze:
    """The lock of a questionnaire's version, rules and optional plan at a moment."""
    rules = rules_hash(q)
    plan_sha = hashlib.sha256(plan).hexdigest() if plan is not None else None
    content = {
        "slug": slug,
        "version": version,
        "rules_sha256": rules,
        "plan_sha256": plan_sha,
        "frozen_at": at.isoformat(),
    }
    return Freeze(
        slug=slug,
        hash=hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest(),
        version=version,
        rules_hash=rules,
        plan_sha256=plan_sha,
        plan_name=plan_name,
        frozen_at=at,
    )


class FreezeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a report or export says about the lock it was made under."""

    hash: str
    frozen_at: datetime
    version: str  # the version frozen
    plan_sha256: str | None
    # The questionnaire served now, or a version the selection holds, scores differently
    # from the one frozen.
    instrument_changed: bool
    # Every stored version that scores differently from the one frozen (an export says so
    # row by row).
    changed_versions: list[str] = []
    locks: int = 1  # how many times the questionnaire was frozen (the latest is this one)


def status(
    lock: Freeze,
    q: Questionnaire,
    stored: dict[str, Questionnaire | None] | None = None,
    selected: list[str] | None = None,
    locks: int = 1,
) -> FreezeStatus:
    """The lock's status for the questionnaire served now; `stored`: every stored version's
    definition (None where it cannot be read: taken as changed), `selected`: the versions a
    report's responses hold."""
    changed = sorted(
        v for v, d in (stored or {}).items() if d is None or rules_hash(d) != lock.rules_hash
    )
    return FreezeStatus(
        hash=lock.hash,
        frozen_at=lock.frozen_at,
        version=lock.version,
        plan_sha256=lock.plan_sha256,
        instrument_changed=rules_hash(q) != lock.rules_hash
        or any(v in changed for v in selected or []),
        changed_versions=changed,
        locks=locks,
    )
