"""The codebook: every column of the CSV export with its question, values and labels, keying,
dimension and display condition; the scoring rules; and, given a report, each variable's
statistics (pure). The dashboard renders it as HTML, and it is written here as CSV."""

from __future__ import annotations

import math
from collections.abc import Iterator

import msgspec

from survey.core import display
from survey.core.csvcells import QUALITY_COLUMNS, csv_header, neutralise
from survey.core.model import (
    NA,
    ChoiceItem,
    Condition,
    Item,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    Section,
    TextItem,
    When,
)
from survey.core.stats import Distribution, ItemStats, Reliability, Report


class Value(msgspec.Struct, frozen=True, kw_only=True):
    """A value a variable takes and its label; `count`, the responses with it, given data."""

    value: str
    label: str
    count: int | None = None
    # Said in place of a count under SURVEY_MIN_CELL (an option few chose), e.g. "under 5".
    note: str = ""


class Variable(msgspec.Struct, frozen=True, kw_only=True):
    """One column of the CSV export."""

    variable: str  # the column's name: `answer.<item>`, `score.<dimension>`, `index`, …
    kind: str  # item, derived, response or quality
    text: str  # the question, or what the column holds
    type: str  # likert, choice, multi_choice, number, text; or the column's type
    item: str = ""
    section: str = ""
    values: list[Value] = []
    reverse: bool = False
    dimension: str = ""
    dimension_name: str = ""
    condition: str = ""  # when the item is shown, in words; empty when always
    required: bool = False
    segment: bool = False
    attention: str = ""  # an attention check's instructed answer; empty for other items
    # With a report: the responses with a value, their mean and SD; item–rest r of a scored
    # likert item; a dimension score's reliability.
    n: int | None = None
    mean: float | None = None
    sd: float | None = None
    item_rest: float | None = None
    alpha: float | None = None
    alpha_low: float | None = None
    alpha_high: float | None = None
    omega: float | None = None
    sem: float | None = None


class Band(msgspec.Struct, frozen=True, kw_only=True):
    condition: str
    text: str


