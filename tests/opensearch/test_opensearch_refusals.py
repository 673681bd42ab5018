"""What the node refuses or does not answer never stops searching.

* A document the index refuses (a keyword over Lucene's 32,766 bytes) is recorded and dropped
  from the outbox; the others of its chunk are indexed and every later search answers. A
  reference that long is indexed by its digest, so it is not refused.
* A node that is down: the indexer logs the outage once, not a traceback every poll.
* A node that accepts connections and never answers: ``host.search()`` raises
  ``ProviderUnavailableError`` within the URL's ``timeout``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import ProviderUnavailableError

one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


async def test_a_refused_document_never_blocks_the_others(
    tmp_path: Path, search_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A definition id is a keyword, and one over 32,766 bytes is refused by Lucene.
    huge = WorkflowBuilder(dict).start_with(lambda ctx: None).build("d" * 40_000, 1)
    host = WorkflowHost(f"sqlite:///{tmp_path / 'wf.db'}", search=search_url, poll_interval=0.5)
    host.register(one_step)
    host.register(huge)
    with caplog.at_level(logging.WARNING):
        async with host:
            refused = await host.start_workflow("d" * 40_000, {})
            fine = [await host.start_workflow("one-step", {}, reference=f"r{n}") for n in range(3)]
            for wid in [refused, *fine]:
                await host.wait_for_workflow(wid, timeout=30)
            for _ in range(2):  # and it stays so: the refused entry is not retried for ever
                page = await host.search()
                assert sorted(item.id for item in page.items) == sorted(fine)
            assert await host.persistence.get_index_outbox() == []
    notes = [r for r in caplog.records if refused in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING
    assert "refused" in notes[0].getMessage()


async def test_a_reference_longer_than_a_keyword_is_found_by_it(
    tmp_path: Path, search_url: str
) -> None:
    long = "é" * 20_000  # 40,000 bytes
    host = WorkflowHost(f"sqlite:///{tmp_path / 'wf.db'}", search=search_url, poll_interval=0.5)
    host.register(one_step)
    async with host:
        wid = await host.start_workflow("one-step", {}, reference=long)
        other = await host.start_workflow("one-step", {}, reference="short")
        for w in (wid, other):
            assert (await host.wait_for_workflow(w, timeout=30)).status is WorkflowStatus.COMPLETE
        assert [(i.id, i.reference) for i in (await host.search(reference=long)).items] == [
            (wid, long)
        ]
        assert [i.id for i in (await host.search(reference="short")).items] == [other]
        assert (await host.search(reference=long[:-1])).total == 0
        assert (await host.search()).total == 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A local port that accepts connections and never answers (a hung node)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on (a node that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_search_against_a_hung_node_is_unavailable_in_bounded_time(
    tmp_path: Path, silent_port: int
) -> None:
    search = f"opensearch://127.0.0.1:{silent_port}?timeout=1"
    host = WorkflowHost(f"sqlite:///{tmp_path / 'wf.db'}", search=search, poll_interval=0.5)
    host.register(one_step)
    async with host:
        await host.start_workflow("one-step", {})
        started = time.monotonic()
        with pytest.raises(ProviderUnavailableError, match="OpenSearch"):
            await host.search()
        # One request's timeout (the indexer's write), not one per request made.
        assert time.monotonic() - started < 2.5


async def test_a_node_that_is_down_is_logged_once(
    tmp_path: Path, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    search = f"opensearch://127.0.0.1:{closed_port}?timeout=1"
    host = WorkflowHost(f"sqlite:///{tmp_path / 'wf.db'}", search=search, poll_interval=0.2)
    host.register(one_step)
    with caplog.at_level(logging.INFO):
        async with host:
            for n in range(3):
                wid = await host.start_workflow("one-step", {})
                await host.wait_for_workflow(wid, timeout=30)
                await asyncio.sleep(1.0)  # several polls, each failing
            running = list(caplog.records)
    indexing = [r for r in running if "index" in r.getMessage().lower()]
    assert [r for r in indexing if r.levelno >= logging.ERROR] == []
    assert all(r.exc_info is None for r in indexing)
    warned = [r for r in indexing if r.levelno == logging.WARNING]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert "unavailable" in warned[0].getMessage()
    # The stop's final flush says once, in a line, what it leaves to the outbox.
    at_stop = [r for r in caplog.records[len(running):] if "index" in r.getMessage().lower()]
    assert [r for r in at_stop if r.levelno >= logging.ERROR or r.exc_info] == []
    assert [r.getMessage() for r in at_stop if "outbox keeps" in r.getMessage()] != []
