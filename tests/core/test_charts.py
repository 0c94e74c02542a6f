"""Charts from reports: every chart builds, with data and without, and nothing typed runs."""

from __future__ import annotations

import html
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import plotly.graph_objects as go
import pytest

from survey.core import charts, scoring, stats
from survey.core.filters import ReportFilter
from survey.core.model import (
    Answer,
    ChoiceItem,
    LikertItem,
    Loaded,
    MultiChoiceItem,
    NumberItem,
    Questionnaire,
    TextItem,
)
from survey.core.sums import shape_of

XSS = "<script>alert(1)</script><img src=x onerror=alert(1)>"
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


# --- a report from plausible responses, summed in Python as the store sums them in SQL ---


def plausible_answers(q: Questionnaire, rng: random.Random) -> dict[str, Answer]:
    """Answers from a latent Connector-ness, so that dimensions correlate as in life."""
    lean = rng.random()
    answers: dict[str, Answer] = {}
    for item in q.items:
        if rng.random() < 0.05 and not item.required:
            continue
        match item:
            case LikertItem():
                points = q.scales[item.scale].points
                agree = (1 - lean if item.reverse else lean) + rng.gauss(0, 0.25)
                position = min(max(round(agree * (len(points) - 1)), 0), len(points) - 1)
                answers[item.id] = points[position]
            case ChoiceItem():
                answers[item.id] = rng.choice(item.options[:3] + item.options[:1] * 3)
            case MultiChoiceItem():
                answers[item.id] = rng.sample(item.options, rng.randint(1, 3))
            case NumberItem():
                answers[item.id] = rng.choice([2, 5, 10, 10, 20, 20, 20])
            case TextItem():
                answers[item.id] = rng.choice(["People first.", "Numbers look good."])
    return answers


def sums_of(
    loaded: Loaded, responses: list[tuple[datetime, dict[str, Answer]]]
) -> dict[tuple[str, ...], float]:
    q = loaded.definition
    shape = shape_of(q)
    sums: dict[tuple[str, ...], float] = defaultdict(float)

    def add(value: float, *key: str) -> None:
        sums[key] += value

    def printed(value: Any) -> str:
        return str(value)

    for at, answers in responses:
        result = scoring.score(q, answers)
        dims = {k: v for k, v in result.dimensions.items() if v is not None}
        add(1, "n")
        add(1, "t", at.date().isoformat())
        add(1, "ver", loaded.version)
        if result.complete:
            assert result.index is not None
            add(1, "scored")
            add(1, "i", f"{round(result.index, 4):.4f}")
        if result.profile is not None:
            add(1, "p", result.profile.id)
        for item in shape.counted:
            if item in answers:
                add(1, "v", item, printed(answers[item]))
        for item in shape.multi:
            for option in answers.get(item) or []:  # type: ignore[union-attr]
                add(1, "v", item, option)
        for dim, value in dims.items():
            add(1, "d", dim, f"{round(value, 4):.4f}")
        for dim in {d.id for d in q.dimensions}:
            items = [i.id for i in q.likert_items(dim)]
            if all(i in answers for i in items):
                add(1, "r", dim)
                for a in items:
                    add(float(answers[a]), "r", dim, a)  # type: ignore[arg-type]
                    for b in items:
                        if a <= b:
                            add(float(answers[a]) * float(answers[b]), "r", dim, a, b)  # type: ignore[arg-type]
        for a in dims:
            for b in dims:
                if a < b:
                    for part, value in (
                        ("n", 1.0), ("a", dims[a]), ("b", dims[b]), ("aa", dims[a] ** 2),
                        ("bb", dims[b] ** 2), ("ab", dims[a] * dims[b]),
                    ):  # fmt: skip
                        add(value, "c", a, b, part)
        for item in shape.segments:
            if item in answers:
                value = printed(answers[item])
                add(1, "g", item, value, "n")
                add(1 if result.complete else 0, "g", item, value, "scored")
                add(result.index or 0.0, "g", item, value, "isum")
                add((result.index or 0.0) ** 2, "g", item, value, "isq")
                for dim, score in dims.items():
                    for part, x in (("n", 1.0), ("s", score), ("ss", score * score)):
                        add(x, "gd", item, value, dim, part)
                if result.profile is not None:
                    add(1, "g", item, value, "p", result.profile.id)
    return dict(sums)


