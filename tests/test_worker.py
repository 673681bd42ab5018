"""``wfe worker``: drained on SIGTERM with its work given back, health answers, systemd's protocol.

Workers run as real processes through the console entry point, on a SQLite file that they and
this test share; the definitions live in a module written to the test's directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from wfe import WorkflowHost, WorkflowStatus
from wfe.errors import ConfigurationError

pytestmark = pytest.mark.slow

FLOWS = '''
import os, time
from wfe import StepBody, WorkflowBuilder

def mark(ctx, what):
    with open(os.environ["STEP_LOG"], "a") as f:
        f.write(f"{ctx.workflow.id} {what} {os.getpid()}\\n")

class Step(StepBody):
    def run(self, ctx):
        time.sleep(float(os.environ.get("STEP_SECONDS", "0.05")))
        mark(ctx, f"step-{ctx.step.id}")

builder = WorkflowBuilder(dict).start_with(Step)
for _ in range(7):
    builder = builder.then(Step)
chain = builder.build("chain", 1)

def definitions():
    return [chain]
'''

WFE = str(Path(sys.executable).with_name("wfe"))


@pytest.fixture
def flows(tmp_path: Path) -> dict[str, str]:
    """The environment of a worker that can import ``flows``, logging its steps to a file."""
    (tmp_path / "flows.py").write_text(FLOWS)
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "STEP_LOG": str(tmp_path / "steps.log")}


def worker(env: dict[str, str], db: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [WFE, "worker", "flows:definitions", "--db", db, *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_running(process: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until the worker says it runs (its first line on stderr)."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if "running chain v1" in line:
            return
        assert line or process.poll() is None, f"the worker exited: {process.communicate()}"
    raise AssertionError("the worker did not start")


def steps(log: Path) -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []  # type: ignore[misc]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def probe(port: int, path: str) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def start_chains(db: str, count: int, spacing: float = 0.0) -> list[str]:
    """Store ``count`` chains from a host that runs nothing (its stores only open), ``spacing``
    seconds apart."""
    import importlib

    flows = importlib.import_module("flows")
    host = WorkflowHost(db)
    host.register(flows.chain)
    wids = []
    async with host.open_stores():
        for _ in range(count):
            wids.append(await host.start_workflow("chain", {}))
            await asyncio.sleep(spacing)
    return wids


def start_one(tmp_path: Path, db: str) -> None:
    """Store one chain, from a test that runs no event loop of its own."""
    sys.path.insert(0, str(tmp_path))
    try:
        asyncio.run(start_chains(db, 1))
    finally:
        sys.path.remove(str(tmp_path))


async def test_sigterm_drains_and_another_worker_finishes_every_workflow_with_no_step_twice(
    tmp_path: Path, flows: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    log = tmp_path / "steps.log"
    # 16 slots each for 40 workflows: neither can take them all while the other's queue readers
    # back off, so both run some and the drain has work to give back.
    limits = ("--grace", "20", "--concurrency", "16")
    first, second = worker(flows, db, *limits, "--json"), worker(flows, db, *limits)
    try:
        wait_running(first)
        wait_running(second)
        monkeypatch.syspath_prepend(str(tmp_path))
        # Spread over 0.8 s: a worker idle for a while looks at the SQLite queue every 250 ms,
        # and the first to look, claiming at once from then on, could take a burst of 40
        # starts before the other's first look (the fresh-clone CI saw it once).
        wids = await start_chains(db, 40, spacing=0.02)
        while len(steps(log)) < 60:  # mid-run: some workflows done, most not
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(first.communicate, timeout=30)
        assert first.returncode == 0, err
        assert "drained and stopped" in err
        states = [json.loads(line) for line in out.splitlines()]  # --json: one line per state
        assert [s["state"] for s in states] == ["running", "stopped"]
        assert states[0]["definitions"] == [{"id": "chain", "version": 1}]
        stopped = time.monotonic()

        async with WorkflowHost(db).open_stores() as reader:
            for wid in wids:
                while (await reader.persistence.get_status(wid)) is not WorkflowStatus.COMPLETE:
                    assert time.monotonic() - stopped < 60, f"{wid} never completed"
                    await asyncio.sleep(0.05)
        # Given back at once, not when a lease expired (30 s) or a poll came (10 s).
        assert time.monotonic() - stopped < 5
    finally:
        for process in (first, second):
            if process.poll() is None:
                process.kill()
                process.wait()
    runs = Counter((wid, what) for wid, what, _ in steps(log))
    assert set(runs.values()) == {1}, [k for k, n in runs.items() if n > 1]
    assert len(runs) == 40 * 8
    by = Counter(pid for _, _, pid in steps(log))
    assert str(first.pid) in by and str(second.pid) in by  # both ran some


def test_a_second_signal_exits_at_once(tmp_path: Path, flows: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    env = {**flows, "STEP_SECONDS": "60"}
    process = worker(env, db, "--grace", "60")
    try:
        wait_running(process)
        start_one(tmp_path, db)
        time.sleep(1.0)  # the step is running
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert process.poll() is None  # draining: waiting for the step
        began = time.monotonic()
        process.send_signal(signal.SIGINT)
        process.wait(10)
        assert process.returncode == 1
        assert time.monotonic() - began < 5
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_health_answers_live_ready_and_draining(tmp_path: Path, flows: dict[str, str]) -> None:
    db = f"sqlite:///{tmp_path / 'wfe.db'}"
    port = free_port()
    process = worker({**flows, "STEP_SECONDS": "3"}, db, "--health-port", str(port), "--grace", "30")
    try:
        wait_running(process)
        assert probe(port, "/livez") == (200, {"status": "alive"})
        assert probe(port, "/readyz") == (200, {"status": "ready"})
        assert probe(port, "/other")[0] == 404
        start_one(tmp_path, db)
        time.sleep(0.5)  # a 3 s step is running
        process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        assert probe(port, "/readyz") == (503, {"status": "draining"})
        assert probe(port, "/livez")[0] == 200
        process.wait(30)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_readiness_follows_the_store(tmp_path: Path, flows: dict[str, str]) -> None:
    """A worker whose database is down is not ready, and is ready again when it is back."""
    from tests.postgres._cluster import cluster_or_skip

    port = free_port()
    with cluster_or_skip() as cluster:
        db = f"postgresql://wfe:wfe@127.0.0.1:{cluster.port}/wfe_test?schema=wfe_worker&call_timeout=1"
        process = worker(flows, db, "--health-port", str(port))
        try:
            wait_running(process)
            assert probe(port, "/readyz")[0] == 200
            assert cluster.ctl("stop").returncode == 0
            deadline = time.monotonic() + 20
            while (answer := probe(port, "/readyz"))[0] == 200:
                assert time.monotonic() < deadline, "still ready with the database down"
                time.sleep(0.2)
            assert answer[0] == 503 and "unavailable" in answer[1]["status"]
            cluster.ensure_up()
            deadline = time.monotonic() + 20
            while probe(port, "/readyz")[0] != 200:
                assert time.monotonic() < deadline, "not ready again with the database back"
                time.sleep(0.2)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        assert process.returncode == 0


def test_systemd_hears_ready_watchdog_and_stopping(tmp_path: Path, flows: dict[str, str]) -> None:
    """The test plays systemd's notify socket."""
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(20)
        env = {**flows, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"}
        process = worker(env, f"sqlite:///{tmp_path / 'wfe.db'}")
        try:
            heard = [notify.recv(256).decode() for _ in range(3)]
            assert heard[0] == "READY=1"
            assert heard[1:] == ["WATCHDOG=1", "WATCHDOG=1"]
            process.send_signal(signal.SIGTERM)
            while (message := notify.recv(256).decode()) == "WATCHDOG=1":
                pass
            assert message == "STOPPING=1"
            process.wait(30)
            assert process.returncode == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_a_bad_definitions_target_says_what_to_write(tmp_path: Path, flows: dict[str, str]) -> None:
    from wfe._worker import load_definitions

    for target, says in [
        ("flows", "write module:attribute"),
        ("no_such_module:x", "cannot import 'no_such_module'"),
        ("flows:nothing", "has no attribute 'nothing'"),
        ("flows:os", "not workflow definitions"),
    ]:
        sys.path.insert(0, str(tmp_path))
        try:
            with pytest.raises(ConfigurationError, match=says):
                load_definitions(target)
        finally:
            sys.path.remove(str(tmp_path))
    assert [d.id for d in load_definitions("flows:definitions")] == ["chain"]
    bad = subprocess.run(
        [WFE, "worker", "flows:nothing", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        env=flows, capture_output=True, text=True, timeout=60,
    )
    assert bad.returncode == 2 and "has no attribute 'nothing'" in bad.stderr
    assert textwrap.dedent(bad.stdout) == ""
    assert shutil.which(WFE) is not None
