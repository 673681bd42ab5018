"""The search rule (``wfe_core.search``) and how the SQLite index and the indexer follow it.

The contract suite (``wfe_core.testing.contracts.search``) pins what every index answers; these
tests pin the rule's own functions, the SQLite schema upgrade that re-indexes by it, and the
indexer's bulk writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core import WorkflowInstance
from wfe_core._memory import MemorySearchIndex
from wfe_core.providers import SearchFilter
from wfe_core.search import (
    MAX_DATA_TEXT,
    data_values,
    instance_text,
    matches_words,
    page_of,
    summary_of,
)
from wfe_core.serialization import encode_data
from wfe_sqlite import _schema
from wfe_sqlite._rows import INSTANCE_COLUMNS, instance_row


def test_the_text_is_the_words_of_the_fields_and_data_values() -> None:
    instance = WorkflowInstance(
        id="w1",
        definition_id="Pizza-Order",
        version=1,
        reference="REF_7",
        description="Café au lait",
        data=encode_data({"customer": {"name": "Bobby", "tags": ["vip", 3, 1.5, True, None]}}),
    )
    assert instance_text(instance) == "pizza order ref 7 café au lait bobby vip 3 1 5"


def test_data_values_leave_out_keys_and_type_tags() -> None:
    tagged = {
        "$wfe": "obj",
        "t": "shop.models:Order",
        "v": {"total": {"$wfe": "decimal", "v": "9.99"}, "by": {"$wfe": "map", "v": [[1, "one"]]}},
    }
    assert data_values(json.dumps(tagged)) == "9.99 one"
    assert data_values(None) == ""
    assert data_values("not json {") == "not json {"


def test_data_values_stop_at_the_cap() -> None:
    data = json.dumps(["x" * 1000] * (MAX_DATA_TEXT // 1000 + 50))
    assert len(data_values(data)) == MAX_DATA_TEXT


def test_words_match_at_word_starts_only() -> None:
    assert matches_words("quick brown fox", ["qu", "fox"])
    assert not matches_words("quick brown fox", ["uick"])
    assert matches_words("quick", [])


def test_a_page_is_newest_first_with_ties_by_id() -> None:
    def summary(wid: str, year: int) -> object:
        return summary_of(
            WorkflowInstance(
                id=wid, definition_id="d", version=1, create_time=datetime(year, 1, 1, tzinfo=UTC)
            )
        )

    hits = [summary("a", 2020), summary("c", 2020), summary("z", 2019), summary("b", 2021)]
    page = page_of(hits, 1, 2)  # type: ignore[arg-type]
    assert [s.id for s in page.items] == ["c", "a"]
    assert page.total == 4


# -- the upgrade to one rule in SQLite ------------------------------------------------------------


def _schema_2_store(path: Path) -> None:
    """A store of schema 2 with one indexed workflow, its text made by the old extraction."""
    instance = WorkflowInstance(
        id="w1",
        definition_id="orders",
        version=1,
        status=WorkflowStatus.COMPLETE,
        data=encode_data({"customer": "bobby", "shade": {9: "Teal"}}),  # a map with an int key
        reference="R-1",
        next_execution=None,
    )
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        _schema._migration_1(conn)
        _schema._migration_2(conn)
        conn.execute("CREATE TABLE wfe_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.execute("INSERT INTO wfe_migrations VALUES (1, 'then'), (2, 'then')")
        conn.execute(
            # The columns of schema 2 (trace_context came in schema 4).
            f"INSERT INTO workflows ({INSTANCE_COLUMNS.replace(', trace_context', '')}) "
            f"VALUES ({', '.join('?' * 12)})",
            instance_row(instance, revision=4)[:12],
        )
        conn.execute(
            "INSERT INTO search_docs (doc, id, definition_id, version, status, reference, "
            "create_time, text_hash, revision) "
            "VALUES (1, 'w1', 'orders', 1, 'complete', 'R-1', 0, 12345, 4)"
        )
        conn.execute(
            "INSERT INTO search_text (rowid, definition_id, reference, data) "
            "VALUES (1, 'orders', 'R-1', 'bobby 9 Teal')"
        )
        conn.execute("COMMIT")


def test_the_upgrade_keeps_the_old_text_in_the_new_form_until_reindexed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_2_store(path)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _schema.migrate(conn)
        assert conn.execute("SELECT rowid, text FROM search_text").fetchall() == [
            (1, "orders r 1 bobby 9 teal")
        ]
        assert conn.execute("SELECT text_hash FROM search_docs").fetchall() == [(None,)]
        assert conn.execute("SELECT * FROM index_outbox").fetchall() == [("w1", 4)]
        (version,) = conn.execute("SELECT MAX(version) FROM wfe_migrations").fetchone()
        assert version == _schema.SCHEMA_VERSION


def test_an_upgraded_store_is_reindexed_by_the_new_rule(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _schema_2_store(path)

    async def upgrade_and_search() -> None:
        async with WorkflowHost(f"sqlite:///{path}") as host:  # left idle

            async def ids(terms: str) -> list[str]:
                return [item.id for item in (await host.search(terms)).items]

            deadline = asyncio.get_running_loop().time() + 20
            while await host.persistence.get_index_outbox():
                assert asyncio.get_running_loop().time() < deadline, "never re-indexed"
                await asyncio.sleep(0.05)
            assert await ids("bobby teal") == ["w1"]
            assert await ids("9") == []  # a map's key was text under the old extraction
            assert await ids("customer") == []

    asyncio.run(upgrade_and_search())


def test_the_newest_first_order_walks_an_index(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        _schema.migrate(conn)
        for definition in (None, "orders"):
            where = "" if definition is None else "WHERE definition_id = 'orders' "
            plan = conn.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM search_docs d {where}"
                "ORDER BY d.create_time DESC, d.id DESC LIMIT 20"
            ).fetchall()
            assert not any("TEMP B-TREE" in row[-1] for row in plan), plan


# -- the indexer writes in bulk ----------------------------------------------------------------


class RecordingIndex(MemorySearchIndex):
    """The memory index, recording each bulk write and failing the first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.batches: list[int] = []
        self.failures = failures
        self.singles = 0

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        self.singles += 1
        await super().index_workflow(instance)

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        self.batches.append(len(instances))
        if self.failures:
            self.failures -= 1
            raise OSError("the search index is unreachable")
        for instance in instances:
            self.put(instance)


one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


@pytest.mark.parametrize("failures", [0, 1])
async def test_the_indexer_writes_each_flush_as_one_bulk_call(
    failures: int, tmp_path: Path
) -> None:
    index = RecordingIndex(failures)
    async with WorkflowHost(f"sqlite:///{tmp_path / 'wf.db'}", search=index) as host:
        host.register(one_step)
        wids = [await host.start_workflow("one-step", {}, reference=f"r{n}") for n in range(20)]
        for wid in wids:
            await host.wait_for_workflow(wid, timeout=20)
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            with contextlib.suppress(Exception):  # a flush that met the failure
                page = await host.search(status=WorkflowStatus.COMPLETE, take=100)
                if page.total == 20:
                    break
            assert asyncio.get_running_loop().time() < deadline, "never indexed"
            await asyncio.sleep(0.05)
    assert index.singles == 0
    assert index.failures == 0
    assert max(index.batches) > 1
    assert sum(index.batches[failures:]) >= 20  # a failed batch is written again
    page = await index.search("r1", SearchFilter(), 0, 100)
    assert sorted(item.id for item in page.items) == sorted(wids[1:2] + wids[10:20])
