"""SQLite's batches of pass writes: one transaction, no savepoint per write unless one fails
after it has written something; then only that write is undone and the others commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wfe.errors import ConcurrencyError
from wfe_core.providers import WorkflowWrite
from wfe_core.testing.contracts.persistence import sample_instance
from wfe_sqlite import SqlitePersistence
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
