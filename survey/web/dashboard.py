"""The researcher's dashboard: charts, the offline HTML report, print figures.

GET /reports/{slug} is the dashboard page: a filter form that works without JavaScript, every
chart as Plotly figure JSON in a data attribute (drawn by static/dashboard.js with the plotly.js
the app serves), the segment and reliability tables, the quotes and the downloads. GET
.../report.html is the same content as one self-contained file, .../figures/{name}.svg|.pdf one
chart for print, rendered by kaleido in a headless Chromium, and .../norms.csv and
.../norm-percentiles.csv the norm tables, .../codebook.html and .csv the codebook. Every route
needs the `reports` scope.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import segno
from litestar import Litestar, Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template
from markupsafe import Markup

from survey.core import channels, charts, codebook, csvcells, filters, stats
from survey.core.charts import go
from survey.core.model import ChoiceItem, Loaded
from survey.errors import FiguresUnavailable, NotFound, Problem
from survey.flows.export import csv_line
from survey.flows.report import load_norms, load_report
from survey.web import auth, http
from survey.web.assets import PLOTLY_JS, STATIC
from survey.web.http import NO_SURVEY, Db, questionnaire
from survey.web.templating import environment

if TYPE_CHECKING:
    import kaleido  # imported when the first figure is rendered: importing it is slow

FORMATS = {"svg": "image/svg+xml", "pdf": "application/pdf"}


# --- the filter form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Select:
    """A segment item as a <select> of the filter form."""

    id: str
    label: str
    options: list[str]
    chosen: str


def describe(filters: stats.Filters) -> list[str]:
    """The filters in words, as the report states them."""
    parts = []
    if filters.from_day or filters.to_day:
        start = filters.from_day.isoformat() if filters.from_day else "the first response"
        end = filters.to_day.isoformat() if filters.to_day else "the latest"
        parts.append(f"Responses from {start} to {end} (UTC days, both included)")
    if filters.version:
        parts.append(f"Questionnaire version {filters.version} only")
    else:
        parts.append("Every questionnaire version together")
    parts.append(
        "Including synthetic demo responses"
        if filters.include_demo
        else "Excluding synthetic demo responses"
    )
    parts.append(
        {
            "clean": "Responses without quality flags only",
            "flagged": "Responses with quality flags only",
        }.get(filters.quality, "Every response, flagged or not")
    )
    parts.extend(f"{item} = {value}" for item, value in filters.segments.items())
    return parts


def selects(loaded: Loaded, report: stats.Report | None, params: Mapping[str, str]) -> list[Select]:
    """A select per segment item: a choice item's options, a number item's values seen."""
    seen = {s.item: [v.value for v in s.values] for s in report.segments} if report else {}
    out = []
    for item in loaded.definition.segments:
        chosen = params.get(item.id, "")
        if isinstance(item, ChoiceItem):
            options = list(item.options)
        else:
            values = set(seen.get(item.id, [])) | ({chosen} if chosen else set())
            options = sorted(values, key=lambda v: (float(v) if _numeric(v) else 0.0, v))
        out.append(Select(item.id, item.text, options, chosen))
    chosen = params.get("channel", "")
    channels_seen = set(seen.get(channels.SEGMENT, [])) | ({chosen} if chosen else set())
    if channels_seen:  # the channel a response's link named: a filter of its own name
        out.append(Select("channel", "Channel", sorted(channels_seen), chosen))
    return out


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartView:
    name: str
    group: str
    title: str
    figure: str  # Plotly's JSON: `<`, `>` and `/` arrive as \u escapes


def chart_views(report: stats.Report) -> list[ChartView]:
    return [
        ChartView(c.name, c.group, c.title, c.figure.to_json() or "{}")
        for c in charts.charts(report)
    ]


def _context(loaded: Loaded, report: stats.Report) -> dict[str, Any]:
    """What the dashboard and the downloadable report both show."""
    views = chart_views(report)
    items = {i.id: i for i in report.items}
    return {
        "q": loaded.definition,
        "report": report,
        "charts": views,
        "groups": list(dict.fromkeys(v.group for v in views)),
        "filters": describe(report.filters),
        "items": items,
        "tests": charts.adjusted_tests(report),
        "generated": report.generated_at.strftime("%Y-%m-%d %H:%M UTC"),
    }


@functools.cache
def _inline(name: str) -> Markup:
    """A file's text to put inside a <script> or <style> element of the offline report."""
    path = PLOTLY_JS if name == "plotly.js" else STATIC / name
    # Nothing in these files may close the element early.
    return Markup(path.read_text(encoding="utf-8").replace("</", "<\\/"))


def report_html(loaded: Loaded, report: stats.Report) -> str:
    """The self-contained HTML report: plotly.js, styles and figures inline; no network."""
    template = environment().get_template("reports/report.html")
    return template.render(
        **_context(loaded, report),
        css=_inline("survey.css") + _inline("dashboard.css"),
        plotly_js=_inline("plotly.js"),
        draw_js=_inline("dashboard.js"),
    )


