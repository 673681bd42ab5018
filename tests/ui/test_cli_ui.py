"""``wfe ui`` as a user runs it: the console script serves the dashboard over an existing SQLite
store, prints its URL, answers, and stops cleanly on Ctrl-C (SIGINT); bad binds are refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from wfe import WorkflowBuilder, WorkflowHost

WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))


def _store(path: Path) -> str:
    async def make() -> str:
        d = WorkflowBuilder(dict).start_with(lambda ctx: None).name("Only").end_workflow().build("one", 1)
        async with WorkflowHost(f"sqlite:///{path}") as host:
            host.register(d)
            wid = await host.start_workflow("one", {"x": 1}, reference="cli-ref")
            await host.wait_for_workflow(wid, timeout=10)
            return wid

    return asyncio.run(make())


def test_ui_serves_until_ctrl_c(tmp_path: Path) -> None:
    assert WFE, "the wfe console script is not installed in this environment"
    wid = _store(tmp_path / "ui.db")
    proc = subprocess.Popen(
        [WFE, "ui", "--db", f"sqlite:///{tmp_path / 'ui.db'}", "--port", "0", "--read-only", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["state"] == "serving" and started["read_only"] is True
        with urllib.request.urlopen(started["url"], timeout=5) as answer:
            page = answer.read().decode()
        assert wid in page and "cli-ref" in page and "read-only" in page
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ui_refuses_a_public_bind_without_token_and_a_missing_store(tmp_path: Path) -> None:
    assert WFE
    _store(tmp_path / "ui.db")
    public = subprocess.run([WFE, "ui", "--db", f"sqlite:///{tmp_path / 'ui.db'}", "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=30)
    assert public.returncode == 2 and "--token" in public.stderr and "--read-only" in public.stderr
    missing = subprocess.run([WFE, "ui", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--port", "0"],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 2 and not (tmp_path / "none.db").exists()