def report_of(
    loaded: Loaded,
    count: int,
    quotes: list[tuple[datetime, str, str]] | None = None,
    seed: int = 7,
    extra: list[dict[str, Answer]] | None = None,
) -> stats.Report:
    rng = random.Random(seed)
    start = NOW - timedelta(days=20)
    responses = [
        (
            start + timedelta(hours=rng.randint(0, 20 * 24)),
            plausible_answers(loaded.definition, rng),
        )
        for _ in range(count)
    ]
    responses += [(start, answers) for answers in extra or []]
    return stats.build_report(
        loaded,
        sums_of(loaded, responses),
        where=ReportFilter(),
        quotes=quotes or [],
        min_cell=5,
        now=NOW,
    )


@pytest.fixture(scope="module")
def connector(questionnaires: dict[str, Loaded]) -> Loaded:
    return questionnaires["connector"]


@pytest.fixture(scope="module")
def full(connector: Loaded) -> stats.Report:
    return report_of(connector, 80, quotes=[(NOW, "real_connector", XSS)])


@pytest.fixture(scope="module")
def empty(connector: Loaded) -> stats.Report:
    return report_of(connector, 0)


def figure_json(fig: go.Figure) -> str:
    """The figure's JSON with Plotly's \\u escapes of < > / decoded, so that markup would show."""
    return json.dumps(json.loads(fig.to_json() or "{}"), ensure_ascii=False)


