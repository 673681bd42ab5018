"""Fixtures of the dashboard's tests: a running host with a workflow in every status.

``dashboard_host`` runs on memory and on SQLite (the test id is the scheme). Its workflows:
one waiting for an event (runnable), one suspended, one complete (with a sub-workflow that
completed too), one terminated, and one whose step failed and retries. ``ui_client`` is an
httpx client on the ASGI app in the test's own event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.ui import create_app

HOSTILE = "<script>alert('x')</script>\"'&<b>bold</b>"


def fail_always(ctx: Any) -> None:
    raise RuntimeError("card declined <script>alert(1)</script>")


def definitions() -> list[Any]:
    waits = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None).name("Validate")
        .for_each(lambda d: ["a", "b"], lambda b: b.start_with(lambda ctx: None).name("Pack"))
        .wait_for("paid", lambda d: d["order"])
        .then(lambda ctx: None).name("Ship")
        .end_workflow()
        .build("order", 1)
    )
    child = WorkflowBuilder(dict).start_with(lambda ctx: None).name("Child step").end_workflow().build("child", 1)
    parent = (
        WorkflowBuilder(dict)
        .start_with(lambda ctx: None).name("Before")
        .sub_workflow("child")
        .if_do(lambda d: True, lambda b: b.start_with(lambda ctx: None).name("Inside if"))
        .end_workflow()
        .build("parent", 1)
    )
    failing = (
        WorkflowBuilder(dict)
        .start_with(fail_always).name("Charge")
        .on_error(ErrorBehavior.retry(interval=timedelta(hours=1)))
        .end_workflow()
        .build("failing", 1)
    )
    return [waits, child, parent, failing]


@attrs.define
class Fixture:
    host: WorkflowHost
    ids: dict[str, str]
    definitions: list[Any]


async def _settle(host: WorkflowHost, workflow_id: str, test: Any) -> None:
    for _ in range(500):  # each pass is pushed, not polled: this ends in milliseconds
        if test(await host.persistence.get_workflow(workflow_id)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"workflow {workflow_id} did not settle")


async def populate(host: WorkflowHost, defs: list[Any]) -> dict[str, str]:
    """Workflows in every status (see the module docstring); returns their ids by role."""
    for d in defs:
        host.register(d)
    ids = {
        "waiting": await host.start_workflow("order", {"order": "o-1", "note": HOSTILE}, reference=HOSTILE),
        "suspended": await host.start_workflow("order", {"order": "o-2"}, reference="second"),
        "complete": await host.start_workflow("parent", {"n": 1}, reference="parent-ref"),
        "terminated": await host.start_workflow("order", {"order": "o-3"}, reference="third"),
        "failing": await host.start_workflow("failing", {}, reference="failing-ref"),
    }

    def waiting(i: Any) -> bool:
        return any(p.event_name == "paid" and p.end_time is None for p in i.execution_pointers)

    for role in ("waiting", "suspended", "terminated"):
        await _settle(host, ids[role], waiting)
    await host.wait_for_workflow(ids["complete"], timeout=10)
    await _settle(host, ids["failing"], lambda i: any(p.retry_count for p in i.execution_pointers))
    assert await host.suspend_workflow(ids["suspended"])
    assert await host.terminate_workflow(ids["terminated"])
    ids["child"] = f"{ids['complete']}." + next(
        p.id for p in (await host.persistence.get_workflow(ids["complete"])).execution_pointers
        if p.event_name == "wfe.workflow.ended"
    ) + ".0"
    statuses = {r: (await host.persistence.get_workflow(i)).status for r, i in ids.items()}
    assert statuses == {
        "waiting": WorkflowStatus.RUNNABLE, "suspended": WorkflowStatus.SUSPENDED,
        "complete": WorkflowStatus.COMPLETE, "terminated": WorkflowStatus.TERMINATED,
        "failing": WorkflowStatus.RUNNABLE, "child": WorkflowStatus.COMPLETE,
    }
    return ids


@pytest.fixture(params=["memory", "sqlite"])
async def dashboard_host(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Fixture]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'ui.db'}"
    defs = definitions()
    async with WorkflowHost(url) as host:
        yield Fixture(host, await populate(host, defs), defs)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.fixture
async def ui(dashboard_host: Fixture) -> AsyncIterator[tuple[httpx.AsyncClient, Fixture]]:
    async with client(create_app(dashboard_host.host, definitions=dashboard_host.definitions)) as c:
        yield c, dashboard_host
