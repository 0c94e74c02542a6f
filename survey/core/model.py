"""The questionnaire format and the wire models, as strict msgspec Structs."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar, cast

import msgspec
from msgspec import Meta, Struct

Id = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]*$(?!\n)", max_length=64)]
Slug = Annotated[str, Meta(pattern=r"^[a-z0-9-]+$(?!\n)", max_length=64)]
Text = Annotated[str, Meta(min_length=1)]


class Strict(Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of everything read from outside: unknown keys are errors, values immutable."""


# A likert answer that says the item does not apply: stored, never scored.
NA = "na"


class Scale(Strict, frozen=True, kw_only=True):
    labels: Annotated[list[Text], Meta(min_length=2)]
    values: list[int] | None = None
    na: Text | None = None  # the label of a "not applicable" choice, when the scale has one

    def __post_init__(self) -> None:
        if self.values is None:
            return
        if len(self.values) != len(self.labels):
            raise ValueError("values must have one entry per label")
        if any(b <= a for a, b in zip(self.values, self.values[1:], strict=False)):
            raise ValueError("values must be strictly increasing integers")

    @property
    def points(self) -> list[int]:
        return self.values if self.values is not None else list(range(1, len(self.labels) + 1))


class Condition(Strict, frozen=True, kw_only=True):
    """`at_least: x` holds when value ≥ x; `below: x` when value < x; both may be given.
    `missing: true` holds when there is no value (and only then)."""

    at_least: float | None = None
    below: float | None = None
    missing: bool = False

    def __post_init__(self) -> None:
        if self.missing and (self.at_least is not None or self.below is not None):
            raise ValueError("missing: true takes no at_least or below (there is no value)")

    def holds(self, value: float | None) -> bool:
        if value is None or self.missing:
            return value is None and self.missing
        if self.at_least is not None and value < self.at_least:
            return False
        return not (self.below is not None and value >= self.below)


class Band(Strict, frozen=True, kw_only=True):
    text: Text
    at_least: float | None = None
    below: float | None = None

    @property
    def condition(self) -> Condition | None:
        if self.at_least is None and self.below is None:
            return None
        return Condition(at_least=self.at_least, below=self.below)


class Dimension(Strict, frozen=True, kw_only=True):
    id: Id
    name: Text
    description: str = ""
    feedback: list[Band] = []


class ShowIf(Strict, frozen=True, kw_only=True):
    """A display condition on the answer to an earlier item; every key given must hold.

    `at_least` and `below` as a profile's conditions (likert and number items; an N/A answer
    holds neither); `in` one of the options (choice), or any of them (multi_choice);
    `answered: true` holds when there is an answer, `false` when there is none.
    """

    item: str
    at_least: float | None = None
    below: float | None = None
    in_: Annotated[list[Text], Meta(min_length=1)] | None = msgspec.field(default=None, name="in")
    answered: bool | None = None


class Check(Strict, frozen=True, kw_only=True):
    """An attention item's instructed answer ("choose Disagree here"): a scale value or an
    option. Any other answer flags the response; the item is never scored."""

    expect: int | str


class _Item(Strict, tag_field="type", frozen=True, kw_only=True):
    id: Id
    text: Text
    required: bool = False
    show_if: ShowIf | None = None
    check: Check | None = None


class LikertItem(_Item, tag="likert", frozen=True, kw_only=True):
    scale: str
    dimension: str = ""  # none only on an attention item (`check`), which is never scored
    reverse: bool = False


class ChoiceItem(_Item, tag="choice", frozen=True, kw_only=True):
    options: Annotated[list[Text], Meta(min_length=1)]
    segment: bool = False


class MultiChoiceItem(_Item, tag="multi_choice", frozen=True, kw_only=True):
    options: Annotated[list[Text], Meta(min_length=1)]


class NumberItem(_Item, tag="number", frozen=True, kw_only=True):
    min: float | None = None
    max: float | None = None
    integer: bool = True
    segment: bool = False

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")


class TextItem(_Item, tag="text", frozen=True, kw_only=True):
    max_length: Annotated[int, Meta(ge=1, le=100_000)] = 2000


Item = LikertItem | ChoiceItem | MultiChoiceItem | NumberItem | TextItem


class Section(Strict, frozen=True, kw_only=True):
    id: Id
    title: Text
    description: str = ""
    show_if: ShowIf | None = None
    randomize: bool = False  # items in an order of their own for each respondent
    items: Annotated[list[Item], Meta(min_length=1)]


class IndexSpec(Strict, frozen=True, kw_only=True):
    id: Id = "index"
    name: Text = "Index"
    weights: dict[str, Annotated[float, Meta(gt=0)]] | None = None


class ScoringSpec(Strict, frozen=True, kw_only=True):
    min_answered: Annotated[float, Meta(gt=0, le=1)] = 0.75
    index: IndexSpec = IndexSpec()


