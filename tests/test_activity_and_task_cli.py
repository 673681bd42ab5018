"""``wfe activity``, ``wfe tasks`` and ``wfe act`` against a SQLite store a running host uses.

The host runs in the test; the commands are separate processes, as a worker in another
language and a person at a terminal would be. The activity worker is waiting before the
workflow starts: the activity is pushed to it across processes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus

DOUBLE = "import json, sys; p = json.load(sys.stdin); print(json.dumps(p['n'] * 2))"
FAIL = "import sys; print('no oven free', file=sys.stderr); sys.exit(3)"

flow = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .activity("double", parameters=lambda d: {"n": d["n"]})
    .output(doubled="result")
    .user_task("Ship it?", assigner="ann", options={
        "yes": lambda b: b.start_with(lambda ctx: ctx.data.update(shipped=True)),
        "no": None,
    })
    .build("cli-flow", 1)
)


async def wfe(*args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from wfe._cli import main; sys.exit(main())", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


@pytest.mark.slow  # three processes start
async def test_activity_worker_tasks_and_act_commands(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    async with WorkflowHost(db) as host:
        host.register(flow)
        worker = asyncio.ensure_future(
            wfe("activity", "double", "--db", db, "--once", "--wait", "60", "--json",
                "--", sys.executable, "-c", DOUBLE)
        )
        await asyncio.sleep(1.0)  # let it start and wait (a process starting is not instant)
        wid = await host.start_workflow("cli-flow", {"n": 21})
        done = await worker
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == 42

        for _ in range(500):
            if await host.get_open_user_actions(wid):
                break
            await asyncio.sleep(0.02)
        listed = await wfe("tasks", "--db", db, "--assignee", "ann", "--json")
        [task] = json.loads(listed.stdout)["tasks"]
        assert (task["prompt"], task["options"], task["workflow_id"]) == ("Ship it?", ["yes", "no"], wid)

        wrong = await wfe("act", task["key"], "maybe", "--user", "ann", "--db", db)
        assert wrong.returncode == 2 and "choose one of: yes, no" in wrong.stderr
        right = await wfe("act", task["key"], "yes", "--user", "ann", "--db", db)
        assert right.returncode == 0, right.stderr
        again = await wfe("act", task["key"], "no", "--user", "ann", "--db", db)
        assert again.returncode == 1 and "is closed" in again.stderr
        instance = await host.wait_for_workflow(wid)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["doubled"] == 42 and instance.data["shipped"] is True


async def test_a_failing_command_is_the_activity_failure_with_its_stderr(tmp_path):
    db = f"sqlite:///{tmp_path / 'fail.db'}"
    async with WorkflowHost(db) as host:
        host.register(flow)
        wid = await host.start_workflow("cli-flow", {"n": 1})
        done = await wfe("activity", "double", "--db", db, "--once", "--wait", "60",
                         "--", sys.executable, "-c", FAIL)
        assert done.returncode == 0, done.stderr
        assert "failed:" in done.stdout and "no oven free" in done.stdout
        for _ in range(500):
            if await host.get_execution_errors(wid):
                break
            await asyncio.sleep(0.02)
        [error] = await host.get_execution_errors(wid)
    assert "exited with 3: no oven free" in error.message


@pytest.mark.slow  # two command processes
async def test_show_tells_what_a_workflow_waits_on(tmp_path):
    db = f"sqlite:///{tmp_path / 'show.db'}"
    async with WorkflowHost(db) as host:
        host.register(flow)
        wid = await host.start_workflow("cli-flow", {"n": 2})
        for _ in range(500):
            if await host.get_external_waits(wid):
                break
            await asyncio.sleep(0.02)
        free = await wfe("show", wid, "--db", db)
        assert free.returncode == 0, free.stderr
        assert "activity 'double' (no worker has it)" in free.stdout

        pending = await host.get_pending_activity("double", "w1", timeout=10)
        assert pending is not None
        await host.submit_activity_success(pending.token, 4)
        for _ in range(500):
            if await host.get_open_user_actions(wid):
                break
            await asyncio.sleep(0.02)
        person = await wfe("show", wid, "--db", db, "--json")
        [step] = [s for s in json.loads(person.stdout)["steps"] if s["waits_on"]]
        assert step["waits_on"] | {"key": None, "pointer_id": None} == {
            "kind": "user_task", "pointer_id": None, "activity": None, "parameters": None,
            "held": None, "prompt": "Ship it?", "assigned_to": "ann", "options": ["yes", "no"],
            "escalate_at": None, "escalate_to": None, "key": None,
        }
