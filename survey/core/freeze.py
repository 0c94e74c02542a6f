"""The preregistration lock (pure): a SHA-256 over what a study committed to before its data.

`survey freeze SLUG [--plan FILE]` records it: the questionnaire's version, the hash of its
scoring rules, and the SHA-256 of an analysis plan when one is given, with the time. Reports
and exports then name the frozen hash and say whether the instrument changed since: its
scoring rules differ from the frozen ones (a wording change alone makes a new version, not
new scoring).

The scoring rules are everything that turns answers into the numbers a report uses: the
scales' values and N/A, each item's type, scale, dimension, reverse keying, options, bounds,
display condition and attention check, whether it is a segment, the scoring block (minimum
answered, index weights), the feedback bands' and the profiles' conditions. Texts are not.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec

from survey.core.model import Questionnaire

# Attributes of an item that are its wording, not its scoring.
_WORDING = ("text", "hint", "placeholder", "labels")


def scoring_rules(q: Questionnaire) -> dict[str, Any]:
    """The rules that score a response, as plain data in a fixed order (no texts)."""
    plain = msgspec.to_builtins(q, order="deterministic")
    items = [
        {k: v for k, v in item.items() if k not in _WORDING}
        for section in plain["sections"]
        for item in section["items"]
    ]
    return {
        "scales": {
            name: {"values": scale.points, "na": scale.na is not None}
            for name, scale in sorted(q.scales.items())
        },
        "items": items,
        "sections": [{"id": s["id"], "show_if": s.get("show_if")} for s in plain["sections"]],
        "scoring": plain["scoring"],
        "dimensions": [
            {
                "id": d["id"],
                "bands": [
                    {k: v for k, v in band.items() if k != "text"} for band in d.get("feedback", [])
                ],
            }
            for d in plain["dimensions"]
        ],
        "profiles": [{"id": p["id"], "when": p.get("when")} for p in plain["profiles"]],
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
    # The questionnaire served now scores differently from the one frozen.
    instrument_changed: bool


def status(lock: Freeze, q: Questionnaire) -> FreezeStatus:
    return FreezeStatus(
        hash=lock.hash,
        frozen_at=lock.frozen_at,
        version=lock.version,
        plan_sha256=lock.plan_sha256,
        instrument_changed=rules_hash(q) != lock.rules_hash,
    )
