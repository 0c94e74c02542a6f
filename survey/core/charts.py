"""Pure: the aggregate report → Plotly figures, one style for screen, print and the book.

Every chart is built from the `stats.Report` alone. Text that reaches a figure is escaped with
`text()`: Plotly renders a subset of HTML in labels, titles and hover text, and quotes and
segment values are typed by respondents. Colours are colour-blind safe (Okabe–Ito for
categories, orange–purple for agree/disagree, red–blue for correlations) and stay apart in
greyscale print by lightness.
"""

from __future__ import annotations

import html
import importlib
import textwrap
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from survey.core.model import Questionnaire
from survey.core.scoring import feedback
from survey.core.stats import (
    Distribution,
    GroupScore,
    ItemStats,
    Quote,
    Report,
    Segment,
    SegmentValue,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go
else:

    class _OnFirstUse:
        """A module imported when first used: importing plotly is slow, and each `survey
        serve` worker would otherwise do it before it could answer."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attribute: str) -> Any:
            return getattr(importlib.import_module(self._name), attribute)

    go = _OnFirstUse("plotly.graph_objects")


def sample_colorscale(*args: Any, **kwargs: Any) -> Any:
    from plotly.colors import sample_colorscale

    return sample_colorscale(*args, **kwargs)


def make_subplots(*args: Any, **kwargs: Any) -> go.Figure:
    from plotly.subplots import make_subplots

    return make_subplots(*args, **kwargs)


def load_plotly() -> None:
    """Import plotly now (in a thread, after start-up, so the first chart is not slow)."""
    importlib.import_module("plotly.graph_objects")
    importlib.import_module("plotly.subplots")


FONT = {"family": "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif", "size": 13}
INK = "#1f2937"
GRID = "#e5e7eb"
MAIN = "#0072B2"  # Okabe–Ito blue
ACCENT = "#D55E00"  # Okabe–Ito vermillion
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
NEUTRAL = "#bdbdbd"
REVERSED = "↺"
DAY_MS = 24 * 60 * 60 * 1000  # a date axis counts in milliseconds
BLANK = {"template": "none"}  # at creation: applying Plotly's default template first is slow
AXIS = {"showline": True, "linecolor": INK, "ticks": "outside", "automargin": True,
        "zeroline": False, "showgrid": False, "gridcolor": GRID}  # fmt: skip
WIDTH = 960  # the width of exported figures, in CSS pixels
SUBTITLE_WIDTH = 125  # characters in a line of a subtitle of several
SUBTITLE_LINE = 17  # and its height in pixels


class Chart(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # for URLs and file names: [a-z0-9_-]+
    group: str  # the dashboard section it belongs to
    title: str  # plain text; templates escape it
    figure: go.Figure


# --- text ------------------------------------------------------------------------------------


def text(value: object) -> str:
    """Plain text made safe for Plotly's HTML-ish labels and hover text.

    html.escape, with `"` as `&#34;`: Plotly decodes numeric entities and `&lt; &gt; &amp;`,
    but shows `&quot;` literally.
    """
    return html.escape(str(value)).replace("&quot;", "&#34;")


def wrapped(value: str, width: int = 48, limit: int | None = None) -> str:
    """Escaped text in lines of about `width` characters, joined with <br>."""
    if limit is not None and len(value) > limit:
        value = value[: limit - 1].rstrip() + "…"
    lines = textwrap.wrap(" ".join(value.split()), width) or [""]
    return "<br>".join(text(line) for line in lines)


def _number(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


# --- layout ----------------------------------------------------------------------------------


def _style(
    fig: go.Figure,
    title: str,
    height: int,
    subtitle: str | Sequence[str] = "",
    *,
    legend: bool = False,
    **layout: object,
) -> None:
    """The house style. No markup with styles (<b>, <i>, <span style>) anywhere: Plotly
    writes those as style attributes, which the pages' CSP (style-src 'self') refuses.

    `subtitle` is one line, or paragraphs (a chart's methods, say) wrapped into lines, for
    which the figure grows taller than `height`. `layout` is merged into the figure's layout
    dict by dict (a list, such as annotations, replaces the figure's own), and keys are layout
    properties or underscore paths into one (`legend_traceorder`)."""
    place: dict[str, object] = {}
    if isinstance(subtitle, str):
        lines, extra = text(subtitle), 0
    else:
        # Plotly does not wrap titles, and centres a tall one in the top margin.
        lines = "<br>".join(wrapped(p, SUBTITLE_WIDTH) for p in subtitle)
        extra = SUBTITLE_LINE * lines.count("<br>") + 10
        place = {"y": 1, "yref": "container", "yanchor": "top", "pad": {"t": 14}}
    defaults: dict[str, object] = {
        "title": {
            "text": text(title),
            "font": {"size": 17, "weight": 700},
            "x": 0,
            "xanchor": "left",
            "xref": "container",
            "subtitle": {"text": lines, "font": {"size": 13, "color": "#4b5563"}},
            **place,
        },
        "height": height + extra,
        "margin": {
            "l": 10,
            "r": 20,
            "t": (85 if subtitle else 60) + extra,
            "b": 110 if legend else 50,
        },
        "font": {**FONT, "color": INK},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "hoverlabel": {"font": {"family": FONT["family"], "size": 13}, "align": "left"},
        "showlegend": legend,
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "yref": "container", "y": 0,
                   "yanchor": "bottom"},
    }  # fmt: skip
    current = fig.layout.to_plotly_json()
    for name in {name for name in current if name[1:5] == "axis"} | {"xaxis", "yaxis"}:
        defaults[name] = AXIS
    # A new layout built at once from one merged dict: update_layout takes Plotly's relayout
    # path, which re-checks every key path against the whole layout, for every chart.
    fig.layout = _merged(current, _merged(defaults, layout))


def _merged(base: dict[str, object], over: Mapping[str, object]) -> dict[str, object]:
    """`base` updated by `over`, recursively for nested dicts."""
    out = dict(base)
    for key, value in over.items():
        below = out.get(key)
        if isinstance(below, dict) and isinstance(value, Mapping):
            out[key] = _merged(below, value)
        else:
            out[key] = value
    return out


def _empty(fig: go.Figure, message: str = "No responses match these filters yet.") -> None:
    fig.add_annotation(
        text=text(message),
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        showarrow=False,
        font={"size": 15, "color": "#4b5563"},
    )


def _names(report: Report) -> dict[str, str]:
    return {d.id: d.name for d in report.dimensions}


# --- charts ----------------------------------------------------------------------------------


def profile_mix(report: Report) -> go.Figure:
    """Scored responses per profile: a bar each, labelled with count and share."""
    scored = report.counts.scored
    fig = go.Figure(
        go.Bar(
            x=[text(p.label) for p in report.profiles],
            y=[p.count for p in report.profiles],
            marker={"color": [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(report.profiles))]},
            text=[f"{p.count} ({_percent(p.count, scored):.0f}%)" for p in report.profiles],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y} responses (%{customdata:.1f}% of scored)<extra></extra>",
            customdata=[_percent(p.count, scored) for p in report.profiles],
        ),
        layout=BLANK,
    )
    _style(
        fig,
        "Profile mix",
        380,
        f"{scored} scored responses; {report.counts.incomplete} incomplete have no profile",
        yaxis={
            "title": {"text": "Responses"},
            "rangemode": "tozero",
            "gridcolor": GRID,
            "showgrid": True,
        },
    )
    if scored == 0:
        _empty(fig)
    return fig


def _histogram_bars(dist: Distribution, colour: str, name: str) -> go.Bar:
    return go.Bar(
        x=[(b.start + b.end) / 2 for b in dist.histogram],
        y=[b.count for b in dist.histogram],
        width=[b.end - b.start for b in dist.histogram],
        customdata=[[b.start, b.end] for b in dist.histogram],
        marker={"color": colour, "line": {"color": "white", "width": 1}},
        name=text(name),
        hovertemplate="%{customdata[0]:g}–%{customdata[1]:g}: %{y}<extra></extra>",
    )


def _summary(dist: Distribution) -> str:
    if dist.n == 0:
        return "n = 0"
    return (
        f"n = {dist.n}, mean {_number(dist.mean)}, SD {_number(dist.sd)}, "
        f"median {_number(dist.median)}"
    )


_NAMED_CUTS = 3  # profiles named at one cut-off, at most


def index_histogram(report: Report) -> go.Figure:
    """The index distribution, with a dashed line at each profile threshold."""
    dist = report.index
    fig = go.Figure(_histogram_bars(dist, MAIN, dist.name), layout=BLANK)
    by_value: dict[float, list[str]] = defaultdict(list)
    for t in report.thresholds:
        for value, sign in ((t.at_least, "≥"), (t.below, "<")):
            if value is not None:
                by_value[value].append(f"{t.label} {sign} {value:g}")
    for number, (value, labels) in enumerate(sorted(by_value.items())):
        fig.add_shape(
            type="line",
            x0=value,
            x1=value,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"color": INK, "width": 2, "dash": "dash"},
            name=f"threshold {value:g}",
        )
        fig.add_annotation(
            x=value,
            xref="x",
            y=1.0 - 0.14 * (number % 2),
            yref="paper",
            yanchor="top",
            xanchor="left" if value < 80 else "right",
            # A grid of profiles cuts at the same values many times: name them while few.
            text="<br>".join(text(label) for label in labels)
            if len(labels) <= _NAMED_CUTS
            else f"Profile cut-off {value:g}",
            showarrow=False,
            align="left",
            bgcolor="rgba(255,255,255,0.85)",
            font={"size": 12},
        )
    _style(
        fig,
        f"{dist.name}: distribution and profile thresholds",
        420,
        _summary(dist),
        xaxis={"title": {"text": f"{text(dist.name)} (0–100)"}, "range": [0, 100], "dtick": 10},
        yaxis={
            "title": {"text": "Responses"},
            "rangemode": "tozero",
            "gridcolor": GRID,
            "showgrid": True,
        },
        bargap=0,
    )
    if dist.n == 0:
        _empty(fig)
    return fig


def _likert_colours(points: int) -> list[str]:
    """Orange for disagreeing, grey for the middle, purple for agreeing; darker = stronger."""
    half = points // 2
    low = sample_colorscale("PuOr", [0.08 + 0.3 * i / max(half - 1, 1) for i in range(half)])
    high = sample_colorscale("PuOr", [0.62 + 0.3 * i / max(half - 1, 1) for i in range(half)])
    if half == 1:
        low, high = sample_colorscale("PuOr", [0.2]), sample_colorscale("PuOr", [0.8])
    return [*low, *([NEUTRAL] if points % 2 else []), *high]


def likert_bars(report: Report, dimension: str) -> go.Figure:
    """Diverging stacked bars, one per likert item of a dimension: disagreement to the left."""
    items = [i for i in report.items if i.type == "likert" and i.dimension == dimension]
    name = _names(report).get(dimension, dimension)
    fig = go.Figure(layout=BLANK)
    labels = [
        (f"{REVERSED} " if i.reverse else "") + wrapped(i.text, 44) + f" (n = {i.n})" for i in items
    ]
    points = len(items[0].counts) if items else 0
    colours = _likert_colours(points)
    half = points // 2
    middle = half if points % 2 else None

    def trace(position: int, sign: float, share: float, show: bool) -> go.Bar:
        counts = [i.counts[position].count if position < len(i.counts) else 0 for i in items]
        pct = [share * _percent(c, i.n) for c, i in zip(counts, items, strict=True)]
        return go.Bar(
            y=labels,
            x=[sign * p for p in pct],
            orientation="h",
            # Items on different scales with as many points share a position's bar.
            name=text(
                " / ".join(
                    dict.fromkeys(
                        i.counts[position].label for i in items if position < len(i.counts)
                    )
                )
            ),
            legendgroup=str(position),
            legendrank=position,
            showlegend=show,
            marker={"color": colours[position], "line": {"color": "white", "width": 0.5}},
            customdata=[
                [c, _percent(c, i.n), text(i.counts[position].label)]
                for c, i in zip(counts, items, strict=True)
            ],
            hovertemplate="%{y}<br>%{customdata[2]}: %{customdata[1]:.0f}%"
            " (%{customdata[0]})<extra></extra>",
        )

    if items:
        # Relative bars stack outward from zero in trace order: the middle first, then
        # each side from the mildest answer to the strongest.
        split = [] if middle is None else [(middle, -1.0, 0.5, False)]
        right = [] if middle is None else [(middle, 1.0, 0.5, True)]
        order = [
            *split,
            *[(p, -1.0, 1.0, True) for p in reversed(range(half))],
            *right,
            *[(p, 1.0, 1.0, True) for p in range(points - half, points)],
        ]
        fig.add_traces([trace(*spec) for spec in order])  # at once: each add re-validates
    reverse_note = (
        f"{REVERSED} reverse-keyed: the higher the answer, the lower the score"
        if any(i.reverse for i in items)
        else ""
    )
    _style(
        fig,
        f"{name}: answers per item",
        210 + 56 * max(len(items), 1),
        reverse_note,
        legend=bool(items),
        barmode="relative",
        xaxis={
            "range": [-100, 100],
            "tickvals": [-100, -75, -50, -25, 0, 25, 50, 75, 100],
            "ticktext": ["100%", "75%", "50%", "25%", "0", "25%", "50%", "75%", "100%"],
            "title": {"text": "← disagree · share of answers · agree →"},
            "zeroline": True,
            "zerolinecolor": INK,
            "showgrid": True,
            "gridcolor": GRID,
        },
        yaxis={"autorange": "reversed", "automargin": True},
        bargap=0.3,
    )
    if not items or all(i.n == 0 for i in items):
        _empty(fig)
    return fig


def dimension_distributions(report: Report) -> go.Figure:
    """A small histogram per dimension on a shared 0–100 axis, its mean marked."""
    dims = report.dimensions or []
    rows = max(len(dims), 1)
    fig = make_subplots(
        figure=go.Figure(layout=BLANK),
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.5 / rows / 2 if rows > 1 else 0,
        subplot_titles=[f"{text(d.name)} ({_summary(d)})" for d in dims] or [""],
    )
    if dims:
        fig.add_traces(
            [_histogram_bars(d, OKABE_ITO[n % len(OKABE_ITO)], d.name) for n, d in enumerate(dims)],
            rows=list(range(1, len(dims) + 1)),
            cols=1,
        )
    # Layout as one dict: Plotly's per-subplot update calls each re-validate everything.
    layout: dict[str, Any] = {}
    for row in range(1, rows + 1):
        layout[_axis("xaxis", row)] = {"range": [0, 100], "dtick": 10}
        layout[_axis("yaxis", row)] = {"rangemode": "tozero", "showgrid": True, "nticks": 3}
    layout[_axis("xaxis", rows)] = {
        "range": [0, 100],
        "dtick": 10,
        "title": {"text": "Score (0–100); dotted line: mean"},
    }
    layout["shapes"] = [
        {
            "type": "line",
            "x0": d.mean,
            "x1": d.mean,
            "xref": _axis("x", row),
            "y0": 0,
            "y1": 1,
            "yref": _axis("y", row) + " domain",
            "line": {"color": INK, "width": 2, "dash": "dot"},
        }
        for row, d in enumerate(dims, start=1)
        if d.mean is not None
    ]
    layout["annotations"] = _titles_left(fig)
    _style(fig, "Dimension scores", 80 + 150 * rows, bargap=0, **layout)
    if all(d.n == 0 for d in dims):
        _empty(fig)
    return fig


def _axis(kind: str, number: int) -> str:
    """Plotly's axis names: xaxis, xaxis2, … (and x, x2, … in references)."""
    return kind if number == 1 else f"{kind}{number}"


def _titles_left(fig: go.Figure, left: bool = True) -> list[dict[str, object]]:
    """make_subplots' subplot titles, restyled: at the left of each subplot if `left`."""
    place = {"x": 0, "xanchor": "left"} if left else {}
    return [{**a.to_plotly_json(), **place, "font": {"size": 13}} for a in fig.layout.annotations]


def _segment_label(value: str, n: int | None, suppressed: bool, min_cell: int) -> str:
    if suppressed:
        return f"{text(value)} · suppressed (n &lt; {min_cell})"
    return f"{text(value)} (n = {n})"


def segment_comparison(report: Report, segment: Segment) -> go.Figure:
    """Profile mix and mean index per value of a segment item; small cells show no numbers."""
    fig = make_subplots(
        figure=go.Figure(layout=BLANK),
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.68, 0.32],
        horizontal_spacing=0.04,
        subplot_titles=["Profile mix (% of scored)", f"Mean {text(report.index.name)}"],
    )
    values = segment.values
    labels = [_segment_label(v.value, v.n, v.suppressed, report.min_cell) for v in values]
    scored = [sum(v.profiles.values()) for v in values]
    traces = []
    for number, profile in enumerate(report.profiles):
        counts = [None if v.suppressed else v.profiles.get(profile.id, 0) for v in values]
        traces.append(
            go.Bar(
                y=labels,
                x=[
                    None if c is None else _percent(c, s)
                    for c, s in zip(counts, scored, strict=True)
                ],
                customdata=[
                    None if c is None else [c, s] for c, s in zip(counts, scored, strict=True)
                ],
                orientation="h",
                name=text(profile.label),
                marker={"color": OKABE_ITO[number % len(OKABE_ITO)]},
                hovertemplate=f"%{{y}}<br>{text(profile.label)}: %{{x:.0f}}%"
                " (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            )
        )
    traces.append(
        go.Bar(
            y=labels,
            x=[None if v.suppressed else v.mean_index for v in values],
            orientation="h",
            name=f"Mean {text(report.index.name)}",
            marker={"color": "#4b5563"},
            text=["suppressed" if v.suppressed else _number(v.mean_index) for v in values],
            textposition="outside",
            cliponaxis=False,
            showlegend=False,
            hovertemplate="%{y}<br>mean %{x:.1f}<extra></extra>",
        )
    )
    fig.add_traces(traces, rows=1, cols=[1] * (len(traces) - 1) + [2])
    scale = {"range": [0, 100], "showgrid": True}
    suppressed = sum(v.suppressed for v in values)
    note = f"values with fewer than {report.min_cell} responses are suppressed" + (
        f" ({suppressed} here)" if suppressed else ""
    )
    _style(
        fig,
        f"Segment: {segment.text}",
        230 + 36 * max(len(values), 2),
        note,
        legend=True,
        barmode="stack",
        legend_traceorder="normal",
        xaxis=scale,
        xaxis2=scale,
        yaxis={"autorange": "reversed"},
        annotations=_titles_left(fig, left=False),
    )
    if not values:
        _empty(fig, "No answers to this question match these filters yet.")
    return fig


def _p_text(p: float | None) -> str:
    return "–" if p is None else "&lt; 0.001" if p < 0.001 else f"{p:.3f}"


def _interval(low: float | None, high: float | None, digits: int) -> str:
    if low is None or high is None:
        return ""
    return f" [{low:.{digits}f}, {high:.{digits}f}]"


def _index_score(report: Report, value: SegmentValue) -> GroupScore | None:
    """A value's index score, or None when it is suppressed or has no mean."""
    if value.suppressed:
        return None
    score = next((s for s in value.scores if s.id == report.index.id), None)
    return score if score is not None and score.mean is not None else None


def _differs(score: GroupScore) -> bool:
    """Whether a value's mean differs from the rest's after Benjamini–Hochberg (p′ < .05)."""
    return score.p_adjusted is not None and score.p_adjusted < 0.05


def segment_means(report: Report) -> go.Figure:
    """A forest plot: each segment value's mean index with its 95% interval, beside everyone's
    mean; filled where it differs from the rest after Benjamini–Hochberg. Small cells are rows
    without numbers.

    Rows are numbered, not categories: two segment items may share a value's label. Each
    segment item has a row of its own, its question written across the plot."""
    index = report.index.name
    rows: list[tuple[Segment, SegmentValue | None]] = []
    for s in report.segments:
        rows += [(s, None), *((s, v) for v in s.values)]
    scores = [None if v is None else _index_score(report, v) for _, v in rows]
    labels = [
        "" if v is None else text(v.value) + _forest_n(v, score, report.min_cell)
        for (_, v), score in zip(rows, scores, strict=True)
    ]
    traces = []
    for name, symbol, chosen in (
        ("Differs from the rest (BH-adjusted p < .05)", "circle", True),
        ("No clear difference", "circle-open", False),
    ):
        mine = [s if s is not None and _differs(s) is chosen else None for s in scores]
        traces.append(
            go.Scatter(
                y=list(range(len(rows))),
                x=[None if s is None else s.mean for s in mine],
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": [_above(s) for s in mine],
                    "arrayminus": [_below(s) for s in mine],
                    "color": INK,
                    "thickness": 1.5,
                    "width": 4,
                },
                mode="markers",
                marker={"symbol": symbol, "size": 10, "color": MAIN, "line": {"width": 2}},
                name=text(name),
                hovertext=[
                    None if s is None or v is None else _forest_hover(seg, v, s, index)
                    for s, (seg, v) in zip(mine, rows, strict=True)
                ],
                hoverinfo="text",
            )
        )
    fig = go.Figure(traces, layout=BLANK)
    shapes: list[dict[str, object]] = [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": n - 0.5,
         "y1": n - 0.5, "line": {"color": GRID, "width": 1}}
        for n, (_, v) in enumerate(rows) if v is None and n
    ]  # fmt: skip
    annotations: list[dict[str, object]] = [
        {"text": wrapped(s.text, 90), "xref": "paper", "x": 0, "xanchor": "left", "yref": "y",
         "y": n, "showarrow": False, "align": "left", "bgcolor": "rgba(255,255,255,0.85)",
         "font": {"size": 13, "color": INK}}
        for n, (s, v) in enumerate(rows) if v is None
    ]  # fmt: skip
    overall = report.index.mean
    if overall is not None:
        shapes.append(
            {"type": "line", "xref": "x", "x0": overall, "x1": overall, "yref": "paper",
             "y0": 0, "y1": 1, "line": {"color": ACCENT, "width": 2, "dash": "dash"}}
        )  # fmt: skip
        annotations.append(
            {"text": f"Everyone: {overall:.1f}", "xref": "x", "x": overall, "yref": "paper",
             "y": 1, "yanchor": "bottom", "showarrow": False,
             "font": {"size": 12, "color": ACCENT}}
        )  # fmt: skip
    tests = adjusted_tests(report)
    suppressed = sum(v.suppressed for _, v in rows if v is not None)
    methods = [
        f"Values with fewer than {report.min_cell} responses are suppressed"
        + (f" ({suppressed} here)." if suppressed else "."),
        (
            f"Each value's mean {index} with its 95% confidence interval (t interval); dashed "
            "line: everyone's mean. Filled: Welch's t-test (two-sided) against the others who "
            "answered the same question, its p adjusted by Benjamini–Hochberg across all "
            f"{tests} tests in this report, is under .05. Hover for n, Hedges' g against the "
            "rest with its 95% CI (Hedges–Olkin), p and the adjusted p."
        ),
    ]
    _style(
        fig,
        f"Mean {index} by segment",
        max(360, 170 + 28 * len(rows)),
        methods,
        legend=True,
        xaxis={"title": {"text": f"Mean {text(index)} (0–100), 95% CI"}, "showgrid": True},
        yaxis={"autorange": "reversed", "automargin": True, "tickmode": "array",
               "tickvals": list(range(len(rows))), "ticktext": labels, "showline": False,
               "ticks": ""},
        shapes=shapes,
        annotations=annotations,
    )  # fmt: skip
    if all(s is None for s in scores):
        _empty(fig, "No segment values to compare with these filters yet.")
    return fig


def adjusted_tests(report: Report) -> int:
    """How many tests Benjamini–Hochberg adjusts over: every segment value's, for the index
    and each dimension."""
    return sum(1 for s in report.segments for v in s.values for g in v.scores if g.p is not None)


def _forest_n(value: SegmentValue, score: GroupScore | None, min_cell: int) -> str:
    if value.suppressed:
        return f" · suppressed (n &lt; {min_cell})"
    return " (no scores)" if score is None else f" (n = {score.n})"


def _forest_hover(segment: Segment, value: SegmentValue, score: GroupScore, index: str) -> str:
    return (
        f"{wrapped(segment.text, 60)}: {text(value.value)}"
        f"<br>mean {text(index)} {_number(score.mean)}"
        f"{_interval(score.low, score.high, 1)} (95% CI), n = {score.n}"
        f"<br>Hedges' g vs the rest: {_number(score.g, 2)}{_interval(score.g_low, score.g_high, 2)}"
        f"<br>Welch p = {_p_text(score.p)}, BH-adjusted p = {_p_text(score.p_adjusted)}"
    )


def _above(score: GroupScore | None) -> float | None:
    if score is None or score.high is None or score.mean is None:
        return None
    return score.high - score.mean


def _below(score: GroupScore | None) -> float | None:
    if score is None or score.low is None or score.mean is None:
        return None
    return score.mean - score.low


def correlation_heatmap(report: Report) -> go.Figure:
    """Pearson's r between dimension scores, blue positive and red negative."""
    names = _names(report)
    c = report.correlations
    labels = [text(names.get(d, d)) for d in c.dimensions]
    fig = go.Figure(
        go.Heatmap(
            z=c.r,
            x=labels,
            y=labels,
            zmin=-1,
            zmax=1,
            zmid=0,
            colorscale="RdBu",
            text=[[_number(v, 2) for v in row] for row in c.r],
            texttemplate="%{text}",
            customdata=c.n,
            hovertemplate="%{y} × %{x}<br>r = %{text} (n = %{customdata})<extra></extra>",
            colorbar={"title": {"text": "r"}, "thickness": 14},
            xgap=2,
            ygap=2,
        ),
        layout=BLANK,
    )
    _style(
        fig,
        "Correlations between dimension scores",
        160 + 56 * max(len(labels), 1),
        "Pearson's r over responses scored on both dimensions",
        xaxis={"side": "bottom", "tickangle": -30, "automargin": True, "showline": False},
        yaxis={"autorange": "reversed", "automargin": True, "showline": False},
    )
    if report.counts.scored < 2:
        _empty(fig, "Too few scored responses for correlations.")
    return fig


def _quotes_by_day(quotes: Sequence[Quote]) -> dict[str, list[Quote]]:
    days: dict[str, list[Quote]] = defaultdict(list)
    for q in quotes:
        days[q.created_at.astimezone(UTC).date().isoformat()].append(q)
    return days


def _quote_hover(quotes: list[Quote], shown: int = 3) -> str:
    parts = [
        f"{wrapped(q.question, 60, 120)}<br>“{wrapped(q.text, 60, 300)}”" for q in quotes[:shown]
    ]
    if len(quotes) > shown:
        parts.append(f"… and {len(quotes) - shown} more (see the quotes list)")
    return "<br><br>".join(parts)


def _day_range(report: Report) -> dict[str, object]:
    """At least two weeks around the data, so that a few days still read as days."""
    if not report.timeline:
        return {}
    first, last = report.timeline[0].day, report.timeline[-1].day
    if (last - first).days >= 14:
        return {}
    pad = timedelta(days=(14 - (last - first).days) // 2 + 1)
    start, end = first - pad, last + pad
    return {
        "range": [start.isoformat(), end.isoformat()],
        "dtick": DAY_MS * 2,
        "tickformat": "%b %d",
    }


def quality_days(report: Report) -> go.Figure:
    """Flagged responses per day (UTC), stacked by flag (a response may have several)."""
    view = report.quality
    flags = [f.flag for f in view.flags]
    colours = sample_colorscale("Viridis", [i / max(len(flags) - 1, 1) for i in range(len(flags))])
    fig = go.Figure(layout=BLANK)
    for flag, colour in zip(flags, colours, strict=True):
        days = [d for d in view.timeline if d.flag == flag]
        fig.add_trace(
            go.Bar(
                x=[d.day.isoformat() for d in days],
                y=[d.count for d in days],
                width=DAY_MS * 0.8,
                marker={"color": colour},
                name=text(flag.replace("_", " ")),
                hovertemplate="%{x}: %{y} " + text(flag.replace("_", " ")) + "<extra></extra>",
            )
        )
    _style(
        fig,
        "Quality flags over time",
        360,
        f"{view.flagged} of {view.responses} responses flagged, per day (UTC) and flag",
        legend=True,
        barmode="stack",
        xaxis={"type": "date", "title": {"text": "Day (UTC)"}, **_day_range(report)},
        yaxis={"title": {"text": "Flags"}, "rangemode": "tozero", "gridcolor": GRID},
    )
    if not flags:
        fig.add_trace(go.Bar(x=[], y=[], name="Flags"))
        _empty(fig)
    return fig


def quality_segments(report: Report) -> go.Figure:
    """The share of responses with a quality flag, per value of each segment item (values
    under the small-cell limit left out)."""
    rows = [
        (f"{s.text}: {v.value}", v)
        for s in report.quality.segments
        for v in s.values
        if not v.suppressed and v.share is not None
    ]
    fig = go.Figure(
        go.Bar(
            y=[wrapped(label, 50) for label, _ in rows],
            x=[100 * (v.share or 0) for _, v in rows],
            orientation="h",
            marker={"color": MAIN},
            customdata=[[v.flagged, v.n] for _, v in rows],
            hovertemplate="%{y}: %{x:.1f}% flagged (%{customdata[0]} of %{customdata[1]})"
            "<extra></extra>",
            name="Flagged",
        ),
        layout=BLANK,
    )
    _style(
        fig,
        "Quality flags by segment",
        max(360, 28 * len(rows) + 140),
        f"Share of each segment value's responses with a quality flag; values with fewer than "
        f"{report.min_cell} responses are not shown",
        xaxis={"title": {"text": "Flagged (%)"}, "rangemode": "tozero", "gridcolor": GRID},
        yaxis={"autorange": "reversed", "automargin": True},
    )
    if not rows:
        _empty(fig)
    return fig


SOURCE_NAMES = {"web": "Web form", "api": "API", "import": "Import", "demo": "Demo"}


def quality_sources(report: Report) -> go.Figure:
    """Flags per channel (the web form, the API, the import, demo data), grouped by flag."""
    view = report.quality
    sources = sorted({s.source for s in view.sources})
    fig = go.Figure(layout=BLANK)
    flags = [f.flag for f in view.flags]
    for source in sources:
        counts = {s.flag: s.count for s in view.sources if s.source == source}
        fig.add_trace(
            go.Bar(
                x=[text(f.replace("_", " ")) for f in flags],
                y=[counts.get(f, 0) for f in flags],
                name=text(SOURCE_NAMES.get(source, source)),
                hovertemplate="%{x}: %{y}<extra>"
                + text(SOURCE_NAMES.get(source, source))
                + "</extra>",
            )
        )
    _style(
        fig,
        "Quality flags by channel",
        360,
        "Responses with each flag, by the channel they came through",
        legend=True,
        barmode="group",
        yaxis={"title": {"text": "Responses"}, "rangemode": "tozero", "gridcolor": GRID},
    )
    if not sources:
        fig.add_trace(go.Bar(x=[], y=[], name="Flags"))
        _empty(fig)
    return fig


def timeline(report: Report) -> go.Figure:
    """Responses per day (UTC); a star above each day with quotable answers, quoted on hover."""
    days = [d.day.isoformat() for d in report.timeline]
    fig = go.Figure(
        go.Bar(
            x=days,
            y=[d.count for d in report.timeline],
            width=DAY_MS * 0.8,
            marker={"color": MAIN},
            name="Responses",
            hovertemplate="%{x}: %{y} responses<extra></extra>",
        ),
        layout=BLANK,
    )
    quoted = _quotes_by_day(report.quotes)
    if quoted:
        ordered = sorted(quoted.items())
        fig.add_trace(
            go.Scatter(
                x=[day for day, _ in ordered],
                y=[0.93] * len(ordered),
                yaxis="y2",
                mode="markers",
                marker={"symbol": "star", "size": 14, "color": ACCENT},
                name="Quotable answers",
                hovertext=[_quote_hover(q) for _, q in ordered],
                hoverinfo="text",
            )
        )
    _style(
        fig,
        "Responses over time",
        360,
        f"{report.counts.total} responses, per day (UTC)"
        + ("; ★ days with quotable answers" if quoted else ""),
        xaxis={"type": "date", "title": {"text": "Day (UTC)"}, **_day_range(report)},
        yaxis={
            "title": {"text": "Responses"},
            "range": [0, 1.2 * max([d.count for d in report.timeline], default=1)],
            "gridcolor": GRID,
            "showgrid": True,
        },
        # The stars' own axis, above the bars (which end at 1/1.2 of the height).
        yaxis2={"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
        legend=bool(quoted),
    )
    if not days:
        _empty(fig)
    return fig


RELIABILITY_METHODS = (
    "Over the responses that answered every item of the dimension. α: Cronbach's alpha, with "
    "its 95% confidence interval by Feldt's method. ω: McDonald's omega total from a "
    "one-factor minres model of the keyed items' correlations (as psych::omega); loading: "
    "each item's on that factor. SEM: the standard error of measurement on the 0–100 scale, "
    "SD × √(1 − α). Weak: item–rest r under .30, or α higher without the item.",
)


def _alpha_text(alpha: float | None, low: float | None, high: float | None) -> str:
    """α with its interval: `0.82 [0.78, 0.86]`."""
    return _number(alpha, 2) + ("" if alpha is None else _interval(low, high, 2))


def reliability_table(report: Report) -> go.Figure:
    """Per dimension α with its interval, ω and the SEM; per item its loading, item–rest r and
    α if it is dropped."""
    items: dict[str, ItemStats] = {i.id: i for i in report.items}
    columns: list[list[str]] = [[] for _ in range(9)]
    fills: list[str] = []
    for number, rel in enumerate(report.reliability):
        for position, row in enumerate(rel.items):
            item = items.get(row.id)
            label = (f"{REVERSED} " if item and item.reverse else "") + wrapped(
                item.text if item else row.id, 48
            )
            first = position == 0
            cells = [
                f"{wrapped(rel.name, 20)}<br>k = {rel.k}" if first else "",
                label,
                str(rel.n) if first else "",
                _alpha_text(rel.alpha, rel.alpha_low, rel.alpha_high) if first else "",
                _number(rel.omega, 2) if first else "",
                _number(rel.sem, 1) if first else "",
                _number(row.loading, 2),
                _number(row.item_rest, 2) + (" (weak)" if row.weak else ""),
                _number(row.alpha_if_dropped, 2),
            ]
            for column, cell in zip(columns, cells, strict=True):
                column.append(cell)
            fills.append("#f3f4f6" if number % 2 else "white")
    # Plotly sizes table rows to their lines of text, and clips what the height leaves out.
    lines = sum(max(c.count("<br>") + 1 for c in row) for row in zip(*columns, strict=True))
    align = ["left", "left", *["right"] * 7]
    fig = go.Figure(
        go.Table(
            columnwidth=[1.9, 4.9, 0.6, 1.9, 0.8, 0.9, 0.9, 1.0, 1.0],
            header={
                "values": [
                    "Dimension",
                    "Item",
                    "n",
                    "α [95% CI]",
                    "ω<br>total",
                    "SEM<br>(0–100)",
                    "Load-<br>ing",
                    "Item–<br>rest r",
                    "α if<br>dropped",
                ],
                "fill": {"color": "#e5e7eb"},
                "align": align,
                "line": {"color": "#d1d5db"},
                "font": {"size": 13, "color": INK, "weight": 700},
            },
            cells={
                "values": columns,
                "fill": {"color": [fills]},
                "align": align,
                "line": {"color": "#e5e7eb"},
                "font": {"size": 12, "color": INK},
                "height": 26,
            },
        ),
        layout=BLANK,
    )
    _style(
        fig,
        "Reliability",
        # A row is 12 pixels and 17 a line of text; the header and margins 170.
        170 + 12 * len(fills) + 17 * lines,
        [
            f"α, ω and the SEM per dimension; each item's loading and item–rest r; {REVERSED} "
            "reverse-keyed.",
            *RELIABILITY_METHODS,
        ],
    )
    return fig


def charts(report: Report) -> list[Chart]:
    """Every chart of the dashboard and the report, in reading order."""
    return [
        Chart(name=name, group=group, title=title, figure=build())
        for name, group, title, build in _plan(report)
    ]


def chart(report: Report, name: str) -> Chart | None:
    """One chart by name, or None; builds only that one."""
    for chart_name, group, title, build in _plan(report):
        if chart_name == name:
            return Chart(name=name, group=group, title=title, figure=build())
    return None


def _plan(report: Report) -> list[tuple[str, str, str, Callable[[], go.Figure]]]:
    names = _names(report)
    likert = [d for d in names if any(i.dimension == d for i in report.items)]
    return [
        ("profiles", "Overview", "Profile mix", partial(profile_mix, report)),
        (
            "index",
            "Overview",
            f"{report.index.name} and profile thresholds",
            partial(index_histogram, report),
        ),
        ("dimensions", "Dimensions", "Dimension scores", partial(dimension_distributions, report)),
        (
            "correlations",
            "Dimensions",
            "Dimension correlations",
            partial(correlation_heatmap, report),
        ),
        *[
            (
                f"likert-{d}",
                "Items",
                f"{names[d]}: answers per item",
                partial(likert_bars, report, d),
            )
            for d in likert
        ],
        *(
            [
                (
                    "means-by-segment",
                    "Segments",
                    f"Mean {report.index.name} by segment",
                    partial(segment_means, report),
                )
            ]
            if report.segments
            else []
        ),
        *[
            (
                f"segment-{s.item}",
                "Segments",
                f"Segment: {s.text}",
                partial(segment_comparison, report, s),
            )
            for s in report.segments
        ],
        ("timeline", "Responses over time", "Responses over time", partial(timeline, report)),
        ("quality", "Response quality", "Quality flags over time", partial(quality_days, report)),
        (
            "quality-sources",
            "Response quality",
            "Quality flags by channel",
            partial(quality_sources, report),
        ),
        (
            "quality-segments",
            "Response quality",
            "Quality flags by segment",
            partial(quality_segments, report),
        ),
        ("reliability", "Reliability", "Reliability", partial(reliability_table, report)),
    ]


# --- the result page ----------------------------------------------------------------------------


def number_text(value: float | None) -> str:
    """A number without a trailing `.0`; '' for none."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)


def score_text(value: float | None) -> str:
    """A score as the API rounds it, without a trailing `.0`; a dash for none."""
    return "–" if value is None else number_text(round(value, 1))


class DimensionView(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str
    score: float | None
    feedback: str | None
    in_index: bool


def dimension_views(q: Questionnaire, scores: Mapping[str, float | None]) -> list[DimensionView]:
    weights = q.weights
    return [
        DimensionView(
            d.id,
            d.name,
            d.description,
            scores.get(d.id),
            feedback(d.feedback, scores.get(d.id)),
            d.id in weights,
        )
        for d in q.dimensions
    ]


def dimension_chart(q: Questionnaire, dimensions: list[DimensionView]) -> str:
    """A horizontal bar per scored dimension, as Plotly figure JSON for the page to draw."""
    index_name = q.scoring.index.name
    shown = [d for d in dimensions if d.score is not None]
    groups = [
        (f"Part of the {index_name}", "#1d4ed8", [d for d in shown if d.in_index]),
        ("Not in the index", "#b45309", [d for d in shown if not d.in_index]),
    ]
    fig = go.Figure()
    for name, colour, group in groups:
        if not group:
            continue
        fig.add_trace(
            go.Bar(
                name=name,
                orientation="h",
                x=[round(d.score or 0.0, 1) for d in group],
                # Plotly reads a subset of HTML in labels; the author's text is shown as text.
                y=[text(d.name) for d in group],
                marker={"color": colour},
                text=[score_text(d.score) for d in group],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:.1f}<extra></extra>",
            )
        )
    fig.update_layout(
        template="none",
        height=120 + 44 * len(shown),
        margin={"l": 8, "r": 36, "t": 8, "b": 40},
        font={"family": "system-ui, sans-serif", "size": 14, "color": "#1f2937"},
        xaxis={"range": [0, 100], "title": {"text": "Score (0–100)"}, "fixedrange": True},
        yaxis={
            "categoryorder": "array",
            "categoryarray": [text(d.name) for d in reversed(shown)],
            "automargin": True,
            "fixedrange": True,
        },
        showlegend=any(not d.in_index for d in shown) and any(d.in_index for d in shown),
        legend={"orientation": "h", "x": 0, "y": -0.25},
        barmode="overlay",
    )
    return fig.to_json() or "{}"
