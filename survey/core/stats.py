"""Pure: the aggregate report from summed sufficient statistics.

The store sums, per key, what every selected response contributes (the key table is in sums.py);
this module turns those few thousand numbers into distributions, reliability, correlations and
segment breakdowns. Nothing here reads a response.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import cast

import msgspec

from survey.core import channels, factor
from survey.core.distributions import (
    benjamini_hochberg,
    f_ppf,
    t_quantile_975,
    t_two_sided_p,
)
from survey.core.filters import ReportFilter, canonical_number, is_number
from survey.core.freeze import FreezeStatus
from survey.core.model import (
    NA,
    ChoiceItem,
    Item,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from survey.core.quality import FLAGS
from survey.core.sums import Key, Sums

HISTOGRAM_WIDTH = 5.0


def text_items(q: Questionnaire) -> list[str]:
    return [i.id for i in q.items if isinstance(i, TextItem)]


# --- the report ------------------------------------------------------------------------------


class Bin(msgspec.Struct, frozen=True):
    start: float
    end: float
    count: int


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    n: int
    mean: float | None
    sd: float | None
    median: float | None
    min: float | None
    max: float | None
    histogram: list[Bin]


class ValueCount(msgspec.Struct, frozen=True):
    value: str
    label: str
    count: int


class ItemStats(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: str
    text: str
    dimension: str | None = None
    reverse: bool = False
    n: int
    counts: list[ValueCount]
    mean: float | None = None
    mean_keyed: float | None = None
    na: int = 0  # answered "not applicable" (likert items on a scale with N/A), not in n
    # Likert items: the answers' sample SD, the shares at the scale's lowest and highest
    # points (floor and ceiling), and the share of N/A among those answering.
    sd: float | None = None
    floor: float | None = None
    ceiling: float | None = None
    na_share: float | None = None


class ItemReliability(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    item_rest: float | None
    alpha_if_dropped: float | None
    # Worth a look: item-rest r under .30, or α higher without the item.
    weak: bool = False
    # Its loading on the dimension's one-factor minres model (keyed: reversed items reversed).
    loading: float | None = None


class Reliability(msgspec.Struct, frozen=True, kw_only=True):
    dimension: str
    name: str
    n: int  # responses that answered every item of the dimension
    k: int
    alpha: float | None
    # Feldt's 95% confidence interval for α: (1 - α)/(1 - α̂) ~ F(n - 1, (n - 1)(k - 1)).
    alpha_low: float | None = None
    alpha_high: float | None = None
    # The standard error of measurement on the 0-100 scale: the complete cases' SD of the
    # dimension score times √(1 - α).
    sem: float | None = None
    # McDonald's ω total from a one-factor minres model of the items' correlations (keyed),
    # as psych::omega(nfactors = 1) gives it: 1 - Σ(1 - λ²)/ΣR.
    omega: float | None = None
    items: list[ItemReliability]


class Correlations(msgspec.Struct, frozen=True, kw_only=True):
    dimensions: list[str]
    r: list[list[float | None]]
    n: list[list[int]]


class ProfileCount(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    count: int
    share: float | None  # of scored responses


class GroupScore(msgspec.Struct, frozen=True, kw_only=True):
    """A segment value's mean of one score (the index or a dimension), against the others who
    answered the same segment question ("the rest")."""

    id: str  # the index's id or a dimension's
    name: str
    n: int  # responses of this value with the score
    mean: float | None
    sd: float | None
    # The mean's 95% confidence interval: mean ± t(.975, n - 1) · sd / √n.
    low: float | None = None
    high: float | None = None
    # Hedges' g against the rest (pooled SD, small-sample correction) and its 95% interval by
    # the normal approximation of Hedges & Olkin (1985): SE² = (n₁+n₂)/(n₁n₂) + g²/(2(n₁+n₂)).
    g: float | None = None
    g_low: float | None = None
    g_high: float | None = None
    # Welch's t-test of the two means, two-sided; adjusted by Benjamini–Hochberg over every
    # test in the report.
    p: float | None = None
    p_adjusted: float | None = None


class SegmentValue(msgspec.Struct, frozen=True, kw_only=True):
    value: str
    suppressed: bool
    n: int | None
    mean_index: float | None
    profiles: dict[str, int]
    scores: list[GroupScore] = []


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    item: str
    text: str
    values: list[SegmentValue]


class Threshold(msgspec.Struct, frozen=True, kw_only=True):
    profile: str
    label: str
    at_least: float | None
    below: float | None


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    created_at: datetime
    item: str
    question: str
    text: str


class Counts(msgspec.Struct, frozen=True):
    total: int
    scored: int
    incomplete: int


class DayCount(msgspec.Struct, frozen=True):
    day: date
    count: int


class Filters(msgspec.Struct, frozen=True, kw_only=True):
    from_day: date | None = msgspec.field(name="from")
    to_day: date | None = msgspec.field(name="to")
    version: str | None
    include_demo: bool
    segments: dict[str, str]
    quality: str = "all"


class FlagCount(msgspec.Struct, frozen=True, kw_only=True):
    flag: str
    meaning: str
    count: int  # responses with this flag (a response may have several)
    left_out: bool  # whether this report leaves them out


class FlagDay(msgspec.Struct, frozen=True):
    day: date
    flag: str
    count: int


class FlagSource(msgspec.Struct, frozen=True):
    source: str
    flag: str
    count: int


class FlaggedShare(msgspec.Struct, frozen=True, kw_only=True):
    """One segment value: its responses (flagged or not) and how many have a flag."""

    value: str
    suppressed: bool  # fewer than min_cell responses: no counts shown
    n: int | None
    flagged: int | None
    share: float | None


class SegmentQuality(msgspec.Struct, frozen=True, kw_only=True):
    item: str
    text: str
    values: list[FlaggedShare]


class QualityView(msgspec.Struct, frozen=True, kw_only=True):
    """The quality flags among the responses the other filters select."""

    quality: str  # clean, flagged or all: which of them the report counts
    responses: int  # selected by the other filters, flagged or not
    flagged: int  # of those, responses with at least one flag
    left_out: int  # responses this report leaves out for their quality
    flags: list[FlagCount]
    timeline: list[FlagDay]
    sources: list[FlagSource]  # by channel: web form, API, import, demo
    segments: list[SegmentQuality]  # the share flagged per segment value


class Report(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    title: str
    generated_at: datetime
    filters: Filters
    versions: list[str]
    min_cell: int
    counts: Counts
    profiles: list[ProfileCount]
    index: Distribution
    thresholds: list[Threshold]
    dimensions: list[Distribution]
    items: list[ItemStats]
    reliability: list[Reliability]
    correlations: Correlations
    segments: list[Segment]
    timeline: list[DayCount]
    quotes: list[Quote]
    quality: QualityView
    # The preregistration lock this report is made under (survey freeze), if any.
    freeze: FreezeStatus | None = None


def build_report(
    loaded: Loaded,
    sums: Sums,
    *,
    where: ReportFilter,
    quotes: list[tuple[datetime, str, str]],
    min_cell: int,
    now: datetime,
    split: tuple[Sums, Sums] | None = None,
    freeze: FreezeStatus | None = None,
) -> Report:
    """Everything the report holds, from the summed statistics; `split`: the sums of the
    clean and of the flagged responses the other filters select, `sums` being one or both."""
    q = loaded.definition
    sums = indexed(sums)
    if split is not None:
        split = (indexed(split[0]), indexed(split[1]))
    total = _int(sums.get(("n",)))
    scored = _int(sums.get(("scored",)))
    questions = {i.id: i.text for i in q.items}
    segment_items = report_segments(q, sums)
    return Report(
        slug=q.slug,
        title=q.title,
        generated_at=now,
        filters=Filters(
            from_day=where.from_day,
            to_day=where.to_day,
            version=where.version,
            include_demo="demo" in where.sources,
            segments=dict(where.segments),
            quality=where.quality,
        ),
        versions=sorted(k[1] for k, v in sums.items() if k[0] == "ver" and v > 0),
        min_cell=min_cell,
        counts=Counts(total, scored, total - scored),
        profiles=[
            ProfileCount(
                id=p.id,
                label=p.label,
                count=_int(sums.get(("p", p.id))),
                share=_int(sums.get(("p", p.id))) / scored if scored else None,
            )
            for p in q.profiles
        ],
        index=distribution(q.scoring.index.id, q.scoring.index.name, _values(sums, ("i",))),
        thresholds=thresholds(q),
        dimensions=[distribution(d.id, d.name, _values(sums, ("d", d.id))) for d in q.dimensions],
        items=[item_stats(q, item, sums) for item in q.items if not isinstance(item, TextItem)],
        reliability=[reliability(q, d.id, sums) for d in q.dimensions],
        correlations=correlations([d.id for d in q.dimensions], sums),
        segments=adjusted([segment(q, item, sums, min_cell) for item in segment_items]),
        timeline=sorted(
            (DayCount(date.fromisoformat(k[1]), _int(v)) for k, v in sums.items() if k[0] == "t"),
            key=lambda d: d.day,
        ),
        quotes=[
            Quote(created_at=at, item=item, question=questions.get(item, item), text=text)
            for at, item, text in quotes
        ],
        quality=quality_view(
            where.quality, *(split or (sums, {})), segments=segment_items, min_cell=min_cell
        ),
        freeze=freeze,
    )


def report_segments(q: Questionnaire, sums: Sums) -> list[ChoiceItem | NumberItem]:
    """The segment items, then the channel (channels.segment_item) once a response has one."""
    seen = [k[2] for k in _keys(sums, ("g", channels.SEGMENT)) if len(k) == 4 and k[3] == "n"]
    return [*q.segments, *([channels.segment_item(q, seen)] if seen else [])]


def quality_view(
    mode: str,
    clean: Sums,
    flagged: Sums,
    *,
    segments: Sequence[ChoiceItem | NumberItem] = (),
    min_cell: int = 1,
) -> QualityView:
    """What the quality flags say, whichever part the report counts."""
    flagged_n = _int(flagged.get(("n",)))
    clean_n = _int(clean.get(("n",)))
    counts = {k[1]: _int(v) for k, v in flagged.items() if k[0] == "q" and len(k) == 2}
    days = [
        FlagDay(date.fromisoformat(k[1]), k[2], _int(v))
        for k, v in flagged.items()
        if k[0] == "qt" and v > 0
    ]
    return QualityView(
        quality=mode,
        responses=clean_n + flagged_n,
        flagged=flagged_n,
        left_out={"clean": flagged_n, "flagged": clean_n}.get(mode, 0),
        flags=[
            FlagCount(flag=f, meaning=FLAGS[f], count=counts[f], left_out=mode == "clean")
            for f in FLAGS
            if counts.get(f)
        ],
        timeline=sorted(days, key=lambda d: (d.day, d.flag)),
        sources=sorted(
            (FlagSource(k[1], k[2], _int(v)) for k, v in flagged.items() if k[0] == "qs" and v > 0),
            key=lambda s: (s.source, s.flag),
        ),
        segments=[_segment_quality(item, clean, flagged, min_cell) for item in segments],
    )


def _segment_quality(
    item: ChoiceItem | NumberItem, clean: Sums, flagged: Sums, min_cell: int
) -> SegmentQuality:
    """Per value of a segment item, the share of its responses with a quality flag."""

    def counts(sums: Sums) -> dict[str, int]:
        return {
            k[2]: _int(sums[k]) for k in _keys(sums, ("g", item.id)) if len(k) == 4 and k[3] == "n"
        }

    ok, bad = counts(clean), counts(flagged)
    values = sorted(ok.keys() | bad.keys())
    if isinstance(item, ChoiceItem):
        values = [o for o in item.options if o in values]
    out = []
    for value in values:
        n = ok.get(value, 0) + bad.get(value, 0)
        if n <= 0:
            continue
        if n < min_cell:
            out.append(FlaggedShare(value=value, suppressed=True, n=None, flagged=None, share=None))
            continue
        k = bad.get(value, 0)
        out.append(FlaggedShare(value=value, suppressed=False, n=n, flagged=k, share=k / n))
    return SegmentQuality(item=item.id, text=item.text, values=out)


class IndexedSums(dict[Key, float]):
    """The sums, with their keys listed once by kind and by kind and id: the report looks up
    one item's or one dimension's keys many times, and scanning them all each time costs more
    than the rest of the report at a million responses."""

    def __init__(self, sums: Sums) -> None:
        super().__init__(sums)
        self.heads: defaultdict[tuple[str, ...], list[Key]] = defaultdict(list)
        for key in self:
            self.heads[key[:1]].append(key)
            if len(key) > 1:
                self.heads[key[:2]].append(key)


def indexed(sums: Sums) -> IndexedSums:
    return sums if isinstance(sums, IndexedSums) else IndexedSums(sums)


def _keys(sums: Sums, head: tuple[str, ...]) -> Iterable[Key]:
    """The keys that start with `head` (one or two parts)."""
    if isinstance(sums, IndexedSums):
        return sums.heads.get(head, ())
    return [k for k in sums if k[: len(head)] == head]


def _int(value: float | None) -> int:
    return round(value or 0)


def _values(sums: Sums, prefix: tuple[str, ...]) -> dict[float, int]:
    """The value → count table stored under keys prefix + (value,)."""
    size = len(prefix) + 1
    out: dict[float, int] = {}
    for key in _keys(sums, prefix[:2]):
        count = sums[key]
        if len(key) == size and key[:-1] == prefix and count > 0:
            out[float(key[-1])] = out.get(float(key[-1]), 0) + _int(count)
    return out


def distribution(id: str, name: str, counts: Mapping[float, int]) -> Distribution:
    """Mean, sample SD, median and a histogram of 5-point bins, from value counts."""
    n = sum(counts.values())
    bins = [
        Bin(start, min(start + HISTOGRAM_WIDTH, 100.0), 0)
        for start in [b * HISTOGRAM_WIDTH for b in range(int(100 / HISTOGRAM_WIDTH))]
    ]
    if n == 0:
        return Distribution(
            id=id, name=name, n=0, mean=None, sd=None, median=None, min=None, max=None,
            histogram=bins,
        )  # fmt: skip
    mean = sum(v * c for v, c in counts.items()) / n
    sd = math.sqrt(sum(c * (v - mean) ** 2 for v, c in counts.items()) / (n - 1)) if n > 1 else None
    filled = [0] * len(bins)
    for value, count in counts.items():
        filled[min(int(value // HISTOGRAM_WIDTH), len(bins) - 1)] += count
    return Distribution(
        id=id,
        name=name,
        n=n,
        mean=mean,
        sd=sd,
        median=_median(counts, n),
        min=min(counts),
        max=max(counts),
        histogram=[Bin(b.start, b.end, c) for b, c in zip(bins, filled, strict=True)],
    )


def _median(counts: Mapping[float, int], n: int) -> float:
    ordered = sorted(counts.items())

    def at(rank: int) -> float:  # the value at 0-based rank
        seen = 0
        for value, count in ordered:
            seen += count
            if rank < seen:
                return value
        return ordered[-1][0]

    return at(n // 2) if n % 2 else (at(n // 2 - 1) + at(n // 2)) / 2


def thresholds(q: Questionnaire) -> list[Threshold]:
    """The index conditions of the profiles, to draw on the index histogram."""
    return [
        Threshold(
            profile=p.id, label=p.label, at_least=p.when.index.at_least, below=p.when.index.below
        )
        for p in q.profiles
        if p.when is not None and p.when.index is not None
    ]


def item_stats(q: Questionnaire, item: Item, sums: Sums) -> ItemStats:
    raw = {k[2]: _int(sums[k]) for k in _keys(sums, ("v", item.id)) if len(k) == 3}
    match item:
        case LikertItem(scale=scale_id, dimension=dimension, reverse=reverse):
            scale = q.scales[scale_id]
            points = scale.points
            counts = [
                ValueCount(str(p), label, _count_of(raw, p))
                for p, label in zip(points, scale.labels, strict=True)
            ]
            n = sum(c.count for c in counts)
            total = sum(p * c.count for p, c in zip(points, counts, strict=True))
            mean = total / n if n else None
            keyed = (
                (min(points) + max(points) - mean if reverse else mean)
                if mean is not None
                else None
            )
            squares = sum(p * p * c.count for p, c in zip(points, counts, strict=True))
            # n·Σx² − (Σx)² in whole numbers: exact, never a negative rounding crumb.
            sd = math.sqrt((n * squares - total * total) / (n * (n - 1))) if n > 1 else None
            na = raw.get(NA, 0)
            return ItemStats(
                id=item.id, type="likert", text=item.text, dimension=dimension, reverse=reverse,
                n=n, counts=counts, mean=mean, mean_keyed=keyed, na=na, sd=sd,
                floor=counts[0].count / n if n else None,
                ceiling=counts[-1].count / n if n else None,
                na_share=na / (n + na) if n + na else None,
            )  # fmt: skip
        case ChoiceItem(options=options) | MultiChoiceItem(options=options):
            counts = [ValueCount(o, o, raw.get(o, 0)) for o in options]
            kind = "choice" if isinstance(item, ChoiceItem) else "multi_choice"
            n = sum(c.count for c in counts)
            return ItemStats(id=item.id, type=kind, text=item.text, n=n, counts=counts)
        case _:
            numbers = sorted(((float(v), c) for v, c in raw.items() if is_number(v)))
            n = sum(c for _, c in numbers)
            mean = sum(v * c for v, c in numbers) / n if n else None
            return ItemStats(
                id=item.id, type="number", text=item.text, n=n, mean=mean,
                counts=[ValueCount(canonical_number(str(v)), canonical_number(str(v)), c)
                        for v, c in numbers],
            )  # fmt: skip


def _count_of(raw: Mapping[str, int], point: int) -> int:
    # JSONB prints a stored integer as "4"; count "4.0" too, should one ever arrive as a float.
    return raw.get(str(point), 0) + raw.get(f"{point}.0", 0)


def reliability(q: Questionnaire, dimension: str, sums: Sums, *, omega: bool = True) -> Reliability:
    """Cronbach's α, item–rest correlations and α if dropped, over complete cases.

    The sums are of raw values; reverse keying x' = m + M − x flips the sign of every
    covariance involving the item and leaves variances alone. Answers are whole numbers, so
    n·Σxy − Σx·Σy is an exact integer, n(n − 1) times the sample covariance: worked in
    integers, a constant rest is exactly 0 variance rather than rounding noise.
    """
    items = q.likert_items(dimension)
    name = next(d.name for d in q.dimensions if d.id == dimension)
    n = _int(sums.get(("r", dimension)))
    k = len(items)
    if n < 2 or k < 2:
        return Reliability(
            dimension=dimension, name=name, n=n, k=k, alpha=None,
            items=[ItemReliability(id=i.id, item_rest=None, alpha_if_dropped=None) for i in items],
        )  # fmt: skip
    ids = [i.id for i in items]
    sign = [-1 if i.reverse else 1 for i in items]
    s = [_int(sums.get(("r", dimension, i))) for i in ids]
    cov = [[0] * k for _ in range(k)]
    for a in range(k):
        for b in range(k):
            first, second = sorted((ids[a], ids[b]))
            product = _int(sums.get(("r", dimension, first, second)))
            cov[a][b] = sign[a] * sign[b] * (n * product - s[a] * s[b])

    def alpha(members: list[int]) -> float | None:
        m = len(members)
        total = sum(cov[a][b] for a in members for b in members)
        if m < 2 or total <= 0:
            return None
        return m / (m - 1) * (1 - sum(cov[a][a] for a in members) / total)

    everyone = list(range(k))
    total_var = sum(cov[a][b] for a in everyone for b in everyone)
    rows = []
    for a in everyone:
        with_total = sum(cov[a][b] for b in everyone)
        rest_var = total_var - 2 * with_total + cov[a][a]
        rest_cov = with_total - cov[a][a]
        denominator = cov[a][a] * rest_var
        rows.append(
            ItemReliability(
                id=ids[a],
                item_rest=rest_cov / math.sqrt(cov[a][a]) / math.sqrt(rest_var)
                if denominator > 0
                else None,
                alpha_if_dropped=alpha([b for b in everyone if b != a]),
            )
        )
    value = alpha(everyone)
    fitted = None
    correlation = factor.correlations_from([[float(c) for c in row] for row in cov])
    if omega and correlation is not None:
        fitted = factor.omega_total(correlation)
    rows = [
        msgspec.structs.replace(
            row,
            loading=fitted[1][a] if fitted is not None else None,
            weak=(row.item_rest is not None and row.item_rest < WEAK_ITEM_REST)
            or (
                value is not None
                and row.alpha_if_dropped is not None
                and row.alpha_if_dropped > value
            ),
        )
        for a, row in enumerate(rows)
    ]
    low = high = sem = None
    if value is not None and value < 1:
        df1, df2 = n - 1, (n - 1) * (k - 1)
        low = 1 - (1 - value) * f_ppf(0.975, df1, df2)
        high = 1 - (1 - value) * f_ppf(0.025, df1, df2)
    if value is not None and 0 < value < 1:  # α ≤ 0: no true-score variance to speak of
        # The score is 100/k · Σ keyed/span over the items: its variance from the covariances.
        spans = [_span(q, item) for item in items]
        scaled = sum(cov[a][b] / (spans[a] * spans[b]) for a in everyone for b in everyone) / (
            n * (n - 1)
        )
        sem = 100 / k * math.sqrt(max(scaled, 0.0)) * math.sqrt(1 - value)
    return Reliability(
        dimension=dimension,
        name=name,
        n=n,
        k=k,
        alpha=value,
        alpha_low=low,
        alpha_high=high,
        sem=sem,
        omega=fitted[0] if fitted is not None else None,
        items=rows,
    )


WEAK_ITEM_REST = 0.30  # an item-rest r below this is flagged as weak


def _span(q: Questionnaire, item: LikertItem) -> int:
    points = q.scales[item.scale].points
    return max(points) - min(points)


# n·Σa² − (Σa)² cancels: for a constant score such as 100/3 it leaves float noise (up to
# ~1e-10 of n·Σa² over a million rows), not 0, and r would be noise over noise. A variance
# under 1e-9 of n·Σa² is taken as none.
_NOISE = 1e-9


def correlations(dimensions: list[str], sums: Sums) -> Correlations:
    """Pearson's r between dimension scores, over responses scored on both."""
    size = len(dimensions)
    r: list[list[float | None]] = [[None] * size for _ in range(size)]
    n: list[list[int]] = [[0] * size for _ in range(size)]
    for a in range(size):
        n[a][a] = sum(_values(sums, ("d", dimensions[a])).values())
        r[a][a] = 1.0 if n[a][a] > 1 else None
        for b in range(a + 1, size):
            first, second = sorted((dimensions[a], dimensions[b]))

            def get(part: str, first: str = first, second: str = second) -> float:
                return sums.get(("c", first, second, part), 0.0)

            count = get("n")
            sa, sb, saa, sbb, sab = get("a"), get("b"), get("aa"), get("bb"), get("ab")
            var_a, var_b = count * saa - sa * sa, count * sbb - sb * sb
            value = (
                (count * sab - sa * sb) / math.sqrt(var_a * var_b)
                if var_a > _NOISE * count * saa and var_b > _NOISE * count * sbb
                else None
            )
            r[a][b] = r[b][a] = value
            n[a][b] = n[b][a] = _int(count)
    return Correlations(dimensions=dimensions, r=r, n=n)


