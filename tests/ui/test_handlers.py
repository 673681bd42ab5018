"""Every dashboard page and action through its ASGI app, on memory and SQLite.

The app runs in the test's event loop beside a running host (see ``conftest.py``); the requests
are what a browser sends. Hostile workflow data (HTML, quotes, script tags) must come back as text.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

import wfe_core.models
from tests.ui.conftest import HOSTILE, Fixture, client
from wfe import WorkflowStatus
from wfe.ui import create_app


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="wfe-csrf" content="([^"]+)">', page)
    assert found, "the page carries no CSRF value"
    return found.group(1)


async def post(c: httpx.AsyncClient, path: str, body: Any = None, **headers: str) -> httpx.Response:
    csrf = csrf_of((await c.get("/")).text)
    return await c.post(path, json=body or {}, headers={"X-WFE-CSRF": csrf, **headers})


async def test_list_shows_newest_first_with_counts_and_filters(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    page = await c.get("/")
    assert page.status_code == 200
    ids = re.findall(r'href="/workflows/([0-9a-f.]+)"', page.text)
    # Five started plus the sub-workflow; newest first (the child started after its parent).
    assert set(ids) == set(fx.ids.values()) and ids[-1] == fx.ids["waiting"]
    counts = dict(re.findall(r'data-status="(\w+)">(\d+)<', page.text))
    assert counts == {"runnable": "2", "suspended": "1", "complete": "2", "terminated": "1"}
    assert page.headers["content-security-policy"].startswith("default-src 'self'")

    suspended = await c.get("/", params={"status": "suspended"})
    assert re.findall(r'href="/workflows/([0-9a-f.]+)"', suspended.text) == [fx.ids["suspended"]]
    by_definition = await c.get("/", params={"definition": "parent"})
    assert re.findall(r'href="/workflows/([0-9a-f.]+)"', by_definition.text) == [fx.ids["complete"]]
    by_reference = await c.get("/", params={"reference": "third"})
    assert re.findall(r'href="/workflows/([0-9a-f.]+)"', by_reference.text) == [fx.ids["terminated"]]
    searched = await c.get("/", params={"q": "o-2"})
    assert re.findall(r'href="/workflows/([0-9a-f.]+)"', searched.text) == [fx.ids["suspended"]]
    future = await c.get("/", params={"after": "2999-01-01"})
    assert "No workflow matches" in future.text
    paged = await c.get("/", params={"skip": "5"})
    assert len(re.findall(r'href="/workflows/([0-9a-f.]+)"', paged.text)) == 1
    assert "newer</a>" in paged.text

    live = (await c.get("/api/counts", params={"definition": "order"})).json()
    assert live == {"counts": {"runnable": 1, "suspended": 1, "complete": 0, "terminated": 1}}


async def test_bad_filters_are_a_clear_400(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, _ = ui
    for params, words in (({"status": "done"}, "give one of runnable"), ({"after": "yesterday"}, "2025-01-31"),
                          ({"skip": "-1"}, "whole number")):
        answer = await c.get("/", params=params)
        assert answer.status_code == 400 and words in answer.text, params


async def test_one_workflow_shows_steps_timeline_errors_and_links(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    waiting = (await c.get(f"/workflows/{fx.ids['waiting']}")).text
    assert "Validate" in waiting and "[item &#39;a&#39;]" in waiting and "[item &#39;b&#39;]" in waiting
    assert "event &#39;paid&#39; key &#39;o-1&#39;" in waiting  # what it waits for
    assert 'value="paid"' in waiting and 'value="o-1"' in waiting  # publish form filled in
    assert waiting.count('class="lane"') == waiting.count('<tr class="depth-')  # one lane per step
    assert '<tr class="depth-1">' in waiting  # the for_each bodies nest under it

    parent = (await c.get(f"/workflows/{fx.ids['complete']}")).text
    assert f'href="/workflows/{fx.ids["child"]}"' in parent and "Inside if" in parent
    child = (await c.get(f"/workflows/{fx.ids['child']}")).text
    assert "Started by" in child and f'href="/workflows/{fx.ids["complete"]}"' in child

    failing = (await c.get(f"/workflows/{fx.ids['failing']}")).text
    assert "card declined &lt;script&gt;alert(1)&lt;/script&gt;" in failing and "RuntimeError" in failing
    assert "retry at" in failing

    missing = await c.get("/workflows/no-such-id")
    assert missing.status_code == 404 and "no-such-id" in missing.text


async def test_shell_output_is_shown(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    instance = await fx.host.persistence.get_workflow(fx.ids["terminated"])
    pointer = next(iter(instance.execution_pointers))
    pointer.extension_attributes["output"] = ["line one", "<i>line two</i>"]
    await fx.host.persistence.persist_workflow(instance)
    page = (await c.get(f"/workflows/{fx.ids['terminated']}")).text
    assert "<pre>line one\n&lt;i&gt;line two&lt;/i&gt;</pre>" in page


async def test_actions_change_the_workflow_and_say_so(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    wid = fx.ids["waiting"]
    answer = (await post(c, f"/api/workflows/{wid}/suspend")).json()
    assert answer["changed"] and answer["status"] == "suspended"
    again = (await post(c, f"/api/workflows/{wid}/suspend")).json()
    assert not again["changed"] and "applies to a runnable workflow" in again["message"]
    assert (await post(c, f"/api/workflows/{wid}/resume")).json()["status"] == "runnable"
    published = await post(c, "/api/events", {"name": "paid", "key": "o-1", "data": '{"amount": 3}'})
    assert published.status_code == 200 and published.json()["event_id"]
    done = await fx.host.wait_for_workflow(wid, timeout=10)
    assert done.status is WorkflowStatus.COMPLETE
    assert (await post(c, f"/api/workflows/{fx.ids['suspended']}/terminate")).json()["status"] == "terminated"

    assert (await post(c, "/api/events", {"name": "paid", "key": "k", "data": "{nope"})).status_code == 400
    assert (await post(c, "/api/events", {"key": "k"})).status_code == 400
    assert (await post(c, f"/api/workflows/{wid}/delete")).status_code == 404
    assert (await post(c, "/api/workflows/no-such-id/suspend")).status_code == 404


async def test_actions_need_the_csrf_value_and_this_origin(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    wid = fx.ids["waiting"]
    assert (await c.post(f"/api/workflows/{wid}/terminate")).status_code == 403
    wrong = await c.post(f"/api/workflows/{wid}/terminate", headers={"X-WFE-CSRF": "guess"})
    assert wrong.status_code == 403 and "CSRF" in wrong.json()["error"]
    elsewhere = await post(c, f"/api/workflows/{wid}/terminate", origin="http://evil.example")
    assert elsewhere.status_code == 403
    assert (await fx.host.persistence.get_status(wid)) is WorkflowStatus.RUNNABLE
    same = await post(c, f"/api/workflows/{wid}/terminate", origin="http://127.0.0.1")
    assert same.json()["status"] == "terminated"


async def test_read_only_hides_and_refuses_actions(dashboard_host: Fixture) -> None:
    async with client(create_app(dashboard_host.host, read_only=True)) as c:
        wid = dashboard_host.ids["waiting"]
        page = await c.get(f"/workflows/{wid}")
        assert "data-action" not in page.text and "read-only" in page.text
        csrf = csrf_of(page.text)
        refused = await c.post(f"/api/workflows/{wid}/terminate", headers={"X-WFE-CSRF": csrf})
        assert refused.status_code == 403 and "read-only" in refused.json()["error"]
        assert (await dashboard_host.host.persistence.get_status(wid)) is WorkflowStatus.RUNNABLE


async def test_token_is_checked_on_every_request(dashboard_host: Fixture) -> None:
    async with client(create_app(dashboard_host.host, token="s3cret t")) as c:
        assert (await c.get("/")).status_code == 401
        assert (await c.get("/api/counts")).status_code == 401
        assert (await c.get("/static/app.css")).status_code == 200
        assert (await c.get("/", headers={"Authorization": "Bearer s3cret t"})).status_code == 200
        entry = await c.get("/", params={"token": "s3cret t", "status": "complete"})
        assert entry.status_code == 303 and entry.headers["location"] == "/?status=complete"
        assert "HttpOnly" in entry.headers["set-cookie"] and "s3cret" not in entry.headers["set-cookie"]
        page = await c.get("/", params={"status": "complete"})  # the cookie now carries it
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        wid = dashboard_host.ids["waiting"]
        c.cookies.clear()
        refused = await c.post(f"/api/workflows/{wid}/suspend", headers={"X-WFE-CSRF": csrf})
        assert refused.status_code == 401
        assert (await dashboard_host.host.persistence.get_status(wid)) is WorkflowStatus.RUNNABLE


async def test_hostile_data_renders_as_text(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    for path in ("/", f"/workflows/{fx.ids['waiting']}", "/?reference=" + HOSTILE):
        page = (await c.get(path)).text
        assert "<script>alert" not in page and "<b>bold" not in page, path
        assert "&lt;script&gt;alert(" in page, path
    # Only our own script tag is on the page.
    assert page.count("<script") == 1


async def test_definitions_are_drawn_with_counts(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    page = (await c.get("/definitions")).text
    assert 'id="definition-order"' in page and 'id="definition-parent"' in page
    assert "wait for event" in page and "for each" in page and "sub-workflow" in page
    order = page.split('id="definition-order"')[1].split("</section>")[0]
    # v1: runnable, suspended, complete, terminated
    assert re.findall(r"status=\w+\">(\d+)</a>", order) == ["1", "1", "0", "1"]
    # The for_each body is nested inside its container's box.
    assert re.search(r"for each.*?<div class=\"bodies\">.*?Pack", order, re.S)

    async with client(create_app(fx.host)) as bare:
        assert "--definitions MODULE:ATTRIBUTE" in (await bare.get("/definitions")).text


async def test_hosts_page_lists_live_and_stale_hosts(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    c, fx = ui
    page = await c.get("/hosts")
    assert page.status_code == 200
    store = getattr(fx.host, "heartbeats", None)
    record_type = getattr(wfe_core.models, "HostRecord", None)
    if getattr(fx.host, "list_hosts", None) is None:
        assert 'id="no-heartbeats"' in page.text
        return
    if store is None or record_type is None:
        pytest.skip("this store keeps no host heartbeats")
    now = datetime.now(UTC)
    for hid, seen in (("live-host", now), ("dead-host", now - timedelta(hours=1))):
        await store.record_heartbeat(record_type(
            id=hid, hostname=f"{hid}<script>x</script>", pid=42, wfe_version="0.1.0", started=seen,
            last_seen=seen, interval=5.0, in_flight=3, definitions={"order": [1, 2]},
        ))
    text = (await c.get("/hosts")).text
    rows = {hid: text.split(f"<td class=\"id\">{hid}</td>")[1].split("</tr>")[0] for hid in ("live-host", "dead-host")}
    assert ">live<" in rows["live-host"] and ">stale<" in rows["dead-host"]
    assert "3 workflow(s)" in rows["live-host"] and "order v1, v2" in rows["live-host"]
    assert "<script>x" not in text


async def test_a_step_waiting_on_a_worker_or_a_person_shows_as_such(ui: tuple[httpx.AsyncClient, Fixture]) -> None:
    from wfe import WorkflowBuilder

    c, fx = ui
    host = fx.host
    host.register(
        WorkflowBuilder(dict).start_with(lambda ctx: None)
        .activity("bake", parameters={"size": "large"})
        .user_task("Ship <it>?", assigner="ann", options={"yes": None, "no": None})
        .build("ui-waits", 1)
    )
    wid = await host.start_workflow("ui-waits", {})
    for _ in range(500):
        if await host.get_external_waits(wid):
            break
        await asyncio.sleep(0.01)
    page = (await c.get(f"/workflows/{wid}")).text
    assert "Waiting on" in page and "activity &#39;bake&#39; (no worker has it)" in page
    assert 'value="wfe.activity"' not in page  # answered by a worker, not by an event

    pending = await host.get_pending_activity("bake", "w1", timeout=10)
    assert pending is not None
    assert "activity &#39;bake&#39; (held by a worker)" in (await c.get(f"/workflows/{wid}")).text
    await host.submit_activity_success(pending.token, "done")
    for _ in range(500):
        if await host.get_open_user_actions(wid):
            break
        await asyncio.sleep(0.01)
    [action] = await host.get_open_user_actions(wid)
    page = (await c.get(f"/workflows/{wid}")).text
    assert "person ann: &#39;Ship &lt;it&gt;?&#39; [yes|no]" in page
    assert f"wfe act {action.key} VALUE --user NAME" in page