class DimensionRule(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    items: list[str]  # ids, reverse-keyed ones marked `(R)`
    min_answered: float
    bands: list[Band]
    weight: float | None  # in the index; None when not part of it


class ProfileRule(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    conditions: str


class Codebook(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    version: str
    variables: list[Variable]  # in the CSV export's column order
    dimensions: list[DimensionRule]
    index_id: str
    index_name: str
    profiles: list[ProfileRule]
    responses: int | None  # the report's responses; None without statistics
    reliability: list[Reliability]

    def of_kind(self, kind: str) -> list[Variable]:
        return [v for v in self.variables if v.kind == kind]


# What the export's other columns hold.
RESPONSE_COLUMNS = {
    "id": ("text", "The response's id (a UUID)."),
    "created_at": ("timestamp", "When the response was submitted, in UTC (ISO 8601)."),
    "version": ("text", "The version hash of the questionnaire the response answered."),
    "source": ("text", "How it arrived: web (the form), api, import or demo (synthetic)."),
    "complete": ("boolean", "true when the response has an index score (and so a profile)."),
    "quote_consent": ("boolean", "true when the respondent agreed to be quoted anonymously."),
    "item_order": ("text", "The item ids in the order shown, space-separated (randomised "
                   "sections)."),
    "channel": ("text", "The recruiting channel the survey link named (`?src=`): one of the "
                "questionnaire's channels or `other`; empty when the link named none."),
}  # fmt: skip
QUALITY_TEXT = {
    "quality_flags": "The response's quality flags, space-separated (empty when none).",
    "quality.seconds": "Seconds spent on the form.",
    "quality.longstring": "The longest run of one answer, as a share of the likert answers.",
    "quality.irv": "The SD of the respondent's likert answers (intra-individual variability).",
    "quality.reversed_gap": "The mean gap between keyed scores of plain and reverse-keyed items.",
    "quality.attention_failed": "Attention checks answered other than instructed.",
    "quality.mahalanobis": "The Mahalanobis distance of the dimension scores from the norm.",
}


def number(value: float) -> str:
    return f"{value:g}"


def score_range(condition: Condition | None) -> str:
    """A range of scores in words: `40 to under 70`, `70 or more`, `no score`."""
    if condition is None or (condition.at_least is None and condition.below is None):
        return "no score" if condition is not None and condition.missing else "any score"
    if condition.at_least is not None and condition.below is not None:
        return f"{number(condition.at_least)} to under {number(condition.below)}"
    if condition.at_least is not None:
        return f"{number(condition.at_least)} or more"
    return f"under {number(condition.below or 0)}"


def _values(q: Questionnaire, item: Item, stats: ItemStats | None) -> list[Value]:
    counts = {c.value: c.count for c in stats.counts} if stats else {}
    count = (lambda v: counts.get(v, 0)) if stats else (lambda v: None)
    match item:
        case LikertItem(scale=scale_id):
            scale = q.scales[scale_id]
            out = [
                Value(value=str(p), label=label, count=count(str(p)))
                for p, label in zip(scale.points, scale.labels, strict=True)
            ]
            if scale.na is not None:
                out.append(Value(value=NA, label=scale.na, count=stats.na if stats else None))
            return out
        case ChoiceItem(options=options) | MultiChoiceItem(options=options):
            return [Value(value=o, label=o, count=count(o)) for o in options]
        case NumberItem():
            bounds = [
                *([f"at least {number(item.min)}"] if item.min is not None else []),
                *([f"at most {number(item.max)}"] if item.max is not None else []),
            ]
            kind = "a whole number" if item.integer else "a number"
            return [Value(value="", label=" ".join([kind, *bounds]))]
        case TextItem():
            return [Value(value="", label=f"free text, up to {item.max_length} characters")]
    return []


def _condition(q: Questionnaire, section: Section, item: Item) -> str:
    parts = []
    if section.show_if is not None:
        parts.append(f"Section “{section.title}”: " + display.describe(section.show_if, q))
    if item.show_if is not None:
        parts.append(display.describe(item.show_if, q))
    return " ".join(parts)


def _attention(q: Questionnaire, item: Item) -> str:
    if item.check is None:
        return ""
    expect = item.check.expect
    if isinstance(item, LikertItem) and isinstance(expect, int):
        scale = q.scales[item.scale]
        labels = dict(zip(scale.points, scale.labels, strict=True))
        return f"{expect} ({labels.get(expect, '?')})"
    return str(expect)


def _item_variable(
    q: Questionnaire,
    section: Section,
    item: Item,
    stats: ItemStats | None,
    item_rest: float | None,
    min_cell: int = 0,
) -> Variable:
    dimension = item.dimension if isinstance(item, LikertItem) else ""
    values = _values(q, item, stats)
    n = stats.n if stats else None
    if isinstance(item, ChoiceItem | MultiChoiceItem):
        # As the report's segments: an option few chose shows no count, and then neither does
        # the total, from which the count would follow.
        few = [v for v in values if v.count and v.count < min_cell]
        if few:
            values = [
                msgspec.structs.replace(v, count=None, note=f"under {min_cell}") if v in few else v
                for v in values
            ]
            n = None
    names = {d.id: d.name for d in q.dimensions}
    return Variable(
        variable=f"answer.{item.id}",
        kind="item",
        text=item.text,
        type=str(type(item).__struct_config__.tag),
        item=item.id,
        section=section.id,
        values=values,
        reverse=isinstance(item, LikertItem) and item.reverse,
        dimension=dimension,
        dimension_name=names.get(dimension, ""),
        condition=_condition(q, section, item),
        required=item.required,
        segment=isinstance(item, ChoiceItem | NumberItem) and item.segment,
        attention=_attention(q, item),
        n=n,
        mean=stats.mean if stats else None,
        sd=stats.sd if stats else None,
        item_rest=item_rest,
    )


def _weights(q: Questionnaire) -> str:
    names = {d.id: d.name for d in q.dimensions}
    return ", ".join(f"{names.get(d, d)} × {number(w)}" for d, w in q.weights.items())


def _profile_conditions(q: Questionnaire, when: When | None) -> str:
    if when is None:
        return "always"
    names = {d.id: d.name for d in q.dimensions}
    parts = [f"{q.scoring.index.name} {score_range(when.index)}"] if when.index else []
    parts += [f"{names.get(d, d)} {score_range(c)}" for d, c in when.dimensions.items()]
    return " and ".join(parts) or "always"


def _dimension_rules(q: Questionnaire) -> list[DimensionRule]:
    weights = q.weights
    rules = []
    for d in q.dimensions:
        items = [f"{i.id} (R)" if i.reverse else i.id for i in q.likert_items(d.id)]
        # The first band that holds is given: a last band without bounds takes the rest.
        bands = [
            Band(condition=score_range(b.condition).replace("any score", "otherwise"), text=b.text)
            for b in d.feedback
        ]
        rules.append(
            DimensionRule(
                id=d.id,
                name=d.name,
                description=d.description,
                items=items,
                min_answered=q.scoring.min_answered,
                bands=bands,
                weight=weights.get(d.id),
            )
        )
    return rules


def _score_variable(
    q: Questionnaire, rule: DimensionRule, dist: Distribution | None, rel: Reliability | None
) -> Variable:
    k = len(rule.items)
    needed = math.ceil(round(rule.min_answered * k, 9))
    text = (
        f"{rule.name}: the mean of its {k} likert items, reverse-keyed ones reversed, on a "
        f"0–100 scale; empty when fewer than {rule.min_answered:.0%} of its items shown and "
        f"not N/A are answered ({needed} of {k} when all are shown)."
    )
    return Variable(
        variable=f"score.{rule.id}",
        kind="derived",
        text=text,
        type="number",
        values=[Value(value="", label="0 to 100, full precision")],
        dimension=rule.id,
        dimension_name=rule.name,
        n=dist.n if dist else None,
        mean=dist.mean if dist else None,
        sd=dist.sd if dist else None,
        alpha=rel.alpha if rel else None,
        alpha_low=rel.alpha_low if rel else None,
        alpha_high=rel.alpha_high if rel else None,
        omega=rel.omega if rel else None,
        sem=rel.sem if rel else None,
    )


def codebook(loaded: Loaded, report: Report | None = None) -> Codebook:
    """The codebook of a questionnaire version; with `report`, each variable's statistics
    (a report of no responses gives none)."""
    q = loaded.definition
    # No statistics of a selection smaller than the smallest cell a report shows.
    min_cell = report.min_cell if report is not None else 0
    if report is not None and report.counts.total < max(min_cell, 1):
        report = None
    item_stats = {s.id: s for s in report.items} if report else {}
    reliability = {r.dimension: r for r in report.reliability} if report else {}
    item_rest = {i.id: i.item_rest for r in reliability.values() for i in r.items}
    dists = {d.id: d for d in report.dimensions} if report else {}
    rules = _dimension_rules(q)
    profiles = [
        ProfileRule(id=p.id, label=p.label, conditions=_profile_conditions(q, p.when))
        for p in q.profiles
    ]

    found: dict[str, Variable] = {}
    for section in q.sections:
        for item in section.items:
            found[f"answer.{item.id}"] = _item_variable(
                q, section, item, item_stats.get(item.id), item_rest.get(item.id), min_cell
            )
    for rule in rules:
        found[f"score.{rule.id}"] = _score_variable(
            q, rule, dists.get(rule.id), reliability.get(rule.id)
        )
    index = report.index if report else None
    found["index"] = Variable(
        variable="index",
        kind="derived",
        text=f"{q.scoring.index.name} ({q.scoring.index.id}): the weighted mean of the "
        f"dimension scores, {_weights(q) or 'none'}; empty when any of them is.",
        type="number",
        values=[Value(value="", label="0 to 100, full precision")],
        n=index.n if index else None,
        mean=index.mean if index else None,
        sd=index.sd if index else None,
    )
    counts = {p.id: p.count for p in report.profiles} if report else {}
    found["profile"] = Variable(
        variable="profile",
        kind="derived",
        text="The profile's id: the first profile whose conditions hold (see the scoring "
        "rules); empty without an index.",
        type="text",
        values=[
            Value(value=p.id, label=p.label, count=counts.get(p.id, 0) if report else None)
            for p in q.profiles
        ],
        n=report.counts.scored if report else None,
    )
    for name, (kind, text) in RESPONSE_COLUMNS.items():
        found[name] = Variable(variable=name, kind="response", text=text, type=kind)
    for name in QUALITY_COLUMNS:
        kind = "text" if name == "quality_flags" else "number"
        found[name] = Variable(variable=name, kind="quality", text=QUALITY_TEXT[name], type=kind)

    return Codebook(
        slug=q.slug,
        title=q.title,
        version=loaded.version,
        variables=[found[name] for name in csv_header(q)],
        dimensions=rules,
        index_id=q.scoring.index.id,
        index_name=q.scoring.index.name,
        profiles=profiles,
        responses=report.counts.total if report else None,
        reliability=list(reliability.values()),
    )


# --- CSV ---------------------------------------------------------------------------------------

CSV_COLUMNS = ("variable", "kind", "item", "section", "text", "type", "values", "reverse",
               "dimension", "dimension_name", "condition", "required", "segment",
               "attention_check", "n", "mean", "sd", "item_rest", "alpha", "alpha_low",
               "alpha_high", "omega", "sem")  # fmt: skip


def value_text(values: list[Value]) -> str:
    """`1=Never; 2=Rarely; na=Did not come up`; an option or a range alone."""
    return "; ".join(
        v.label if v.value in ("", v.label) else f"{v.value}={v.label}" for v in values
    )


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def csv_rows(book: Codebook) -> Iterator[list[str]]:
    """CSV_COLUMNS' rows, one per variable, every cell neutralised."""
    for v in book.variables:
        cells = [
            v.variable, v.kind, v.item, v.section, v.text, v.type, value_text(v.values),
            _yes(v.reverse), v.dimension, v.dimension_name, v.condition, _yes(v.required),
            _yes(v.segment), v.attention, "" if v.n is None else str(v.n), _num(v.mean),
            _num(v.sd), _num(v.item_rest), _num(v.alpha), _num(v.alpha_low),
            _num(v.alpha_high), _num(v.omega), _num(v.sem),
        ]  # fmt: skip
        yield [neutralise(c) for c in cells]
