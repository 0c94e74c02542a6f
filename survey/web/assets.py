"""Static files: served with a content hash in their URL, gzipped once per process."""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
from pathlib import Path
from typing import Any

import plotly
from litestar import Request, Response, get
from litestar.params import FromPath
from plotly.offline import get_plotlyjs_version

from survey.errors import NotFound
from survey.web import http

STATIC = Path(__file__).resolve().parent / "static"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@functools.cache
def _assets() -> dict[str, Path]:
    files = {path.name: path for path in STATIC.iterdir() if path.is_file()}
    files[f"plotly-{get_plotlyjs_version()}.min.js"] = PLOTLY_JS
    return files


@functools.cache
def _asset(name: str) -> tuple[bytes, bytes]:
    """A static file and its gzip, compressed once per process (plotly.js is 4.8 MB)."""
    raw = _assets()[name].read_bytes()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@functools.cache
def asset_url(name: str) -> str:
    """A URL that changes with the content, so it may be cached for good."""
    if name == "plotly.js":
        return f"/static/plotly-{get_plotlyjs_version()}.min.js"
    digest = hashlib.sha256(_asset(name)[0]).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


@functools.cache
def plotly_style_ids() -> tuple[str, ...]:
    """Ids of the <style> elements plotly.js adds on load unless an element with the id exists.

    The bundle carries maplibre's CSS for map charts and injects it as an inline style, which
    the CSP blocks (and a console error says so); the result page holds empty elements with
    these ids so that plotly.js leaves it out. Its own rules it skips thanks to chart.css.
    """
    source = PLOTLY_JS.read_text(encoding="utf-8")
    pattern = r'getElementById\("([0-9a-f]{64})"\)\)\{var \w+=document\.createElement\("style"\)'
    return tuple(re.findall(pattern, source))


MEDIA_TYPES = {".css": "text/css", ".js": "text/javascript"}


@get(
    "/static/{name:str}",
    include_in_schema=False,
    # Sent already compressed; the compression middleware must leave it alone.
    opt={"skip_compression": True},
)
async def static_asset(request: Request[Any, Any, Any], name: FromPath[str]) -> Response[bytes]:
    if name not in _assets():
        raise NotFound("no such file")
    raw, packed = _asset(name)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    media_type = MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    if http.accepts_gzip(request.headers.get("accept-encoding", "")):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type=media_type, headers=headers)
    return Response(raw, media_type=media_type, headers=headers)
