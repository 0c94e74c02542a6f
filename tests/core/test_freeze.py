"""The preregistration lock's hashes: what changes them and what does not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec

from survey.core import freeze
from survey.core.loader import load

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = (ROOT / "questionnaires" / "connector.yaml").read_text()
AT = datetime(2026, 12, 5, 12, tzinfo=UTC)


def rules(text: str) -> str:
    return freeze.rules_hash(load(text).definition)


def test_wording_does_not_change_the_scoring_rules_but_scoring_does() -> None:
    base = rules(CONNECTOR)
    assert rules(CONNECTOR.replace("How do you network?", "How do you build a network?")) == base
    assert (
        rules(
            CONNECTOR.replace(
                "Your answers suggest that you network the way", "You network the way"
            )
        )
        == base
    )
    assert rules(CONNECTOR.replace("reverse: true", "reverse: false", 1)) != base
    assert rules(CONNECTOR.replace("min_answered: 0.75", "min_answered: 0.8")) != base
    assert rules(CONNECTOR.replace("personalization: 1", "personalization: 2")) != base


def test_what_scores_changes_the_rules_and_what_only_shows_does_not() -> None:
    base = rules(CONNECTOR)
    assert rules(CONNECTOR.replace("name: Connector Index", "name: Connection Index")) == base
    assert rules(CONNECTOR.replace("required: true", "required: false", 1)) == base
    assert rules(CONNECTOR.replace("values: [1, 2, 3, 4, 5]", "values: [0, 1, 2, 3, 4]", 1)) != base
    q = load(CONNECTOR).definition
    reordered = msgspec.structs.replace(q, profiles=[*q.profiles[1:], q.profiles[0]])
    assert freeze.rules_hash(reordered) != base  # the first profile that holds is the one


def test_an_item_moved_into_another_section_changes_the_rules() -> None:
    text = (ROOT / "tests" / "data" / "conditional.yaml").read_text()
    q = load(text).definition
    moved = msgspec.structs.replace(
        q,
        sections=[
            msgspec.structs.replace(
                q.sections[0], items=[*q.sections[0].items, q.sections[1].items[0]]
            ),
            msgspec.structs.replace(q.sections[1], items=q.sections[1].items[1:]),
            *q.sections[2:],
        ],
    )
    assert freeze.rules_hash(moved) != freeze.rules_hash(q)


def test_the_lock_covers_the_version_the_rules_the_plan_and_the_time() -> None:
    loaded = load(CONNECTOR)
    q = loaded.definition
    one = freeze.freeze("connector", loaded.version, q, None, None, AT)
    assert one == freeze.freeze("connector", loaded.version, q, None, None, AT)
    assert len(one.hash) == 64 and one.rules_hash == freeze.rules_hash(q)
    with_plan = freeze.freeze("connector", loaded.version, q, b"H1: ...", "plan.md", AT)
    assert with_plan.hash != one.hash and with_plan.plan_sha256 is not None
    changed = load(CONNECTOR.replace("min_answered: 0.75", "min_answered: 0.8"))
    other = freeze.freeze("connector", loaded.version, changed.definition, None, None, AT)
    assert other.hash != one.hash  # the same version and time: only the rules differ


def test_status_says_whether_the_instrument_scores_as_frozen() -> None:
    loaded = load(CONNECTOR)
    lock = freeze.freeze("connector", loaded.version, loaded.definition, None, None, AT)
    assert not freeze.status(lock, loaded.definition).instrument_changed
    reworded = load(CONNECTOR.replace("How do you network?", "How do you build a network?"))
    assert not freeze.status(lock, reworded.definition).instrument_changed
    rescored = load(CONNECTOR.replace("min_answered: 0.75", "min_answered: 0.8"))
    assert freeze.status(lock, rescored.definition).instrument_changed
    # A report of responses to a rescored version says so, though the served one is as frozen.
    stored = {loaded.version: loaded.definition, rescored.version: rescored.definition}
    mixed = freeze.status(lock, loaded.definition, stored, [loaded.version, rescored.version])
    assert mixed.instrument_changed and mixed.changed_versions == [rescored.version]
    only_frozen = freeze.status(lock, loaded.definition, stored, [loaded.version])
    assert not only_frozen.instrument_changed
    assert msgspec.json.decode(msgspec.json.encode(lock), type=freeze.Freeze) == lock