class When(Strict, frozen=True, kw_only=True):
    index: Condition | None = None
    dimensions: dict[str, Condition] = {}


class QualitySpec(Strict, frozen=True, kw_only=True):
    """When a response is flagged as careless or inauthentic (never refused, never hidden from
    its respondent). Not part of the version: thresholds may change as data grows."""

    # Too fast: fewer seconds on the form than min_seconds, or than seconds_per_item times the
    # questions answered, whichever is more.
    min_seconds: Annotated[float, Meta(ge=0)] | None = None
    seconds_per_item: Annotated[float, Meta(ge=0)] | None = None
    # Straightlining: one answer repeated over this share of the likert items answered, in the
    # order shown, when at least min_run items are in that run.
    longstring: Annotated[float, Meta(gt=0, le=1)] = 0.8
    min_run: Annotated[int, Meta(ge=2)] = 8
    # Inconsistent: agreeing with statements and with their reverse-keyed opposites; the mean
    # gap, over dimensions with both, between their keyed scores (0-100).
    inconsistency: Annotated[float, Meta(gt=0, le=100)] = 60
    # Outlier: dimension scores this unlikely (chi-square tail of the Mahalanobis distance)
    # against the clean responses so far, once there are min_norm of them.
    outlier_p: Annotated[float, Meta(gt=0, lt=1)] = 0.001
    min_norm: Annotated[int, Meta(ge=10)] = 200
    # Repeats: the same answers again within this many hours, or the same browser again.
    repeat_hours: Annotated[float, Meta(ge=0)] = 24


# A channel's name in a link (`?src=newsletter`): short, lowercase, nothing to escape.
ChannelId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$(?!\n)")]


class Channel(Strict, frozen=True, kw_only=True):
    """Where respondents come from: a link carries `?src=ID`; the dashboard labels it."""

    id: ChannelId
    label: Text


class Profile(Strict, frozen=True, kw_only=True):
    id: Id
    label: Text
    summary: str = ""
    when: When | None = None


class Questionnaire(Strict, frozen=True, kw_only=True, weakref=True):
    slug: Slug
    title: Text
    description: str = ""
    consent: str | None = None
    quote_consent: str | None = None
    scales: dict[str, Scale] = {}
    dimensions: list[Dimension] = []
    sections: Annotated[list[Section], Meta(min_length=1)]
    scoring: ScoringSpec = ScoringSpec()
    profiles: list[Profile] = []
    # `section`: one section a page, each saved as a draft with a private resume link.
    paging: Literal["none", "section"] = "none"
    quality: QualitySpec = QualitySpec()
    # The recruiting channels a link may name; without a list, any name of the same shape.
    channels: list[Channel] = []

    @property
    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def likert_items(self, dimension: str | None = None) -> list[LikertItem]:
        """The scored likert items (not the attention items)."""
        return [
            i
            for i in self.items
            if isinstance(i, LikertItem)
            and i.check is None
            and (dimension is None or i.dimension == dimension)
        ]

    @property
    def checks(self) -> list[Item]:
        """The attention items."""
        return [i for i in self.items if i.check is not None]

    @property
    def weights(self) -> dict[str, float]:
        """Index weights by dimension id; every dimension with weight 1 when none are given."""
        if self.scoring.index.weights is not None:
            return dict(self.scoring.index.weights)
        return {d.id: 1.0 for d in self.dimensions}

    @property
    def segments(self) -> list[ChoiceItem | NumberItem]:
        return [i for i in self.items if isinstance(i, ChoiceItem | NumberItem) and i.segment]


class Loaded(Struct, frozen=True):
    """A questionnaire as served: the definition and its version hash."""

    definition: Questionnaire
    version: str
    file: str  # where it was read from


# --- wire models -------------------------------------------------------------------------------

Answer = int | float | str | list[str] | None


class Score(Struct, frozen=True):
    """A scored answer set: full-precision scores, `None` where too little was answered."""

    dimensions: dict[str, float | None]
    index: float | None
    profile: Profile | None

    @property
    def complete(self) -> bool:
        return self.index is not None


# --- what code works out once from a questionnaire ----------------------------------------------

T = TypeVar("T")
# By the questionnaire's identity (it holds lists, so it cannot be a key itself) and the maker;
# an entry goes when its questionnaire does, before the id can be reused.
_DERIVED: dict[tuple[int, Any], Any] = {}


def derived(q: Questionnaire, make: Callable[[Questionnaire], T]) -> T:
    """What `make` works out from `q`, made once for as long as `q` lives."""
    key = (id(q), make)
    found = _DERIVED.get(key)
    if found is None:
        found = _DERIVED[key] = make(q)
        weakref.finalize(q, _DERIVED.pop, key, None)
    return cast(T, found)
