"""Where a response came from: the channel a survey link names (pure).

A link may carry `?src=NAME`, or the `utm_source` of the usual trio (`utm_medium` and
`utm_campaign` are not kept). The name is kept as the response's channel when the
questionnaire lists it among its `channels`, or, without a list, when it has a channel id's
shape (lowercase letters, digits, - and _, at most 40); anything else counts as OTHER. The
channel is a segment of the report like any other (small cells suppressed), and a column of
the exports.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from survey.core.model import ChoiceItem, Questionnaire
from survey.core.sums import CHANNEL

OTHER = "other"
# The segment's id in the report and its filters: no item id can start with `_`.
SEGMENT = CHANNEL
_SHAPE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def channel_of(q: Questionnaire, params: Mapping[str, str]) -> str | None:
    """The channel a link's parameters name; None when they name none."""
    raw = params.get("src") or params.get("utm_source")
    if not isinstance(raw, str) or not raw.strip():
        return None
    name = raw.strip().lower()
    if q.channels:
        return name if any(c.id == name for c in q.channels) else OTHER
    return name if is_name(name) else OTHER


def is_name(value: str) -> bool:
    """Whether a value has a channel name's shape (as a channel id must)."""
    return _SHAPE.fullmatch(value) is not None


def checked(q: Questionnaire, name: str | None) -> str | None:
    """A channel sent back with a form, checked again (a form field can be anything)."""
    return None if name is None else channel_of(q, {"src": name})


def segment_item(q: Questionnaire, seen: list[str]) -> ChoiceItem:
    """The channel as a segment item: the listed channels, OTHER, then any other name seen
    (kept from before a list was written)."""
    listed = [c.id for c in q.channels]
    options = [*listed, OTHER, *sorted(set(seen) - {*listed, OTHER})]
    return ChoiceItem(id=SEGMENT, text="Channel", options=options, segment=True)


def label(q: Questionnaire, channel: str) -> str:
    """A channel's label: the list's, or the name itself."""
    return next((c.label for c in q.channels if c.id == channel), channel)