def segment(q: Questionnaire, item: ChoiceItem | NumberItem, sums: Sums, min_cell: int) -> Segment:
    """Profile mix and mean index per value; values with fewer than `min_cell` are suppressed.

    Each shown value's scores are compared with the other shown values' together (never with
    a suppressed one, whose figures could then be worked out), when those number `min_cell`.
    """
    values = _ordered(
        item, {k[2] for k in _keys(sums, ("g", item.id)) if len(k) == 4 and k[3] == "n"}
    )
    counts = {v: _int(sums.get(("g", item.id, v, "n"))) for v in values}
    shown = [v for v in values if counts[v] >= min_cell]
    scores = [
        (q.scoring.index.id, q.scoring.index.name, ("g", item.id), _INDEX_TAILS),
        *((d.id, d.name, ("gd", item.id), _dimension_tails(d.id)) for d in q.dimensions),
    ]
    totals = [_moments(sums, head, shown, tails) for _, _, head, tails in scores]
    rows = []
    for value in values:
        count = counts[value]
        if count <= 0:
            continue
        if count < min_cell:
            rows.append(
                SegmentValue(value=value, suppressed=True, n=None, mean_index=None, profiles={})
            )
            continue
        scored = _int(sums.get(("g", item.id, value, "scored")))
        groups = []
        for (id, name, head, tails), total in zip(scores, totals, strict=True):
            mine = _moments(sums, head, [value], tails)
            rest = cast(Moments, tuple(t - m for t, m in zip(total, mine, strict=True)))
            if _int(rest[0]) < min_cell:
                rest = (0.0, 0.0, 0.0)
            groups.append(group_score(id, name, mine, rest))
        rows.append(
            SegmentValue(
                value=value,
                suppressed=False,
                n=count,
                mean_index=sums.get(("g", item.id, value, "isum"), 0.0) / scored
                if scored
                else None,
                profiles={
                    p.id: _int(sums.get(("g", item.id, value, "p", p.id))) for p in q.profiles
                },
                scores=groups,
            )
        )
    return Segment(item=item.id, text=item.text, values=rows)


