"""Live hosts (heartbeats, ``wfe hosts``) and clients that start what only workers can run.

A running host records a heartbeat in its store every ``heartbeat_interval`` (the lock's store
when that is Valkey), says it drains when it stops and removes itself at the end; a record that
stopped being renewed shows as stale. A ``WorkflowClient`` (and ``wfe start``) stores a workflow
by definition id and version without the definition's code: it waits until a worker that has
registered it runs, and ``wfe list`` shows it waiting for a worker until then.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from wfe import (
    HostRecord,
    PointerStatus,
    WorkflowBuilder,
    WorkflowClient,
    WorkflowHost,
    WorkflowStatus,
)
from wfe.errors import WorkflowNotRegisteredError
from wfe_core.testing import StoreSet
from wfe_core.testing._pytest_plugin import stores_or_skip

WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))


@attrs.define
class Order:
    order_id: int
    paid: bool = False


def _pay(ctx: Any) -> None:
    ctx.data.paid = True


pay = WorkflowBuilder(Order).start_with(_pay, name="pay").build("pay", 2)
other = WorkflowBuilder(dict).start_with(lambda ctx: None, name="noop").build("other", 1)


async def wfe(*args: str) -> tuple[int, str, str]:
    """The real console script, without blocking the loop the hosts of the test run on."""
    assert WFE is not None, "the wfe console script is not installed next to this Python"
    proc = await asyncio.create_subprocess_exec(
        WFE, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def store_args(options: dict[str, Any]) -> list[str]:
    args = ["--db", options["persistence"]]
    for name in ("lock", "queue", "search"):
        if options.get(name):
            args += [f"--{name}", options[name]]
    return args


async def _until(check: Any, what: str, limit: float = 20.0) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {what} within {limit} s")


@pytest.mark.parametrize(
    "store_set",
    [StoreSet("sqlite"), StoreSet("postgresql"), StoreSet("sqlite", lock="valkey", queue="valkey")],
    ids=lambda s: s.id,
)
async def test_a_host_beats_drains_and_leaves_and_a_silent_one_shows_stale(
    store_set: StoreSet, tmp_path: Path
) -> None:
    with stores_or_skip(store_set, tmp_path) as stores:
        options = stores.host_options()
        args = store_args(options)
        async with WorkflowHost(**options, heartbeat_interval=0.2) as host:
            host.register(pay)
            host.register(other)
            reader = WorkflowHost(**options)
            async with reader.open_stores():
                (mine,) = await _until(reader.list_hosts, "the host's heartbeat")
                # A host that died an hour ago, its record left behind.
                dead_at = datetime.now(UTC) - timedelta(hours=1)
                assert reader.heartbeats is not None
                await reader.heartbeats.record_heartbeat(HostRecord(
                    id="dead-host", hostname="gone", pid=1, wfe_version="0.0.1",
                    started=dead_at, last_seen=dead_at, interval=10.0,
                ))
            assert mine.pid == os.getpid() and mine.definitions == {"other": [1], "pay": [2]}
            assert not mine.is_stale(datetime.now(UTC)) and not mine.draining

            code, out, err = await wfe("hosts", *args, "--json")
            assert code == 0, err
            listed = {h["id"]: h for h in json.loads(out)["hosts"]}
            assert listed[mine.id]["state"] == "live" and listed[mine.id]["in_flight"] == 0
            assert listed["dead-host"]["state"] == "stale" and listed["dead-host"]["stale"] is True
            code, out, err = await wfe("hosts", *args)
            assert code == 0, err
            assert "2 host(s): 1 live, 1 stale" in out and "pay v2" in out

            # Time moves on for the live host: its record is renewed.
            renewed = await _until(
                lambda: _newer_than(reader, options, mine), "a renewed heartbeat"
            )
            assert renewed.last_seen > mine.last_seen
        async with WorkflowHost(**options).open_stores() as after:
            assert [h.id for h in await after.list_hosts()] == ["dead-host"]  # it left at stop


async def _newer_than(reader: WorkflowHost, options: dict[str, Any], seen: HostRecord) -> Any:
    async with WorkflowHost(**options).open_stores() as again:
        for record in await again.list_hosts():
            if record.id == seen.id and record.last_seen > seen.last_seen:
                return record
    return None


async def test_a_host_on_memory_lists_itself() -> None:
    async with WorkflowHost(heartbeat_interval=0.1) as host:
        host.register(other)
        (me,) = await _until(host.list_hosts, "its own heartbeat")
        assert me.definitions == {"other": [1]}


async def test_a_client_starts_what_only_a_worker_can_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowClient(url) as client:
        # No version, and no live worker to say which: refused, and nothing is stored.
        with pytest.raises(WorkflowNotRegisteredError, match="Give its version"):
            await client.start_workflow("pay", {"order_id": 7})
        assert (await client.search()).total == 0
        wid = await client.start_workflow("pay", {"order_id": 7}, version=2, reference="o-7")
        waiting = await client.get_workflow(wid)
        assert waiting.status is WorkflowStatus.RUNNABLE and waiting.data == {"order_id": 7}

    code, out, err = await wfe("list", "--db", url, "--json")
    assert code == 0, err
    (item,) = json.loads(out)["items"]
    assert item["id"] == wid and item["waiting_for_worker"] is True
    code, out, err = await wfe("list", "--db", url)
    assert "runnable (no worker)" in out and "wait for a worker" in out

    async with WorkflowHost(url, poll_interval=0.5) as worker:  # the worker has the code
        worker.register(pay)
        done = await worker.wait_for_workflow(wid, timeout=30)
        assert done.status is WorkflowStatus.COMPLETE and done.data == Order(7, paid=True)
        # With a live worker announcing it, no version is needed: its newest is taken.
        async with WorkflowClient(url) as client:
            await _until(client.list_hosts, "the worker's heartbeat")
            second = await client.start_workflow("pay", {"order_id": 8})
            finished = await client.wait_for_workflow(second, timeout=30)
        assert finished.version == 2 and finished.data == {"order_id": 8, "paid": True}
        (first_step,) = finished.execution_pointers
        assert first_step.step_name == "pay" and first_step.status is PointerStatus.COMPLETE


async def test_wfe_start_runs_on_a_live_worker_and_waits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowHost(url, heartbeat_interval=0.2) as worker:
        worker.register(pay)
        async with WorkflowHost(url).open_stores() as reader:
            await _until(reader.list_hosts, "the worker's heartbeat")
        code, out, err = await wfe(
            "start", "pay", "--db", url, "--data", '{"order_id": 3}', "--wait", "30", "--json"
        )
        assert code == 0, err
        started = json.loads(out)
        assert started["version"] == 2 and started["status"] == "complete"
        assert started["waiting_for_worker"] is False
        done = await worker.get_workflow(started["id"])
        assert done.data == Order(3, paid=True)
    code, out, err = await wfe("start", "pay", "--db", url, "--data", "{not json")
    assert code == 2 and "not JSON" in err


async def test_data_the_definition_does_not_take_suspends_the_workflow_with_an_error(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowClient(url) as client:
        wid = await client.start_workflow("pay", {"order": "seven"}, version=2)
    async with WorkflowHost(url, poll_interval=0.5) as worker:
        worker.register(pay)
        suspended = await worker.wait_for_workflow(wid, timeout=30)
        assert suspended.status is WorkflowStatus.SUSPENDED
        assert suspended.data == {"order": "seven"}  # as stored: it does not fit the type
        (error,) = await worker.get_execution_errors(wid)
    assert "does not fit the data type of 'pay' version 2" in error.message
    assert "required field missing @ $.order_id" in error.message


async def test_a_worker_without_the_definition_hands_it_to_a_live_worker_with_it(
    tmp_path: Path,
) -> None:
    """Both workers poll only every minute: the workflow completes in seconds only because the
    worker that lacks its definition queues it for the one its heartbeats say has it.

    The starts are spread over 0.8 s, as a client's requests come: started in one burst, the
    worker with the definition could claim all 40 before the other's first look at the queue
    (an idle host looks every 250 ms at most), and the hand-on would go untested. Which worker
    claims a queued workflow is a race, which the one with the definition can win 40 times in
    a row on a loaded machine (it did once in CI): then another 40 are started, up to five
    rounds, until the other worker has had one to hand on."""
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    settings: dict[str, Any] = {"poll_interval": 60, "heartbeat_interval": 0.5}
    async with WorkflowHost(url, **settings) as lacking, WorkflowHost(url, **settings) as having:
        lacking.register(other)
        having.register(pay)
        await _until(lambda: _both_listed(lacking), "both heartbeats")
        await asyncio.sleep(1.0)  # each has read the other's at its own beat
        missing = lacking._runtime.runner.missing  # type: ignore[union-attr]
        for _ in range(5):
            async with WorkflowClient(url) as client:
                wids = []
                for n in range(40):
                    wids.append(await client.start_workflow("pay", {"order_id": n}, version=2))
                    await asyncio.sleep(0.02)
            for wid in wids:
                done = await having.wait_for_workflow(wid, timeout=30)
                assert done.status is WorkflowStatus.COMPLETE
            if ("pay", 2) in missing:
                break
        assert ("pay", 2) in missing


async def _both_listed(host: WorkflowHost) -> bool:
    return len(await host.list_hosts()) == 2


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no terminal to run wfe in")
async def test_terminate_by_filter_on_a_terminal_asks_and_does_it_on_yes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    waits = WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", "k").build("waits", 1)
    async with WorkflowHost(url) as host:
        host.register(waits)
        wids = [await host.start_workflow("waits", {}) for _ in range(3)]
    socket = f"wfe-test-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "run.sh"
    script.write_text(f"{WFE} terminate --db {url} --definition waits\necho DONE\nsleep 60\n")
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "200", "-y", "50",
                    "bash", str(script)], check=True, timeout=30)

    async def screen() -> str:
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-L", socket, "capture-pane", "-p", stdout=subprocess.PIPE)
        return (await proc.communicate())[0].decode()

    try:
        asked = await _until(lambda: _holding(screen, "[y/N]"), "the question", 60)
        assert "terminate 3 workflow(s)? [y/N]" in asked
        subprocess.run(["tmux", "-L", socket, "send-keys", "y", "Enter"], check=True, timeout=30)
        done = await _until(lambda: _holding(screen, "DONE"), "the command's end", 60)
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], timeout=30)
    assert "terminate: 3 of 3 matching workflow(s) changed" in done
    async with WorkflowHost(url).open_stores() as reader:
        assert {await reader.persistence.get_status(w) for w in wids} == {WorkflowStatus.TERMINATED}


async def _holding(screen: Any, text: str) -> str | None:
    shown: str = await screen()
    return shown if text in shown else None