def report_filename(report: stats.Report) -> str:
    return f"{report.slug}-report-{report.generated_at:%Y%m%d-%H%M}.html"


# --- print figures -----------------------------------------------------------------------------


class FigureExporter:
    """SVG and PDF through kaleido: one headless Chromium, started on first use, kept open.

    kaleido finds the browser on PATH (Debian's `chromium`) or at $BROWSER_PATH. It renders
    with the plotly.js of the installed plotly package and without MathJax, so it needs no
    network.
    """

    def __init__(self) -> None:
        self._kaleido: kaleido.Kaleido | None = None
        self._lock = asyncio.Lock()

    async def render(self, figure: go.Figure, fmt: str) -> bytes:
        opts = {"format": fmt, "width": charts.WIDTH, "height": figure.layout.height or 500}
        async with self._lock:  # one tab: requests take turns
            if self._kaleido is None:
                import kaleido
                from choreographer.errors import (
                    BrowserDepsError,
                    BrowserFailedError,
                    ChromeNotFoundError,
                )

                try:
                    browser = kaleido.Kaleido(
                        n=1, timeout=60, plotlyjs=str(PLOTLY_JS), mathjax=False
                    )
                    await browser.open()
                except (ChromeNotFoundError, BrowserFailedError, BrowserDepsError) as exc:
                    raise FiguresUnavailable(
                        "SVG and PDF figures need Chromium on the server (Debian's `chromium` "
                        "package, or a browser at $BROWSER_PATH); the HTML report and the PNG "
                        f"button of each chart work without it. {exc}"
                    ) from exc
                self._kaleido = browser
            try:
                data: bytes = await self._kaleido.calc_fig(figure, opts=opts)
            except Exception:
                await self._close()  # a browser that failed once is not trusted again
                raise
            return data

    async def _close(self) -> None:
        browser, self._kaleido = self._kaleido, None
        if browser is not None:
            await browser.close()

    async def close(self) -> None:
        async with self._lock:
            await self._close()


@asynccontextmanager
async def figure_exporter(app: Litestar) -> AsyncGenerator[None, None]:
    """Lifespan: the app's FigureExporter, whose browser closes with the app; plotly is
    imported meanwhile in a thread, so the app answers before it is loaded."""
    exporter = FigureExporter()
    app.state.figure_exporter = exporter
    loading = asyncio.get_running_loop().run_in_executor(None, charts.load_plotly)
    try:
        yield
    finally:
        await loading
        await exporter.close()


# --- handlers ----------------------------------------------------------------------------------


def _params(request: Request[Any, Any, Any], loaded: Loaded) -> dict[str, str]:
    """The filter asked for; the current questionnaire version unless another is asked for
    (`version=` with no value: every version), so versions are never mixed unawares."""
    params = dict(request.query_params)
    params.setdefault("version", loaded.version)
    # The researcher sees the responses without quality flags unless she asks for others.
    params.setdefault("quality", "clean")
    return params


async def _report(
    state: State, db: Db, slug: str, request: Request[Any, Any, Any]
) -> tuple[Loaded, stats.Report]:
    loaded = questionnaire(state, slug, NO_SURVEY)
    where = filters.filter_of(loaded.definition, _params(request, loaded))
    return loaded, await load_report(db, loaded, where, state.settings.min_cell)


@dataclass(frozen=True)
class ChannelLink:
    id: str
    label: str
    url: str
    qr: Markup  # an inline SVG, drawn here from the URL (segno)


def channel_links(loaded: Loaded, base: str) -> list[ChannelLink]:
    """A ready survey link per listed channel, with its QR code as inline SVG."""
    q = loaded.definition
    out = []
    for channel in q.channels:
        url = f"{base}/q/{q.slug}?src={channel.id}"
        # segno draws only modules from the data: nothing of the URL appears as markup.
        svg = segno.make(url, error="m").svg_inline(scale=3)
        out.append(ChannelLink(channel.id, channel.label, url, Markup(svg)))
    return out


