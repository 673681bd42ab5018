"""SQLite's batches of writes (the passes of a group commit, the jobs of the writer thread's
group): one transaction, no savepoint each unless one fails after it has written something;
then only that one is undone and the others commit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from wfe.errors import ConcurrencyError
from wfe_core.providers import WorkflowWrite
from wfe_core.testing.contracts.persistence import sample_instance
from wfe_sqlite import SqliteDatabase, SqlitePersistence
from wfe_sqlite import _persistence as sqlite_persistence


async def test_a_write_failing_after_its_update_is_undone_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqlitePersistence(f"sqlite:///{tmp_path / 'wfe.db'}")
    await store.start()
    try:
        first, bad, stale, last = (sample_instance() for _ in range(4))
        for instance in (first, bad, stale, last):
            await store.create_workflow(instance)
        winner = await store.get_workflow(stale.id)
        await store.persist_workflow(winner, changed_pointers=())
        runs: list[tuple[str, bool]] = []
        original = sqlite_persistence._PassWrite.run

        def run(write: Any, conn: Any) -> Any:
            result = original(write, conn)  # the UPDATE and the pointers are written
            runs.append((write.instance.id, conn.in_transaction))
            if write.instance.id == bad.id:
                raise RuntimeError("the disk said no")
            return result

        monkeypatch.setattr(sqlite_persistence._PassWrite, "run", run)
        for instance in (first, bad, stale, last):
            instance.description = "batch"
        outcomes = await store.persist_workflows(
            [WorkflowWrite(i, ()) for i in (first, bad, stale, last)]
        )
        assert outcomes[0] is None and outcomes[3] is None
        assert isinstance(outcomes[1], RuntimeError)
        assert isinstance(outcomes[2], ConcurrencyError)
        # The batch ran without savepoints up to the failure, was rolled back, and ran again
        # with a savepoint each.
        assert [wid for wid, _ in runs] == [first.id, bad.id, first.id, bad.id, last.id]
        assert (first.revision, bad.revision, stale.revision, last.revision) == (2, 1, 1, 2)
        monkeypatch.undo()
        assert (await store.get_workflow(first.id)).description == "batch"
        assert (await store.get_workflow(last.id)).description == "batch"
        stored_bad = await store.get_workflow(bad.id)
        assert stored_bad.revision == 1 and stored_bad.description != "batch"
        assert await store.get_workflow(stale.id) == winner
    finally:
        await store.close()


async def test_a_group_of_writes_undoes_only_the_job_that_failed(tmp_path: Path) -> None:
    """Writes asked for together share a transaction with no savepoint each; one that fails
    after it wrote makes the group run again with savepoints: its row is gone, the others'
    are kept, and each caller gets its own answer."""
    runs: list[str] = []

    def insert(name: str, fail: bool = False) -> Any:
        def job(conn: Any) -> str:
            runs.append(name)
            conn.execute("INSERT INTO t (name) VALUES (?)", (name,))
            if fail:
                raise ValueError(f"{name} failed after its insert")
            return name

        return job

    async with SqliteDatabase(str(tmp_path / "wfe.db")) as db:
        await db.write(lambda conn: conn.execute("CREATE TABLE t (name TEXT)"))
        outcomes = await asyncio.gather(
            db.write(insert("a")), db.write(insert("b", fail=True)), db.write(insert("c")),
            return_exceptions=True,
        )
        assert outcomes[0] == "a" and outcomes[2] == "c"
        assert isinstance(outcomes[1], ValueError)
        assert runs == ["a", "b", "a", "b", "c"]  # at once, then again with savepoints
        rows = await db.read(lambda conn: conn.execute("SELECT name FROM t").fetchall())
        assert sorted(rows) == [("a",), ("c",)]
        runs.clear()
        assert await asyncio.gather(db.write(insert("d")), db.write(insert("e"))) == ["d", "e"]
        assert runs == ["d", "e"]  # no failure: one run each
