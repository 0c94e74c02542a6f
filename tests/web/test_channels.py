"""Channels: a survey link's `?src=` carried through the form (and a paged form's drafts),
stored as the response's channel, a segment of the report and a column of the exports; an
unknown or hostile name stored as `other` and never echoed unescaped."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

from survey.core.filters import filter_of
from survey.errors import InvalidQuery
from survey.flows.report import load_report
from tests.web.test_exports import bearer, token

pytestmark = pytest.mark.anyio


def likert(loaded, value: int = 4) -> dict[str, str]:
    return {i.id: str(value) for i in loaded.definition.likert_items()}


async def send(client, path: str, fields: dict[str, str]) -> str:
    """Open the form at `path` as a browser would and send it; the result's location."""
    page = await client.get(path)
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input type=hidden name=(_\w+) value="([^"]*)">', page.text))
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)[1]
    slug = path.split("?")[0].rsplit("/", 1)[1]
    sent = await client.post(
        f"/q/{slug}",
        data={**fields, **hidden, "_csrf_token": csrf, "_consent": "on"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    return sent.headers["location"]


async def test_a_response_through_a_channel_link_counts_under_it_in_the_report_and_exports(
    client, conn, questionnaires
):
    loaded = questionnaires["connector"]
    form = await client.get("/q/connector?src=newsletter")
    assert '<input type=hidden name=_src value="newsletter">' in form.text
    for _ in range(5):
        await send(client, "/q/connector?src=newsletter", likert(loaded))
    await send(client, "/q/connector?utm_source=LinkedIn&utm_medium=social", likert(loaded, 3))
    await send(client, "/q/connector", likert(loaded, 2))
    stored = await conn.fetch("SELECT channel, count(*) AS n FROM response GROUP BY 1 ORDER BY 1")
    assert [(r["channel"], r["n"]) for r in stored] == [
        ("linkedin", 1),
        ("newsletter", 5),
        (None, 1),
    ]

    report = await load_report(conn, loaded, filter_of(loaded.definition, {}), 5)
    [segment] = [s for s in report.segments if s.item == "_channel"]
    values = {v.value: v for v in segment.values}
    assert values["newsletter"].n == 5 and not values["newsletter"].suppressed
    assert values["linkedin"].suppressed  # one response: a small cell, no numbers
    only = await load_report(
        conn, loaded, filter_of(loaded.definition, {"channel": "newsletter"}), 5
    )
    assert only.counts.total == 5

    secret = await token(conn)
    exported = await client.get(
        "/api/v1/questionnaires/connector/responses.csv", headers=bearer(secret)
    )
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert sorted(r["channel"] for r in rows) == ["", "linkedin", *["newsletter"] * 5]
    lines = await client.get(
        "/api/v1/questionnaires/connector/responses.jsonl", headers=bearer(secret)
    )
    assert sorted(str(json.loads(x).get("channel")) for x in lines.text.splitlines()) == [
        "None", "linkedin", *["newsletter"] * 5
    ]  # fmt: skip


@pytest.mark.parametrize(
    "src",
    ['"><script>alert(1)</script>', "a" * 80, "News Letter", "../../etc", "%00"],
)
async def test_a_hostile_or_unknown_name_is_stored_as_other_and_never_echoed(
    client, conn, questionnaires, src
):
    loaded = questionnaires["connector"]
    page = await client.get("/q/connector", params={"src": src})
    assert '<input type=hidden name=_src value="other">' in page.text
    assert src not in page.text
    await send(client, "/q/connector?" + f"src={src}".replace("#", ""), likert(loaded))
    assert await conn.fetchval("SELECT channel FROM response") == "other"


async def test_a_forged_channel_field_is_checked_again(client, conn, questionnaires):
    loaded = questionnaires["connector"]
    page = await client.get("/q/connector")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text)[1]
    fields = {**likert(loaded), "_consent": "on", "_csrf_token": csrf, "_src": "<b>x</b>"}
    sent = await client.post("/q/connector", data=fields, follow_redirects=False)
    assert sent.status_code == 303
    assert await conn.fetchval("SELECT channel FROM response") == "other"


async def test_a_paged_form_keeps_the_channel_from_its_first_page_to_its_last(client, conn):
    first = await client.get("/q/paged?src=talk-berlin")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', first.text)[1]

    async def post(path: str, fields: dict[str, str]):
        return await client.post(path, data={"_csrf_token": csrf, **fields}, follow_redirects=False)

    sent = await post(
        "/q/paged", {"_go": "next", "introduces": "Yes", "ask_first": "4", "_src": "talk-berlin"}
    )
    resume = re.match(r"/d/([^/]+)/", sent.headers["location"])[1]
    assert await conn.fetchval("SELECT channel FROM draft") == "talk-berlin"
    await post(f"/d/{resume}/1", {"_go": "next", "intro_consent": "5"})
    await post(f"/d/{resume}/2", {"_go": "next", "years": "12", "_consent": "yes"})
    assert await conn.fetchval("SELECT channel FROM response") == "talk-berlin"


async def test_the_report_filter_names_a_channel_by_its_shape(questionnaires):
    loaded = questionnaires["connector"]
    with pytest.raises(InvalidQuery) as caught:
        filter_of(loaded.definition, {"channel": "Not A Channel"})
    assert [p.field for p in caught.value.problems] == ["channel"]


async def test_the_dashboard_lists_a_link_and_a_qr_code_per_channel(client, conn, questionnaires):
    loaded = questionnaires["connector"]
    secret = await token(conn, ("reports",))
    page = await client.get("/reports/connector", headers=bearer(secret))
    assert page.status_code == 200
    section = page.text.split('id="channels"', 1)[1].split("</section>", 1)[0]
    for channel in loaded.definition.channels:
        url = f"http://testserver.local/q/connector?src={channel.id}"
        item = section.split(f'data-channel="{channel.id}"', 1)[1].split("</li>", 1)[0]
        assert f'<a href="{url}">{url}</a>' in item
        assert "<svg" in item and 'class="segno"' in item and "<script" not in item
    assert section.count("<svg") == len(loaded.definition.channels)
    # Once a response came through a channel, the filter form offers it.
    assert 'name="channel"' not in page.text
    await send(client, "/q/connector?src=newsletter", likert(loaded))
    page = await client.get("/reports/connector?channel=newsletter", headers=bearer(secret))
    assert page.status_code == 200
    assert '<option value="newsletter" selected>newsletter</option>' in page.text