def all_text(fig: go.Figure) -> Iterator[str]:
    """Every string anywhere in the figure's JSON."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from walk(value)
        elif isinstance(node, list):
            for value in node:
                yield from walk(value)

    yield from walk(json.loads(figure_json(fig)))


# --- tests -----------------------------------------------------------------------------------


def test_the_data_behind_the_report_is_plausible(full: stats.Report) -> None:
    assert full.counts.total == 80
    assert full.counts.scored > 60
    assert all(r.alpha is not None and r.alpha > 0.5 for r in full.reliability)


@pytest.mark.parametrize("which", ["full", "empty"])
def test_every_chart_builds_with_data_and_without(
    which: str, full: stats.Report, empty: stats.Report, connector: Loaded
) -> None:
    report = full if which == "full" else empty
    built = charts.charts(report)
    names = [c.name for c in built]
    q = connector.definition
    assert names[:4] == ["profiles", "index", "dimensions", "correlations"]
    assert {f"likert-{d.id}" for d in q.dimensions} <= set(names)
    assert {f"segment-{s.id}" for s in q.segments} <= set(names)
    assert names.index("means-by-segment") < names.index(f"segment-{q.segments[0].id}")
    assert names[-5:] == [
        "timeline",
        "quality",
        "quality-sources",
        "quality-segments",
        "reliability",
    ]
    assert len(names) == len(set(names))
    for c in built:
        assert isinstance(c.figure, go.Figure)
        assert json.loads(figure_json(c.figure))["data"], c.name
        assert c.figure.layout.height and c.figure.layout.height >= 300, c.name


def test_every_chart_of_the_questionnaire_of_another_shape_builds(
    questionnaires: dict[str, Loaded],
) -> None:
    teamwork = questionnaires["teamwork"]
    for count in (0, 40):
        report = report_of(teamwork, count)
        names = [c.name for c in charts.charts(report)]
        assert "likert-trust" in names and "segment-team_size" in names


def test_an_empty_report_says_so_in_its_charts(empty: stats.Report) -> None:
    for name in ("profiles", "index", "timeline"):
        chart = charts.chart(empty, name)
        assert chart is not None
        assert any("No responses" in (a.text or "") for a in chart.figure.layout.annotations)


def test_the_index_histogram_draws_every_profile_threshold(full: stats.Report) -> None:
    chart = charts.chart(full, "index")
    assert chart is not None
    lines = sorted(s.x0 for s in chart.figure.layout.shapes if s.type == "line")
    assert lines == [40, 70]  # the connector profiles' grid: under 40, 40 to 70, 70 or more
    labels = [a.text for a in chart.figure.layout.annotations]
    # Six profiles cut at each: the line says what it is rather than listing them.
    assert labels == ["Profile cut-off 40", "Profile cut-off 70"]


def test_the_histogram_bars_add_up_to_the_scored_responses(full: stats.Report) -> None:
    chart = charts.chart(full, "index")
    assert chart is not None
    assert sum(chart.figure.data[0].y) == full.counts.scored


def test_likert_bars_diverge_with_disagreement_on_the_negative_side(full: stats.Report) -> None:
    chart = charts.chart(full, "likert-personalization")
    assert chart is not None
    by_name: dict[str, list[float]] = defaultdict(list)
    for trace in chart.figure.data:
        by_name[trace.name].append(sum(trace.x))
    assert by_name["Never"][0] < 0 and by_name["Rarely"][0] < 0
    assert by_name["Often"][0] > 0 and by_name["Always"][0] > 0
    # The middle answer is split evenly across zero.
    low, high = by_name["Sometimes"]
    assert low == pytest.approx(-high)
    # Each item's bar spans 100% of its answers.
    widths = [
        sum(abs(t.x[i]) for t in chart.figure.data) for i in range(len(chart.figure.data[0].x))
    ]
    assert widths == pytest.approx([100.0] * len(widths))


def test_reverse_keyed_items_are_marked(full: stats.Report, connector: Loaded) -> None:
    chart = charts.chart(full, "likert-personalization")
    assert chart is not None
    labels = list(chart.figure.data[0].y)
    items = connector.definition.likert_items("personalization")
    assert len(labels) == len(items)
    for label, item in zip(labels, items, strict=True):
        assert label.startswith(charts.REVERSED) == item.reverse, label


def test_a_suppressed_segment_value_shows_no_counts(connector: Loaded) -> None:
    rare = plausible_answers(connector.definition, random.Random(1))
    rare["industry"] = "Healthcare"  # one response: under min_cell
    report = report_of(connector, 60, extra=[rare])
    [segment] = [s for s in report.segments if s.item == "industry"]
    assert any(v.value == "Healthcare" and v.suppressed for v in segment.values)
    chart = charts.chart(report, "segment-industry")
    assert chart is not None
    fig = chart.figure
    rows = list(fig.data[0].y)
    row = next(i for i, label in enumerate(rows) if label.startswith("Healthcare"))
    assert rows[row] == "Healthcare · suppressed (n &lt; 5)"
    for trace in fig.data:
        assert trace.x[row] is None, trace.name
        if trace.customdata is not None:
            assert trace.customdata[row] is None
        if trace.text is not None and not isinstance(trace.text, str):
            assert trace.text[row] == "suppressed"
    shown = next(i for i, label in enumerate(rows) if "suppressed" not in label)
    assert "(n = " in rows[shown]


def test_typed_text_is_escaped_in_every_figure(connector: Loaded, full: stats.Report) -> None:
    segment = full.segments[0]
    hostile = msgspec.structs.replace(
        full,
        segments=[
            msgspec.structs.replace(
                segment,
                values=[
                    msgspec.structs.replace(segment.values[0], value=XSS),
                    *segment.values[1:],
                ],
            ),
            *full.segments[1:],
        ],
    )
    built = charts.charts(hostile)
    everything = "".join(figure_json(c.figure) for c in built)
    assert "<script" not in everything and "<img" not in everything
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in everything
    segment_chart = charts.chart(hostile, f"segment-{segment.item}")
    timeline = charts.chart(hostile, "timeline")
    assert segment_chart is not None and timeline is not None
    assert any("&lt;script&gt;" in s for s in all_text(segment_chart.figure))
    [stars] = [t for t in timeline.figure.data if t.name == "Quotable answers"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in stars.hovertext[0]


def test_text_escapes_markup_so_that_plotly_shows_it_as_typed() -> None:
    assert charts.text('<b>"R&D"</b>') == "&lt;b&gt;&#34;R&amp;D&#34;&lt;/b&gt;"


def test_the_reliability_table_lists_every_likert_item_with_alpha(
    full: stats.Report, connector: Loaded
) -> None:
    chart = charts.chart(full, "reliability")
    assert chart is not None
    [table] = chart.figure.data
    header = table.header.values
    assert header[3] == "α [95% CI]" and header[4] == "ω<br>total"
    _, item, n, alpha, omega, sem, loading, item_rest, _ = table.cells.values
    assert len(item) == len(connector.definition.likert_items())
    first = full.reliability[0]
    assert n[0] == str(first.n)
    assert alpha[0] == f"{first.alpha:.2f} [{first.alpha_low:.2f}, {first.alpha_high:.2f}]"
    assert first.omega is not None and omega[0] == f"{first.omega:.2f}"
    assert sem[0] == f"{first.sem:.1f}" and first.sem is not None and 0 < first.sem < 20
    assert list(loading[: len(first.items)]) == [f"{i.loading:.2f}" for i in first.items]
    assert all(v != "–" for v in item_rest)
    # The methods are named under the title.
    methods = subtitle(chart.figure)
    for name in ("Cronbach", "Feldt", "McDonald", "minres", "psych::omega", "√(1 − α)"):
        assert name in methods, name


def subtitle(fig: go.Figure) -> str:
    """The subtitle as it reads: lines joined, entities decoded."""
    return html.unescape(fig.layout.title.subtitle.text.replace("<br>", " "))


# --- the segments' forest plot ---------------------------------------------------------------


def forest_rows(report: stats.Report) -> list[tuple[stats.Segment, stats.SegmentValue | None]]:
    """The plot's rows, top to bottom: each segment item's own row, then its values."""
    rows: list[tuple[stats.Segment, stats.SegmentValue | None]] = []
    for s in report.segments:
        rows += [(s, None), *((s, v) for v in s.values)]
    return rows


@pytest.fixture(scope="module")
def with_rare(connector: Loaded) -> stats.Report:
    rare = plausible_answers(connector.definition, random.Random(1))
    rare["industry"] = "Healthcare"  # one response: under min_cell
    return report_of(connector, 120, extra=[rare])


def test_the_forest_plot_has_a_point_per_shown_value_with_the_reports_interval(
    with_rare: stats.Report,
) -> None:
    chart = charts.chart(with_rare, "means-by-segment")
    assert chart is not None and chart.group == "Segments"
    fig = chart.figure
    rows = forest_rows(with_rare)
    assert list(fig.layout.yaxis.tickvals) == list(range(len(rows)))
    points = 0
    for number, (segment, value) in enumerate(rows):
        drawn = [t for t in fig.data if t.x[number] is not None]
        if value is None or value.suppressed:
            assert drawn == [], (segment.item, value)
            for trace in fig.data:
                assert trace.error_x.array[number] is None
                assert trace.error_x.arrayminus[number] is None
                assert trace.hovertext[number] is None
            continue
        [trace] = drawn  # one point per value, in one of the two traces
        [score] = [g for g in value.scores if g.id == with_rare.index.id]
        assert score.low is not None and score.high is not None
        x = trace.x[number]
        assert x == score.mean
        assert x + trace.error_x.array[number] == pytest.approx(score.high, abs=1e-9)
        assert x - trace.error_x.arrayminus[number] == pytest.approx(score.low, abs=1e-9)
        assert fig.layout.yaxis.ticktext[number] == f"{charts.text(value.value)} (n = {score.n})"
        hover = trace.hovertext[number]
        assert f"n = {score.n}" in hover and f"{score.g:.2f}" in hover
        assert "Welch p = " in hover and "BH-adjusted p = " in hover
        points += 1
    shown = [v for s in with_rare.segments for v in s.values if not v.suppressed]
    assert points == len(shown) > 5
    [rare] = [n for n, (_, v) in enumerate(rows) if v is not None and v.suppressed]
    assert fig.layout.yaxis.ticktext[rare] == "Healthcare · suppressed (n &lt; 5)"
    # Each segment item's question heads its rows.
    questions = {a.y: a.text for a in fig.layout.annotations if a.yref == "y"}
    assert questions == {
        n: charts.wrapped(s.text, 90) for n, (s, v) in enumerate(rows) if v is None
    }


def test_the_forest_plot_draws_everyones_mean_and_names_its_methods(
    with_rare: stats.Report,
) -> None:
    chart = charts.chart(with_rare, "means-by-segment")
    assert chart is not None
    [line] = [s for s in chart.figure.layout.shapes if s.xref == "x"]
    assert line.x0 == line.x1 == with_rare.index.mean
    methods = subtitle(chart.figure)
    for name in ("95% confidence interval (t interval)", "Hedges' g", "Hedges–Olkin",
                 "Welch's t-test", "Benjamini–Hochberg", "fewer than 5 responses"):  # fmt: skip
        assert name in methods, name
    tests = sum(1 for s in with_rare.segments for v in s.values for g in v.scores if g.p)
    assert f"across all {tests} tests" in methods


def test_a_value_that_differs_after_benjamini_hochberg_is_filled(
    with_rare: stats.Report,
) -> None:
    segment = with_rare.segments[0]
    first, second, *_ = segment.values  # Technology, Finance: the rare one comes last

    def adjusted(value: stats.SegmentValue, p: float) -> stats.SegmentValue:
        index, *dimensions = value.scores
        return msgspec.structs.replace(
            value, scores=[msgspec.structs.replace(index, p_adjusted=p), *dimensions]
        )

    values = [
        adjusted(v, 0.0004) if v is first else adjusted(v, 0.2) if v is second else v
        for v in segment.values
    ]
    report = msgspec.structs.replace(
        with_rare,
        segments=[msgspec.structs.replace(segment, values=values), *with_rare.segments[1:]],
    )
    chart = charts.chart(report, "means-by-segment")
    assert chart is not None
    filled, hollow = chart.figure.data
    assert filled.marker.symbol == "circle" and hollow.marker.symbol == "circle-open"
    assert "p &lt; .05" in filled.name
    assert filled.x[1] is not None and hollow.x[1] is None  # row 0 is the question
    assert filled.x[2] is None and hollow.x[2] is not None
    assert "BH-adjusted p = &lt; 0.001" in filled.hovertext[1]
    assert "BH-adjusted p = 0.200" in hollow.hovertext[2]


def test_the_correlation_heatmap_is_symmetric_with_ones_on_the_diagonal(
    full: stats.Report,
) -> None:
    chart = charts.chart(full, "correlations")
    assert chart is not None
    z = chart.figure.data[0].z
    assert all(z[i][i] == 1.0 for i in range(len(z)))
    assert all(z[i][j] == z[j][i] for i in range(len(z)) for j in range(len(z)))


def test_an_unknown_chart_name_is_none(full: stats.Report) -> None:
    assert charts.chart(full, "nope") is None


def test_a_dimension_on_two_scales_names_both_labels_of_each_position(full: stats.Report) -> None:
    # collecting: behaviours on a frequency scale, attitudes on an agreement scale.
    chart = charts.chart(full, "likert-collecting")
    assert chart is not None
    names = list(dict.fromkeys(trace.name for trace in chart.figure.data))
    assert "Never / Strongly disagree" in names and "Always / Strongly agree" in names
