"""A host killed with SIGKILL right after its workflows completed leaves search right.

The search index lives in the same SQLite file as the workflows (written in the transaction of
each state change) or in another one (fed from the store's durable outbox): after the kill, a
fresh host left idle must bring every entry to the stored state, with nobody searching.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from wfe import WorkflowHost
from wfe_core.providers import SearchFilter

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run_until_complete_then_kill(persistence: str, search: str, ids_file: Path) -> list[str]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration._search_worker", persistence, search, "20",
         str(ids_file)],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()  # blocks until the worker says so, or dies
    finally:
        worker.send_signal(signal.SIGKILL)
        _, err = worker.communicate(timeout=30)
    assert line == "complete\n", err
    assert worker.returncode == -signal.SIGKILL
    return ids_file.read_text().split()


async def index_matches_store(host: WorkflowHost, wids: list[str]) -> bool:
    stored = {i.id: i.status for i in await host.persistence.get_workflows(wids)}
    page = await host.search_index.search("", SearchFilter(), 0, 1000)
    return {item.id: item.status for item in page.items} == stored


@pytest.mark.parametrize("index_in", ["same-file", "other-file"])
def test_search_matches_the_store_after_a_kill_9(index_in: str, tmp_path: Path) -> None:
    persistence = f"sqlite:///{tmp_path / 'wfe.db'}"
    search = persistence if index_in == "same-file" else f"sqlite:///{tmp_path / 'search.db'}"
    wids = run_until_complete_then_kill(persistence, search, tmp_path / "ids.txt")

    async def restart_and_wait() -> None:
        async with WorkflowHost(persistence, search=search) as host:  # left idle
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while not await index_matches_store(host, wids):
                assert loop.time() < deadline, "the index still differs from the store after 30 s"
                await asyncio.sleep(0.05)
            stored = await host.persistence.get_workflows(wids)
            assert {i.status.value for i in stored} == {"complete"}

    asyncio.run(restart_and_wait())
