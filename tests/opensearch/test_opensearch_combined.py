"""``sqlite+opensearch://``, the test scheme that runs wfe's suites with search on OpenSearch.

Its URL splits into the SQLite URL and the OpenSearch URL and back; a host on it keeps its
workflows in SQLite, writes each to the store's outbox (SQLite's own index is never made) and
finds them in OpenSearch.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import ConfigurationError
from wfe_core.testing._pytest_plugin import store_or_skip
from wfe_opensearch import OpenSearchSearchIndex
from wfe_opensearch._combined import join_combined, split_combined
from wfe_sqlite import SqlitePersistence


@pytest.mark.parametrize(
    ("base", "search"),
    [
        ("sqlite:////tmp/a b/wfe.db", "opensearch://127.0.0.1:9200?index=x&refresh_interval=50ms"),
        ("sqlite:///wfe.db?synchronous=NORMAL", "opensearch+https://u:p%40ss@node:9200"),
    ],
)
def test_a_combined_url_splits_into_the_urls_it_was_made_of(base: str, search: str) -> None:
    combined = join_combined(base, search)
    assert combined.startswith("sqlite+opensearch://")
    assert split_combined(combined) == (base, search)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite+opensearch:///wfe.db",  # no opensearch=
        "sqlite+opensearch:///wfe.db?opensearch=a&opensearch=b",
        "sqlite+valkey:///wfe.db?opensearch=opensearch%3A%2F%2Fh%3A9200",
    ],
)
def test_a_malformed_combined_url_says_how_to_write_it(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"sqlite\+opensearch://.*opensearch="):
        split_combined(url)


def test_the_opensearch_option_must_name_an_opensearch_url(tmp_path: Path) -> None:
    url = join_combined(f"sqlite:///{tmp_path / 'wfe.db'}", f"sqlite:///{tmp_path / 'other.db'}")
    with pytest.raises(ConfigurationError, match="must be an opensearch://"):
        WorkflowHost(url)


one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


async def test_a_host_on_it_stores_in_sqlite_and_searches_in_opensearch(tmp_path: Path) -> None:
    from wfe._cli import idle

    with store_or_skip("sqlite+opensearch", tmp_path) as url:
        quiet = WorkflowHost(url)
        assert isinstance(quiet.persistence, SqlitePersistence)
        assert isinstance(quiet.search_index, OpenSearchSearchIndex)
        quiet.register(one_step)
        async with idle(quiet):  # nothing drains the outbox here
            wid = await quiet.start_workflow("one-step", {}, reference="combined")
            # SQLite's own index was never made (it would have taken the entry into the
            # transaction and left the outbox empty).
            assert await quiet.persistence.get_index_outbox() == [(wid, 1)]
        host = WorkflowHost(url)
        host.register(one_step)
        async with host:
            assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.COMPLETE
            page = await host.search("combined", status=WorkflowStatus.COMPLETE)
            assert [item.id for item in page.items] == [wid]
            assert await host.persistence.get_index_outbox() == []
