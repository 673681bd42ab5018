"""Hosts on SQLite searching in OpenSearch: the index follows the store, through outages and
rebuilds.

* 300 workflows run to every end state; once indexing has caught up, every status and every
  reference searched in OpenSearch answers exactly what SQLite holds.
* The node is stopped mid-run: workflows keep completing, and once it is back the index
  catches up (the store's outbox kept what it missed).
* The index is deleted and rebuilt from the store, by the host method and by ``wfe reindex``,
  while the host runs; the answers match again.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe._cli import main as wfe_command
from wfe.errors import WfeError
from wfe_core.providers import SearchFilter

from ._node import PrivateNode, distribution
from .conftest import wait_until

pytestmark = pytest.mark.slow


def _fail(ctx: Any) -> None:
    raise RuntimeError("out of dough")


def _note(ctx: Any) -> None:
    ctx.data["note"] = f"baked for {ctx.data['customer']}"


finishes = WorkflowBuilder(dict).start_with(_note).build("finishes", 1)
waits = (
    WorkflowBuilder(dict)
    .start_with(_note)
    .wait_for("oven", lambda d: d["customer"])
    .end_workflow()
    .build("waits", 1)
)
fails = (
    WorkflowBuilder(dict)
    .start_with(_fail)
    .on_error(ErrorBehavior.terminate())
    .end_workflow()
    .build("fails", 1)
)


@contextlib.asynccontextmanager
async def running(db: str, search_url: str) -> AsyncIterator[WorkflowHost]:
    host = WorkflowHost(db, search=search_url, poll_interval=0.5)
    for definition in (finishes, waits, fails):
        host.register(definition)
    async with host:
        yield host


async def start_mix(host: WorkflowHost, count: int, tag: str) -> list[str]:
    """``count`` workflows to every end state: complete, terminated, suspended, runnable."""
    wids = []
    for n in range(count):
        kind = ("finishes", "waits", "fails")[n % 3]
        data = {"customer": f"{tag} customer{n}"}
        wids.append(await host.start_workflow(kind, data, reference=f"{tag}-{n}"))
    for n, wid in enumerate(wids):
        if n % 3 == 1 and n % 2:  # half of the waiting ones change state by hand
            await wait_until(lambda w=wid: _has_waited(host, w), f"{wid} waits")
            if n % 4 == 1:
                assert await host.suspend_workflow(wid)
            else:
                assert await host.terminate_workflow(wid)
        elif n % 3 != 1:
            await host.wait_for_workflow(wid, timeout=30)
    return wids


async def _has_waited(host: WorkflowHost, wid: str) -> bool:
    instance = await host.persistence.get_workflow(wid)
    return any(p.event_name == "oven" for p in instance.execution_pointers)


async def persisted(host: WorkflowHost, wids: list[str]) -> dict[str, set[str]]:
    by_status: dict[str, set[str]] = {s.value: set() for s in WorkflowStatus}
    for instance in await host.persistence.get_workflows(wids):
        by_status[instance.status.value].add(instance.id)
    return by_status


async def indexed(host: WorkflowHost) -> dict[str, set[str]]:
    """What the index holds, read without the host's flush."""
    by_status = {}
    for status in WorkflowStatus:
        page = await host.search_index.search("", SearchFilter(status=status), 0, 10_000)
        by_status[status.value] = {item.id for item in page.items}
        assert page.total == len(page.items)
    return by_status


async def caught_up(host: WorkflowHost, wids: list[str], timeout: float = 60) -> None:
    want = await persisted(host, wids)

    async def same() -> bool:
        try:
            return await indexed(host) == want
        except WfeError:
            return False

    await wait_until(same, "the index shows what the store holds", timeout)