def _ordered(item: ChoiceItem | NumberItem, values: set[str]) -> list[str]:
    """A segment item's values as a report lists them: options in their order, numbers by
    size."""
    if isinstance(item, ChoiceItem):
        return [o for o in item.options if o in values]
    return sorted(values, key=lambda v: (float(v), v) if is_number(v) else (0, v))


Moments = tuple[float, float, float]  # n, Σx, Σx²


def _moments(
    sums: Sums, head: tuple[str, ...], values: list[str], tails: tuple[tuple[str, ...], ...]
) -> Moments:
    """The count, sum and sum of squares of a score over some values of a segment item, from
    the keys head + value + each tail."""
    n, total, squares = (sum(sums.get((*head, v, *tail), 0.0) for v in values) for tail in tails)
    return n, total, squares


_INDEX_TAILS = (("scored",), ("isum",), ("isq",))


def _dimension_tails(dimension: str) -> tuple[tuple[str, ...], ...]:
    return (dimension, "n"), (dimension, "s"), (dimension, "ss")


def group_score(id: str, name: str, mine: Moments, rest: Moments) -> GroupScore:
    """A value's mean with its interval, and its difference from the rest (see GroupScore)."""
    n1, s1, q1 = mine
    n = _int(n1)
    if n < 1:
        return GroupScore(id=id, name=name, n=0, mean=None, sd=None)
    mean = s1 / n1
    if n < 2:
        return GroupScore(id=id, name=name, n=n, mean=mean, sd=None)
    var1 = max(q1 - s1 * s1 / n1, 0.0) / (n1 - 1)
    sd = math.sqrt(var1)
    half = t_quantile_975(n1 - 1) * sd / math.sqrt(n1)
    # The scores lie in 0-100; so does any interval worth printing.
    out = GroupScore(
        id=id, name=name, n=n, mean=mean, sd=sd,
        low=max(0.0, mean - half), high=min(100.0, mean + half),
    )  # fmt: skip
    n2, s2, q2 = rest
    if n2 < 2:
        return out
    var2 = max(q2 - s2 * s2 / n2, 0.0) / (n2 - 1)
    pooled = ((n1 - 1) * var1 + (n2 - 1) * var2) / (n1 + n2 - 2)
    se2 = var1 / n1 + var2 / n2
    if pooled <= _NOISE * max(q1 / n1, q2 / n2, 1.0) or se2 <= 0:
        return out
    difference = mean - s2 / n2
    g = difference / math.sqrt(pooled) * (1 - 3 / (4 * (n1 + n2) - 9))
    se_g = math.sqrt((n1 + n2) / (n1 * n2) + g * g / (2 * (n1 + n2)))
    t = difference / math.sqrt(se2)
    df = se2**2 / ((var1 / n1) ** 2 / (n1 - 1) + (var2 / n2) ** 2 / (n2 - 1))
    return msgspec.structs.replace(
        out, g=g, g_low=g - _Z975 * se_g, g_high=g + _Z975 * se_g, p=t_two_sided_p(t, df)
    )


