"""Jinja for the pages: the environment, its filters and globals, and Litestar's config."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from survey.core import display
from survey.core.charts import number_text, score_text
from survey.core.model import Item, ShowIf
from survey.web.assets import asset_url, plotly_style_ids

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _paragraphs(text: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text or "") if p.strip()]


def _kind(item: Item) -> str:
    tag = type(item).__struct_config__.tag
    return str(tag)


def _show_if_json(condition: ShowIf) -> str:
    """A display condition for form.js, which hides what it does not show."""
    return msgspec.json.encode(condition).decode()


def _signed(value: float) -> str:
    """A change as the scores are rounded (one decimal), with its sign; no change is 0."""
    text = score_text(value)
    return text if text in ("0", "–") or text.startswith("-") else f"+{text}"


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        paragraphs=_paragraphs,
        num=number_text,
        score=score_text,
        signed=_signed,
        kind=_kind,
        condition=display.describe,
        show_if_json=_show_if_json,
    )
    env.globals.update(asset=asset_url, plotly_style_ids=plotly_style_ids)
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
