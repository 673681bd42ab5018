"""``wfe start --priority N`` (issue 24): the level is stored with the workflow and passed to the
queue; a bad level is refused by the argument parser and nothing is stored."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from wfe import WorkflowClient, WorkflowHost

#: The console script next to this Python.
WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))


def _wfe(*args: str) -> subprocess.CompletedProcess[str]:
    assert WFE is not None, "the wfe console script is not installed next to this Python"
    return subprocess.run([WFE, *args], capture_output=True, text=True, timeout=60, check=False)


def test_wfe_start_stores_the_priority_and_refuses_a_bad_one(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wf.db"

    async def make_and_start_with_the_client() -> str:
        async with WorkflowHost(url).open_stores():
            pass
        async with WorkflowClient(url) as client:
            return await client.start_workflow("orders", {}, 1, priority=1)

    from_client = asyncio.run(make_and_start_with_the_client())
    refused = _wfe("start", "--db", url, "orders", "--version", "1", "--priority", "8")
    assert refused.returncode == 2 and "from 0 (critical) to 7 (idle)" in refused.stderr
    started = _wfe("start", "--db", url, "orders", "--version", "1", "--priority", "2")
    assert started.returncode == 0, started.stderr
    with sqlite3.connect(tmp_path / "wf.db") as conn:
        rows = dict(conn.execute("SELECT id, priority FROM workflows").fetchall())
        queued = conn.execute("SELECT item_id FROM queue ORDER BY rank").fetchall()
    assert rows.pop(from_client) == 1
    assert list(rows.values()) == [2]
    assert [r[0] for r in queued] == [from_client, *rows]  # level 1 ahead of level 2
