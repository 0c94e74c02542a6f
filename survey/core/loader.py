"""YAML → Questionnaire: decode strictly, cross-check, hash. `load_dir` is the only file read."""

from __future__ import annotations

import copy
import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import yaml

from survey.core import coverage
from survey.core.filters import NAMES
from survey.core.model import (
    NA,
    ChoiceItem,
    Item,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    Scale,
    ShowIf,
)
from survey.errors import Problem, QuestionnaireError, problem_from_validation

# The report's own query parameters (and `format`): a segment item with one of these ids could
# not be filtered on.
RESERVED_IDS = frozenset({*NAMES, "format"})


def version_of(questionnaire: Questionnaire) -> str:
    """First 12 hex digits of the SHA-256 of the canonical JSON of the parsed definition.

    The `quality` thresholds are left out (changing them re-evaluates responses, it does not
    make a new instrument), and so are the `channels` (where respondents come from) and an
    item's absent `check`, so that the versions of questionnaires written before attention
    items existed stay what they were.
    """
    # Mapping keys sorted: reordering `weights` or `scales` in the YAML is the same questionnaire.
    plain = msgspec.to_builtins(questionnaire, order="deterministic")
    del plain["quality"]
    del plain["channels"]  # where respondents come from is not the instrument
    for section in plain["sections"]:
        for item in section["items"]:
            if item.get("check") is None:
                item.pop("check", None)
    return hashlib.sha256(msgspec.json.encode(plain)).hexdigest()[:12]