async def test_300_workflows_are_found_as_they_are_stored(tmp_path: Path, search_url: str) -> None:
    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with running(db, search_url) as host:
        wids = await start_mix(host, 300, "jane")
        await caught_up(host, wids)
        stored = await persisted(host, wids)
        assert all(stored.values()), stored  # every end state is there
        # Text and filters, against the store, for a sample of workflows.
        for n in range(0, 300, 37):
            instance = await host.persistence.get_workflow(wids[n])
            page = await host.search(f"jane customer{n}", reference=f"jane-{n}")
            assert [(i.id, i.status) for i in page.items] == [(wids[n], instance.status)]
        page = await host.search("baked jane", definition_id="finishes", take=500)
        assert page.total == 100
        assert await host.persistence.get_index_outbox() == []


@pytest.fixture
def own_node() -> Iterator[PrivateNode]:
    """A node of this test's own, to stop and start again without disturbing other tests."""
    home = distribution()
    if isinstance(home, str):
        if os.environ.get("WFE_TEST_OPENSEARCH_URL") and os.environ.get("WFE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{home}; OpenSearch is configured and WFE_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(home)
    node = PrivateNode(home)
    try:
        node.start()
        yield node
    finally:
        node.remove()


async def test_workflows_complete_while_the_node_is_down_and_the_index_catches_up(
    tmp_path: Path, own_node: PrivateNode
) -> None:
    node = own_node
    search_url = f"{node.url}?index=wfe-outage&refresh_interval=50ms"
    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with running(db, search_url) as host:
        before = await start_mix(host, 30, "early")
        await caught_up(host, before)
        began = time.monotonic()
        await asyncio.to_thread(node.stop)
        try:
            stopped_for = time.monotonic() - began
            began = time.monotonic()
            during = await start_mix(host, 90, "outage")
            took = time.monotonic() - began
            assert took < 30, f"90 workflows took {took:.1f} s with the index down"
            with pytest.raises(WfeError):
                await host.search("outage")
            assert await host.persistence.get_index_outbox()  # kept for later
        finally:
            await asyncio.to_thread(node.start)
        await caught_up(host, before + during, timeout=120)
        assert len((await host.search("outage", take=500)).items) == 90
        assert stopped_for < 60


async def test_a_deleted_index_is_rebuilt_while_the_host_runs(
    tmp_path: Path, search_url: str, node: Any
) -> None:
    path = tmp_path / "wfe.db"
    db = f"sqlite:///{path}"
    async with running(db, search_url) as host:
        wids = await start_mix(host, 60, "rebuilt")
        await caught_up(host, wids)
        index_name = host.search_index.options.index_name  # type: ignore[attr-defined]
        node.indices.delete(index=index_name)
        assert (await host.search("rebuilt")).total == 0
        seen: list[tuple[int, int]] = []
        written = await host.rebuild_search_index(progress=lambda d, t: seen.append((d, t)), batch=25)
        assert written == 60 and seen[-1] == (60, 60) and len(seen) == 3
        await caught_up(host, wids)
        # Again from the command line, with the host still running, into an emptied index.
        node.indices.delete(index=index_name)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()) as out:
            code = await asyncio.to_thread(
                wfe_command, ["reindex", "--db", db, "--search", search_url, "--batch", "16"]
            )
        assert code == 0, err.getvalue()
        assert "reindexed 60 workflow(s)" in out.getvalue()
        assert "60/60" in err.getvalue() and "[####" in err.getvalue()
        await caught_up(host, wids)
        more = await start_mix(host, 6, "after")
        await caught_up(host, wids + more)
    assert os.path.exists(path)


async def test_a_search_sees_a_backlog_longer_than_one_drain(tmp_path: Path, search_url: str) -> None:
    # Workflows started by the command line's idle host (nothing indexes them) leave more
    # outbox entries than one drain takes; the first search of a host must still see them all.
    from wfe_core._indexer import INDEX_DRAIN

    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    count = INDEX_DRAIN + 100
    quiet = WorkflowHost(db, search=search_url)
    quiet.register(waits)
    async with quiet.open_stores():
        for n in range(count):
            await quiet.start_workflow("waits", {"customer": f"c{n}"}, reference=f"r{n}")
        assert len(await quiet.persistence.get_index_outbox(count + 1)) == count
    async with running(db, search_url) as host:
        # (The host runs them meanwhile: their later passes are new entries, not the backlog.)
        assert (await host.search(take=0)).total == count
