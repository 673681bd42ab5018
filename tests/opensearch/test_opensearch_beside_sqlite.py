"""OpenSearch as the search index of a SQLite store, as wfe's suites compose it (``sqlite+opensearch``).

A host given ``search="opensearch://..."`` beside ``sqlite://`` keeps its workflows in SQLite,
writes each to the store's outbox (SQLite's own index is never made) and finds them in
OpenSearch once the indexer has drained the outbox.
"""

from __future__ import annotations

from pathlib import Path

from wfe import WorkflowBuilder, WorkflowStatus
from wfe_core.testing import StoreSet
from wfe_core.testing._pytest_plugin import stores_or_skip
from wfe_opensearch import OpenSearchSearchIndex
from wfe_sqlite import SqlitePersistence

one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


def test_the_composed_set_gives_the_index_to_the_host() -> None:
    assert StoreSet("sqlite", search="opensearch").id == "sqlite+opensearch"


async def test_a_host_stores_in_sqlite_and_searches_in_opensearch(tmp_path: Path) -> None:
    with stores_or_skip(StoreSet("sqlite", search="opensearch"), tmp_path) as stores:
        assert stores.search is not None and stores.search.startswith("opensearch://")
        quiet = stores.host()
        assert isinstance(quiet.persistence, SqlitePersistence)
        assert isinstance(quiet.search_index, OpenSearchSearchIndex)
        quiet.register(one_step)
        async with quiet.open_stores():  # nothing drains the outbox here
            wid = await quiet.start_workflow("one-step", {}, reference="composed")
            # SQLite's own index was never made (it would have taken the entry into the
            # transaction and left the outbox empty).
            assert await quiet.persistence.get_index_outbox() == [(wid, 1)]
        host = stores.host()
        host.register(one_step)
        async with host:
            assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
            page = await host.search("composed", status=WorkflowStatus.COMPLETE)
            assert [item.id for item in page.items] == [wid]
            assert await host.persistence.get_index_outbox() == []