_Z975 = 1.959963984540054  # the standard normal's 0.975 quantile


def adjusted(segments: list[Segment]) -> list[Segment]:
    """The segments with every test's p adjusted by Benjamini–Hochberg over all of them
    (tested_ps: where a segment item shows two values, each against the other is one test)."""
    adjusted_ps = iter(benjamini_hochberg(tested_ps(segments)))
    out = []
    for seg in segments:
        counted = _counted(seg)
        first: dict[int, float] = {}
        values = []
        for v in seg.values:
            scores = []
            for j, s in enumerate(v.scores):
                if s.p is not None:
                    if any(v is c for c in counted):
                        first[j] = next(adjusted_ps)
                    s = msgspec.structs.replace(s, p_adjusted=first.get(j))
                scores.append(s)
            values.append(msgspec.structs.replace(v, scores=scores))
        out.append(msgspec.structs.replace(seg, values=values))
    return out


def _counted(seg: Segment) -> list[SegmentValue]:
    """The values whose tests count: all with one, or the first where only two are shown."""
    tested = [v for v in seg.values if any(s.p is not None for s in v.scores)]
    return tested[:1] if len([v for v in seg.values if not v.suppressed]) == 2 else tested


def tested_ps(segments: list[Segment]) -> list[float]:
    """The distinct tests' p-values in a report, in the order `adjusted` counts them."""
    return [s.p for seg in segments for v in _counted(seg) for s in v.scores if s.p is not None]


