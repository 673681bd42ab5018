"""``wfe purge`` through its console script on an SQLite store: it counts first (``--dry-run``
stops there), refuses without ``--yes`` where nobody can answer, deletes finished workflows
only with a progress bar, and answers in JSON; a bad age is a usage error naming the form."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.errors import WorkflowNotFoundError

WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))

simple = WorkflowBuilder(dict).start_with(lambda ctx: None).build("simple", 1)
waits = WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", "k").build("waits", 1)


def wfe(*args: str) -> subprocess.CompletedProcess[str]:
    assert WFE is not None, "the wfe console script is not installed next to this Python"
    return subprocess.run([WFE, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.mark.slow  # four runs of the console script
async def test_purge_counts_asks_and_deletes_finished_workflows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowHost(url) as host:
        host.register(simple)
        host.register(waits)
        done = [await host.start_workflow("simple", {}) for _ in range(5)]
        for wid in done:
            await host.wait_for_workflow(wid, timeout=30)
        running = await host.start_workflow("waits", {})

    bad = wfe("purge", "--db", url, "--older-than", "30 days")
    assert bad.returncode == 2 and "e.g. 30d, 12h" in bad.stderr
    dry = json.loads(wfe("purge", "--db", url, "--older-than", "0s", "--dry-run", "--json").stdout)
    assert dry == {"matched": 5, "purged": 0, "dry_run": True}
    refused = wfe("purge", "--db", url, "--older-than", "0s")  # piped: nobody to ask
    assert refused.returncode == 2 and "5 workflow(s) match; give --yes" in refused.stderr

    purged = wfe("purge", "--db", url, "--older-than", "0s", "--status", "complete", "--yes")
    assert purged.returncode == 0, purged.stderr
    assert "purged 5 workflow(s)" in purged.stdout and "5/5" in purged.stderr  # the progress bar

    async with WorkflowHost(url).open_stores() as reader:
        for wid in done:
            try:
                await reader.get_workflow(wid)
            except WorkflowNotFoundError:
                continue
            raise AssertionError(f"{wid} was not purged")
        assert (await reader.get_workflow(running)).status is WorkflowStatus.RUNNABLE
        assert [item.id for item in (await reader.search("")).items] == [running]
