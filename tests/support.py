"""Helpers that several test modules share: ports, a served process, administrative SQL."""

from __future__ import annotations

import socket
import subprocess
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from survey.core.model import Questionnaire


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until_ready(process: subprocess.Popen, url: str, log: Path, timeout: float = 30) -> None:
    """Wait until `url` answers 200; fail with the process's log if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"survey serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"survey serve was not ready within {timeout} s:\n{log.read_text()}")


async def admin(url: str, *statements: str) -> None:
    """Run statements one by one on a connection of their own (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


# --- the scoring rules again, independently of survey.core.scoring ---------------------------


def shown_items(q: Questionnaire, answers: dict[str, Any]) -> set[str]:
    """The display rules written out again: in order, an item is shown when its section's and
    its own condition hold on the answers to the items shown before it."""
    shown: set[str] = set()

    def holds(c: Any) -> bool:
        if c is None:
            return True
        value = answers.get(c.item) if c.item in shown else None
        if value in ("", []):
            value = None
        checks = []
        if c.answered is not None:
            checks.append((value is not None) == c.answered)
        if c.in_ is not None:
            picked = value if isinstance(value, list) else [value]
            checks.append(bool(set(c.in_) & {v for v in picked if isinstance(v, str)}))
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if c.at_least is not None:
            checks.append(number and value >= c.at_least)
        if c.below is not None:
            checks.append(number and value < c.below)
        return all(checks)

    for section in q.sections:
        visible = holds(section.show_if)
        for item in section.items:
            if visible and holds(item.show_if):
                shown.add(item.id)
    return shown


def exact_scores(
    q: Questionnaire, answers: dict[str, Any]
) -> tuple[dict[str, Fraction | None], Fraction | None]:
    """The scoring rules written out again, in exact fractions, independently of the scorer:
    shown items only, N/A answers not scored and not counted as applicable."""
    shown = shown_items(q, answers)
    answers = {k: v for k, v in answers.items() if k in shown}
    dims: dict[str, Fraction | None] = {}
    for dim in q.dimensions:
        items = [
            i
            for s in q.sections
            for i in s.items
            if getattr(i, "dimension", None) == dim.id and i.id in shown
        ]
        scores = []
        not_applicable = sum(answers.get(item.id) == "na" for item in items)
        for item in items:
            if item.id in answers and answers[item.id] != "na":
                values = q.scales[item.scale].points
                m, top = min(values), max(values)
                v = answers[item.id]
                keyed = m + top - v if item.reverse else v
                scores.append(Fraction(100) * (keyed - m) / (top - m))
        need = Fraction(str(q.scoring.min_answered)) * (len(items) - not_applicable)
        dims[dim.id] = (
            sum(scores, Fraction(0)) / len(scores) if scores and len(scores) >= need else None
        )
    weights = q.weights
    if not weights or any(dims[d] is None for d in weights):
        index = None
    else:
        total = sum(Fraction(str(w)) for w in weights.values())
        index = sum(Fraction(str(w)) * dims[d] for d, w in weights.items()) / total  # type: ignore[operator]
    return dims, index