@get("/{slug:str}")
async def dashboard(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Template:
    """The dashboard; a filter with a problem shows the form with the problem beside it."""
    loaded = questionnaire(state, slug, NO_SURVEY)
    params = _params(request, loaded)
    where, problems = filters.parse_filter(loaded.definition, params)
    report = None if problems else await load_report(db, loaded, where, state.settings.min_cell)
    context = _context(loaded, report) if report else {"q": loaded.definition, "report": None}
    versions = sorted({loaded.version, *(report.versions if report else [])} - {""})
    return Template(
        "reports/dashboard.html",
        context={
            **context,
            "values": {name: params.get(name, "") for name in filters.NAMES},
            "versions": versions,
            "selects": selects(loaded, report, params),
            "problems": _problems(problems),
            "query": "" if problems else filters.query_of(where),
            "researcher": request.state.researcher,
            "channel_links": channel_links(loaded, str(request.base_url).rstrip("/")),
        },
        status_code=422 if problems else 200,
    )


def _problems(problems: list[Problem]) -> dict[str, str]:
    return {p.field: p.message for p in problems}


@get("/{slug:str}/report.html")
async def download_report(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Response[str]:
    """The self-contained HTML report, with the dashboard's filters, as a download."""
    loaded, report = await _report(state, db, slug, request)
    return Response(
        report_html(loaded, report),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{report_filename(report)}"'},
    )


@get("/{slug:str}/figures/{name:str}")
async def figure(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str], name: FromPath[str]
) -> Response[bytes]:
    """One chart as SVG or PDF (`profiles.svg`, `index.pdf`, …), for print."""
    stem, _, fmt = name.rpartition(".")
    if fmt not in FORMATS:
        raise NotFound("Figures come as .svg or .pdf.")
    _, report = await _report(state, db, slug, request)
    chart = charts.chart(report, stem)
    if chart is None:
        raise NotFound(f"There is no chart named {stem!r}.")
    data = await state.figure_exporter.render(chart.figure, fmt)
    filename = f"{report.slug}-{stem}-{report.generated_at:%Y%m%d}.{fmt}"
    return Response(
        data,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


async def _norms(
    state: State, db: Db, slug: str, request: Request[Any, Any, Any]
) -> list[stats.Norm]:
    loaded = questionnaire(state, slug, NO_SURVEY)
    where = filters.filter_of(loaded.definition, _params(request, loaded))
    return await load_norms(db, loaded, where, state.settings.min_cell)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[str]], name: str) -> Response[bytes]:
    """A small CSV download, dated: `name` and today's UTC date make its file name."""
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    return Response(
        b"".join(csv_line(row) for row in (columns, *rows)),
        media_type="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


@get("/{slug:str}/norms.csv")
async def norms_csv(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Response[bytes]:
    """The norm tables with the dashboard's filters, long: the percent of each group (everyone,
    each segment value) at or below each whole score of the index and each dimension."""
    norms = await _norms(state, db, slug, request)
    return _csv(csvcells.NORM_COLUMNS, csvcells.norm_rows(norms), f"{slug}-norms")


@get("/{slug:str}/norm-percentiles.csv")
async def norm_percentiles_csv(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Response[bytes]:
    """The norm tables' percentiles (5th to 95th) with the dashboard's filters, long."""
    norms = await _norms(state, db, slug, request)
    return _csv(
        csvcells.PERCENTILE_COLUMNS, csvcells.percentile_rows(norms), f"{slug}-norm-percentiles"
    )


# --- the codebook ------------------------------------------------------------------------------


def codebook_html(book: codebook.Codebook, stated: list[str], now: datetime) -> str:
    """The printable codebook: tables and a print stylesheet, no script; `stated`, the
    statistics' filters in words."""
    template = environment().get_template("reports/codebook.html")
    return template.render(
        book=book,
        filters=stated,
        reliability={r.dimension: r for r in book.reliability},
        fixed=lambda value: "" if value is None else f"{value:.2f}",
        generated=now.strftime("%Y-%m-%d %H:%M UTC"),
    )


async def _codebook(
    state: State, db: Db, slug: str, request: Request[Any, Any, Any]
) -> tuple[codebook.Codebook, stats.Report]:
    loaded, report = await _report(state, db, slug, request)
    return codebook.codebook(loaded, report), report


@get("/{slug:str}/codebook.html")
async def codebook_page(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Response[str]:
    """The printable codebook, its statistics with the dashboard's filters, as a download."""
    book, report = await _codebook(state, db, slug, request)
    name = f"{slug}-codebook-{report.generated_at:%Y-%m-%d}.html"
    return Response(
        codebook_html(book, describe(report.filters), report.generated_at),
        media_type="text/html; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@get("/{slug:str}/codebook.csv")
async def codebook_csv(
    state: State, db: Db, request: Request[Any, Any, Any], slug: FromPath[str]
) -> Response[bytes]:
    """The codebook as CSV, a row per variable of the CSV export."""
    book, _ = await _codebook(state, db, slug, request)
    return _csv(codebook.CSV_COLUMNS, codebook.csv_rows(book), f"{slug}-codebook")


def router() -> Router:
    """The dashboard routes under /reports, for researchers with the `reports` scope."""
    return Router(
        auth.LOGIN_PATH,
        route_handlers=[
            dashboard,
            download_report,
            figure,
            norms_csv,
            norm_percentiles_csv,
            codebook_page,
            codebook_csv,
        ],
        guards=[auth.requires_scope("reports")],
        after_request=http.secure,
        include_in_schema=False,
    )