# libyaml's safe loader where PyYAML was built with it: a tenth of the pure-Python one's time,
# which every `survey serve` worker spends before it answers.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(data: bytes | str, file: str = "<questionnaire>") -> Loaded:
    """Parse and check one questionnaire; raise QuestionnaireError listing every problem."""
    try:
        raw = yaml.load(data, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "$"
        # One line per problem: PyYAML's str() adds the file and a snippet on lines of their own.
        parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
        what = ", ".join(p for p in parts if p) or str(exc).partition("\n")[0]
        raise QuestionnaireError(file, [Problem(where, f"not valid YAML: {what}")]) from exc
    if not isinstance(raw, dict):
        raise QuestionnaireError(file, [Problem("$", "expected a mapping at the top level")])

    problems: list[Problem] = []
    cleaned = _strip_unknown(raw, msgspec.inspect.type_info(Questionnaire), "", problems)
    try:
        questionnaire = msgspec.convert(cleaned, Questionnaire)
    except msgspec.ValidationError as exc:
        problems.append(_name_keys(problem_from_validation(exc), cleaned))
        raise QuestionnaireError(file, problems) from exc
    problems.extend(check(questionnaire))
    if problems:
        raise QuestionnaireError(file, problems)
    return Loaded(questionnaire, version_of(questionnaire), file)


def load_dir(directory: Path) -> dict[str, Loaded]:
    """Every `*.yaml`/`*.yml` in `directory` by slug; every problem in every file is raised."""
    loaded: dict[str, Loaded] = {}
    problems: list[str] = []
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    for path in files:
        try:
            questionnaire = load(path.read_bytes(), str(path))
        except QuestionnaireError as exc:
            problems.extend(exc.lines())
            continue
        slug = questionnaire.definition.slug
        if slug in loaded:
            problems.append(f"{path}: slug: {slug!r} is already used by {loaded[slug].file}")
            continue
        loaded[slug] = questionnaire
    if problems:
        raise QuestionnaireError(str(directory), [Problem("", line) for line in problems])
    return loaded


def check(q: Questionnaire) -> list[Problem]:
    """Cross-field rules msgspec cannot express, each with the path of the offending node."""
    problems: list[Problem] = []

    def duplicates(ids: list[tuple[str, str]], what: str) -> None:
        counts = Counter(i for i, _ in ids)
        seen: set[str] = set()
        for value, path in ids:
            if counts[value] > 1 and value in seen:
                problems.append(Problem(path, f"duplicate {what} id {value!r}"))
            seen.add(value)

    dimension_ids = {d.id for d in q.dimensions}
    duplicates([(d.id, f"dimensions[{n}].id") for n, d in enumerate(q.dimensions)], "dimension")
    duplicates([(s.id, f"sections[{n}].id") for n, s in enumerate(q.sections)], "section")
    duplicates([(p.id, f"profiles[{n}].id") for n, p in enumerate(q.profiles)], "profile")
    duplicates([(c.id, f"channels[{n}].id") for n, c in enumerate(q.channels)], "channel")
    for n, channel in enumerate(q.channels):
        if channel.id == "other":
            problems.append(
                Problem(f"channels[{n}].id", "'other' is reserved for names not in the list")
            )
    item_ids = [
        (item.id, f"sections[{s}].items[{i}].id")
        for s, section in enumerate(q.sections)
        for i, item in enumerate(section.items)
    ]
    duplicates(item_ids, "item")

    used: set[str] = set()
    earlier: dict[str, Item] = {}
    for s, section in enumerate(q.sections):
        problems += _show_if_problems(section.show_if, f"sections[{s}].show_if", earlier, q.scales)
        mine = {item.id for item in section.items}
        for i, item in enumerate(section.items):
            path = f"sections[{s}].items[{i}]"
            problems += _show_if_problems(item.show_if, f"{path}.show_if", earlier, q.scales)
            if section.randomize and item.show_if and item.show_if.item in mine:
                problems.append(
                    Problem(
                        f"{path}.show_if.item",
                        "a randomised section may show its items in any order: the condition "
                        "must name an item of an earlier section",
                    )
                )
            earlier.setdefault(item.id, item)
            problems += _check_problems(item, path, q)
            if isinstance(item, LikertItem):
                if item.scale not in q.scales:
                    problems.append(Problem(f"{path}.scale", f"unknown scale {item.scale!r}"))
                if item.check is None and not item.dimension:
                    problems.append(
                        Problem(
                            f"{path}.dimension",
                            "a likert item needs a dimension (only an attention item, with "
                            "`check`, has none)",
                        )
                    )
                elif item.check is None and item.dimension not in dimension_ids:
                    problems.append(
                        Problem(f"{path}.dimension", f"unknown dimension {item.dimension!r}")
                    )
                used.add(item.dimension)
            if isinstance(item, ChoiceItem | MultiChoiceItem):
                for value, count in Counter(item.options).items():
                    if count > 1:
                        problems.append(Problem(f"{path}.options", f"duplicate option {value!r}"))
            segment = isinstance(item, ChoiceItem | NumberItem) and item.segment
            if segment and item.id in RESERVED_IDS:
                problems.append(Problem(f"{path}.id", f"{item.id!r} is reserved for filters"))
    for n, dimension in enumerate(q.dimensions):
        if dimension.id not in used:
            problems.append(Problem(f"dimensions[{n}]", f"dimension {dimension.id!r} has no items"))
        for b, band in enumerate(dimension.feedback):
            last = b == len(dimension.feedback) - 1
            if last and band.condition is not None:
                problems.append(
                    Problem(
                        f"dimensions[{n}].feedback[{b}]", "the last band must have no condition"
                    )
                )

    for name in q.scoring.index.weights or {}:
        if name not in dimension_ids:
            problems.append(Problem(f"scoring.index.weights.{name}", f"unknown dimension {name!r}"))
    if not q.weights and q.profiles and any(p.when and p.when.index for p in q.profiles):
        problems.append(
            Problem("scoring.index", "profiles test the index but it has no dimensions")
        )

    for n, profile in enumerate(q.profiles):
        if profile.when is not None and profile.when.index and profile.when.index.missing:
            problems.append(
                Problem(
                    f"profiles[{n}].when.index.missing",
                    "a response without an index gets no profile: this never holds",
                )
            )
        for name, condition in profile.when.dimensions.items() if profile.when else []:
            if condition.missing and name in q.weights:
                problems.append(
                    Problem(
                        f"profiles[{n}].when.dimensions.{name}.missing",
                        f"{name!r} is in the index: without its score there is no index and "
                        "no profile, so this never holds",
                    )
                )
            if name not in dimension_ids:
                problems.append(
                    Problem(f"profiles[{n}].when.dimensions.{name}", f"unknown dimension {name!r}")
                )
    # Which profile a result gets is only worth asking once the rest holds together.
    return problems or coverage.problems(q)


def _check_problems(item: Item, path: str, q: Questionnaire) -> list[Problem]:
    """What is wrong with an attention item's `check`."""
    check = item.check
    if check is None:
        return []
    where = f"{path}.check.expect"
    if isinstance(item, LikertItem):
        if item.dimension:
            return [Problem(f"{path}.dimension", "an attention item is never scored: no dimension")]
        scale = q.scales.get(item.scale)
        if scale is not None and check.expect not in scale.points:
            return [Problem(where, f"{check.expect!r} is not a value of scale {item.scale!r}")]
        return []
    if isinstance(item, ChoiceItem):
        if check.expect not in item.options:
            return [Problem(where, f"{check.expect!r} is not an option of {item.id!r}")]
        return []
    return [Problem(f"{path}.check", "only a likert or choice item can be an attention item")]


def _show_if_problems(
    condition: ShowIf | None, path: str, earlier: dict[str, Item], scales: dict[str, Scale]
) -> list[Problem]:
    """What is wrong with a display condition, given the items before it."""
    if condition is None:
        return []
    item = earlier.get(condition.item)
    if item is None:
        return [Problem(f"{path}.item", f"{condition.item!r} is not an earlier item")]
    problems = []
    keys = (condition.at_least, condition.below, condition.in_, condition.answered)
    if all(key is None for key in keys):
        problems.append(Problem(path, "give at least one of at_least, below, in, answered"))
    if condition.in_ is not None and isinstance(item, LikertItem):
        # On a likert item, `in: [na]` holds for the "not applicable" answer, if its scale has one.
        scale = scales.get(item.scale)
        for option in condition.in_:
            if option != NA:
                problems.append(
                    Problem(f"{path}.in", f"a likert item's `in` takes only {NA!r}, not {option!r}")
                )
            elif scale is not None and scale.na is None:
                problems.append(
                    Problem(
                        f"{path}.in",
                        f"{NA!r} answers: scale {item.scale!r} of {item.id!r} has no `na`",
                    )
                )
    elif condition.in_ is not None:
        if not isinstance(item, ChoiceItem | MultiChoiceItem):
            problems.append(Problem(f"{path}.in", f"{item.id!r} is not a choice item"))
        else:
            for option in condition.in_:
                if option not in item.options:
                    problems.append(
                        Problem(f"{path}.in", f"{option!r} is not an option of {item.id!r}")
                    )
    bounded = condition.at_least is not None or condition.below is not None
    if bounded and not isinstance(item, LikertItem | NumberItem):
        problems.append(
            Problem(path, f"at_least and below need a likert or number item, not {item.id!r}")
        )
    return problems


# --- unknown keys -----------------------------------------------------------------------------


def _strip_unknown(value: Any, info: Any, path: str, problems: list[Problem]) -> Any:
    """Report every unknown key (msgspec stops at the first) and drop it, so decoding goes on."""
    mi = msgspec.inspect
    if isinstance(info, mi.UnionType):
        structs = [t for t in info.types if isinstance(t, mi.StructType)]
        if isinstance(value, dict) and structs:
            tag_field = structs[0].tag_field
            match = next((t for t in structs if t.tag == value.get(tag_field)), None)
            if tag_field is None:
                match = structs[0]
            return _strip_unknown(value, match, path, problems) if match else value
        return value
    if isinstance(info, mi.StructType) and isinstance(value, dict):
        fields = {f.encode_name: f.type for f in info.fields}
        cleaned = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in fields:
                cleaned[key] = _strip_unknown(item, fields[key], where, problems)
            elif key == info.tag_field:
                cleaned[key] = item
            else:
                problems.append(Problem(where, f"unknown key {key!r}"))
        return cleaned
    if isinstance(info, mi.ListType) and isinstance(value, list):
        return [
            _strip_unknown(v, info.item_type, f"{path}[{n}]", problems) for n, v in enumerate(value)
        ]
    if isinstance(info, mi.DictType) and isinstance(value, dict):
        return {
            k: _strip_unknown(v, info.value_type, f"{path}.{k}", problems) for k, v in value.items()
        }
    if isinstance(info, mi.Metadata):
        return _strip_unknown(value, info.type, path, problems)
    return value


_STEP = re.compile(r"(?:^|\.)([^.\[]+)|\[(\d+)\]|\[\.\.\.\]")


def _name_keys(problem: Problem, cleaned: Any) -> Problem:
    """msgspec writes every mapping key as `[...]`; find each key by decoding with it alone."""
    if "[...]" not in problem.field:
        return problem
    steps: list[tuple[str, Any]] = [
        ("key", name) if name else ("index", int(index)) if index else ("any", None)
        for name, index in _STEP.findall(problem.field)
    ]

    def node(data: Any, depth: int) -> Any:
        for _, step in steps[:depth]:
            data = data[step]
        return data

    for n, (kind, _) in enumerate(steps):
        if kind != "any":
            continue
        try:
            keys = list(node(cleaned, n))
        except (KeyError, IndexError, TypeError):
            return problem
        for key in keys:
            trial = copy.deepcopy(cleaned)
            mapping = node(trial, n)
            for other in [k for k in mapping if k != key]:
                del mapping[other]
            try:
                msgspec.convert(trial, Questionnaire)
            except msgspec.ValidationError as exc:
                if problem_from_validation(exc) == problem:
                    steps[n] = ("key", key)
                    break
        else:
            return problem
    path = "".join(f"[{step}]" if kind == "index" else f".{step}" for kind, step in steps)
    return Problem(path.lstrip("."), problem.message)
