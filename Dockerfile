# syntax=docker/dockerfile:1
# Build: the locked dependencies first (cached while only the code changes), then the project.
FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY survey survey
COPY migrations migrations
COPY questionnaires questionnaires
RUN uv sync --frozen --no-dev

# Run: no build tools, no uv, a user without privileges. Debian's Chromium renders the SVG and
# PDF figure downloads (kaleido drives it headless); fonts so that chart text has glyphs.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app survey
WORKDIR /app
COPY --from=build --chown=root:root /app /app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 BROWSER_PATH=/usr/bin/chromium
USER survey
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["survey", "serve", "--host", "0.0.0.0", "--port", "8000"]