# --- norms -------------------------------------------------------------------------------------

NORM_PERCENTILES = (5, 10, 25, 50, 75, 90, 95)


class Norm(msgspec.Struct, frozen=True, kw_only=True):
    """A score's norm table for one group: everyone (segment None) or one segment value."""

    id: str  # the index's id or a dimension's
    name: str
    segment: str | None
    value: str | None
    n: int
    # at_or_below[s]: the percent of the group whose score, rounded to 4 decimals, is at or
    # below the whole score s (0-100).
    at_or_below: list[float]
    # The lowest whole score at or below which at least p percent of the group lie.
    percentiles: dict[str, int]


def norm(
    id: str, name: str, segment: str | None, value: str | None, counts: Mapping[int, float]
) -> Norm:
    """A norm table from counts by whole score: each score rounded up to a whole number."""
    n = _int(sum(counts.values()))
    running, at_or_below = 0.0, []
    for whole in range(101):
        running += counts.get(whole, 0.0)
        at_or_below.append(100 * running / n if n else 0.0)
    return Norm(
        id=id,
        name=name,
        segment=segment,
        value=value,
        n=n,
        at_or_below=at_or_below,
        percentiles={
            str(p): next(s for s, share in enumerate(at_or_below) if share >= p - 1e-9)
            for p in NORM_PERCENTILES
        }
        if n
        else {},
    )


def norms(
    q: Questionnaire,
    sums: Sums,
    by_segment: Mapping[tuple[str, str, str | None], Mapping[int, int]],
    min_cell: int,
) -> list[Norm]:
    """Norm tables of the index and each dimension: everyone's (from the report's sums), then
    each segment value's with at least `min_cell` responses (`by_segment`: counts per whole
    score, keyed by item, value and score id, None for the index)."""
    scores = [(q.scoring.index.id, q.scoring.index.name), *((d.id, d.name) for d in q.dimensions)]
    out = []
    for id, name in scores:
        prefix = ("i",) if id == q.scoring.index.id else ("d", id)
        counts: dict[int, float] = defaultdict(float)
        for score, many in _values(sums, prefix).items():
            counts[math.ceil(score)] += many
        out.append(norm(id, name, None, None, counts))
    for item in q.segments:
        values = _ordered(item, {v for (segment, v, _) in by_segment if segment == item.id})
        for value in values:
            if _int(sums.get(("g", item.id, value, "n"))) < min_cell:
                continue
            out.extend(
                norm(id, name, item.id, value,
                     by_segment.get((item.id, value, None if id == q.scoring.index.id else id), {}))
                for id, name in scores
            )  # fmt: skip
    return out
