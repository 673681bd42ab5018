"""The ``wfe`` command, run through its real console script on SQLite stores made by hosts here.

Covers list (filters, paging, newest first), show's step tree, errors, publish, the control
commands' exit codes, ``--json`` on every command, plain text when piped, and colour on a
terminal (under tmux, the one place a test sees a real tty).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wfe import ErrorBehavior, PointerStatus, WorkflowBuilder, WorkflowHost, WorkflowStatus

WFE = shutil.which("wfe", path=str(Path(sys.executable).parent))


def _noop(ctx: Any) -> None:
    return None


def _declined(ctx: Any) -> None:
    raise RuntimeError("card declined")


simple = WorkflowBuilder(dict).start_with(_noop, name="only").build("simple", 1)
nested = (
    WorkflowBuilder(dict)
    .start_with(_noop, name="begin")
    .for_each(
        lambda data: ["a", "b"],
        lambda body: body.start_with(_noop, name="each").if_do(
            lambda data: True, lambda inner: inner.start_with(_noop, name="inner")
        ),
    )
    .wait_for("go", lambda data: data["key"])
    .then(_noop, name="after")
    .build("nested", 1)
)
fails = (
    WorkflowBuilder(dict).start_with(_declined, name="charge")
    .on_error(ErrorBehavior.suspend()).build("fails", 1)
)
DEFINITIONS = (simple, nested, fails)


def wfe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert WFE is not None, "the wfe console script is not installed next to this Python"
    return subprocess.run(
        [WFE, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


async def _waiting(host: WorkflowHost, key: str) -> str:
    wid = await host.start_workflow("nested", {"key": key}, reference=f"n-{key}")
    for _ in range(500):
        instance = await host.persistence.get_workflow(wid)
        if any(p.status is PointerStatus.WAITING_FOR_EVENT for p in instance.execution_pointers):
            return wid
        await asyncio.sleep(0.02)
    raise AssertionError("the nested workflow never reached its wait")


async def _populate(url: str) -> dict[str, Any]:
    async with WorkflowHost(url) as host:
        for d in DEFINITIONS:
            host.register(d)
        first = [await host.start_workflow("simple", {}, reference=f"s-{i}") for i in range(3)]
        for wid in first:
            await host.wait_for_workflow(wid)
        await asyncio.sleep(0.05)
        between = datetime.now(UTC)
        await asyncio.sleep(0.05)
        later = [await host.start_workflow("simple", {}, reference=f"s-{i}") for i in (3, 4)]
        for wid in later:
            await host.wait_for_workflow(wid)
        waiting = await _waiting(host, "k-1")
        failed = await host.start_workflow("fails", {})
        assert (await host.wait_for_workflow(failed)).status is WorkflowStatus.SUSPENDED
    return {"url": url, "simple": first + later, "between": between, "nested": waiting,
            "failed": failed}


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store only read by the tests that use it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'wfe.db'}"
    return asyncio.run(_populate(url))


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, Any]:
    """A store of one waiting workflow, for the commands that change things."""
    url = f"sqlite:///{tmp_path / 'wfe.db'}"

    async def make() -> str:
        async with WorkflowHost(url) as host:
            host.register(nested)
            return await _waiting(host, "k-2")

    return {"url": url, "nested": asyncio.run(make())}


def _json(*args: str) -> Any:
    done = wfe(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_list_filters_pages_newest_first_and_shows_the_total(shared: dict[str, Any]) -> None:
    db = shared["url"]
    page = _json("list", "--db", db, "--definition", "simple", "--take", "2")
    assert page["total"] == 5 and len(page["items"]) == 2
    newest_first = list(reversed(shared["simple"]))
    assert [i["id"] for i in page["items"]] == newest_first[:2]
    rest = _json("list", "--db", db, "--definition", "simple", "--skip", "2", "--take", "10")
    assert [i["id"] for i in rest["items"]] == newest_first[2:]

    assert _json("list", "--db", db, "--status", "suspended")["items"][0]["id"] == shared["failed"]
    assert [i["id"] for i in _json("list", "--db", db, "--reference", "s-1")["items"]] == [
        shared["simple"][1]
    ]
    between = shared["between"].isoformat()
    after = _json("list", "--db", db, "--definition", "simple", "--created-after", between)
    before = _json("list", "--db", db, "--definition", "simple", "--created-before", between)
    assert {i["id"] for i in after["items"]} == set(shared["simple"][3:])
    assert {i["id"] for i in before["items"]} == set(shared["simple"][:3])
    assert _json("list", "--db", db, "--created-after", "2999-01-01")["total"] == 0

    text = wfe("list", "--db", db, "--definition", "simple", "--take", "2")
    assert text.returncode == 0, text.stderr
    header, *rows, footer = text.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "DEFINITION", "CREATED", "(UTC)", "REFERENCE"]
    assert [r.split()[0] for r in rows] == newest_first[:2]
    assert all(r.split()[1:3] == ["complete", "simple"] for r in rows)
    # Aligned: every row's status starts in the header's STATUS column.
    assert {r.index("complete") for r in rows} == {header.index("STATUS")}
    assert footer == "2 of 5; --skip 2 for more"


def test_search_takes_the_filters_of_list(shared: dict[str, Any]) -> None:
    found = _json("search", "--db", shared["url"], "--definition", "simple", "--skip", "4")
    assert found["total"] == 5 and [i["id"] for i in found["items"]] == shared["simple"][:1]


def test_show_nests_container_bodies_under_their_container(shared: dict[str, Any]) -> None:
    shown = wfe("show", "--db", shared["url"], shared["nested"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert "status     runnable" in lines and "reference  n-k-1" in lines
    steps = [line for line in lines[lines.index("") + 2:] if line]
    names = [re.match(r" *\S+(?: \S+)*", line).group() for line in steps]
    assert names == [
        "begin", "for each",
        "  each [item 'a']", "  if", "    inner",
        "  each [item 'b']", "  if", "    inner",
        "wait for go",
    ]
    assert "waiting_for_event" in steps[-1] and "event 'go' key 'k-1'" in steps[-1]
    assert steps[0].split()[1:3] == ["complete", "0"]  # status, retries

    tree = _json("show", "--db", shared["url"], shared["nested"])["steps"]
    assert [n["name"] for n in tree] == ["begin", "for each", "wait for go"]
    body = tree[1]["children"]
    assert [(n["name"], n["item"]) for n in body] == [
        ("each", "a"), ("if", None), ("each", "b"), ("if", None)
    ]
    assert body[1]["children"][0]["name"] == "inner" and body[1]["children"][0]["status"] == "complete"
    assert tree[2]["event_name"] == "go" and tree[2]["event_key"] == "k-1"
    assert tree[2]["end_time"] is None and datetime.fromisoformat(tree[2]["start_time"])


def test_errors_lists_what_the_failed_step_raised(shared: dict[str, Any]) -> None:
    found = _json("errors", "--db", shared["url"], shared["failed"])
    assert found["workflow_id"] == shared["failed"]
    assert [(e["step_name"], e["type"]) for e in found["errors"]] == [("charge", "RuntimeError")]
    assert "card declined" in found["errors"][0]["message"]
    text = wfe("errors", "--db", shared["url"], shared["failed"])
    header, row = text.stdout.splitlines()
    assert header.split()[:4] == ["TIME", "(UTC)", "STEP", "TYPE"]
    assert "charge" in row and "RuntimeError" in row and "card declined" in row
    clean = wfe("errors", "--db", shared["url"], shared["simple"][0])
    assert clean.returncode == 0 and clean.stdout == f"{shared['simple'][0]}: no errors\n"


@pytest.mark.parametrize("command", ["show", "errors", "suspend"])
def test_a_missing_id_exits_3_and_says_how_to_find_one(shared: dict[str, Any], command: str) -> None:
    missing = wfe(command, "--db", shared["url"], "no-such-id")
    assert missing.returncode == 3
    assert missing.stdout == ""
    assert "no workflow with id 'no-such-id'" in missing.stderr and "wfe list" in missing.stderr
    as_json = wfe(command, "--db", shared["url"], "no-such-id", "--json")
    assert as_json.returncode == 3 and json.loads(as_json.stdout)["error"]["code"] == 3


def test_bad_input_exits_2_and_says_what_to_give(shared: dict[str, Any], tmp_path: Path) -> None:
    unknown = wfe("list", "--db", shared["url"], "--colour")
    assert unknown.returncode == 2 and "unrecognized arguments: --colour" in unknown.stderr
    assert "--help" in unknown.stderr and unknown.stdout == ""
    bad_date = wfe("list", "--db", shared["url"], "--created-after", "yesterday", "--json")
    assert bad_date.returncode == 2 and "2025-01-31" in bad_date.stderr
    assert "not an ISO date" in json.loads(bad_date.stdout)["error"]["message"]
    bad_data = wfe("publish", "--db", shared["url"], "go", "k", "--data", "{oops")
    assert bad_data.returncode == 2 and "--data '{" in bad_data.stderr
    no_store = wfe("list", env={"WFE_PERSISTENCE": ""})
    assert no_store.returncode == 2 and "set WFE_PERSISTENCE" in no_store.stderr
    typo = wfe("list", "--db", f"sqlite:///{tmp_path / 'typo.db'}")
    assert typo.returncode == 2 and "check the path" in typo.stderr
    assert list(tmp_path.iterdir()) == []


def test_help_lists_the_exit_codes() -> None:
    helped = wfe("--help")
    assert helped.returncode == 0
    for line in ("exit codes:", "0  done", "1  not done: nothing to change", "2  usage or bad input",
                 "3  not found", "4  a store failed"):
        assert line in helped.stdout
    for command in ("list", "show", "errors", "publish", "search", "reindex", "providers", "start",
                    "hosts", "validate", "run", "schema", "ui", "worker"):
        assert command in helped.stdout


def test_publish_lets_the_waiting_workflow_complete_once_a_host_runs(fresh: dict[str, Any]) -> None:
    published = _json("publish", "--db", fresh["url"], "go", "k-2", "--data", '{"paid": 3}')
    assert published["event_name"] == "go" and published["event_key"] == "k-2"
    assert published["data"] == {"paid": 3} and len(published["event_id"]) == 32
    # A future effective date is stored as given; it reaches waits begun by then.
    later = wfe("publish", "--db", fresh["url"], "go", "other", "--effective-date", "2999-01-01")
    assert later.returncode == 0 and later.stdout.startswith("published 'go' key 'other': event ")

    async def run() -> WorkflowStatus:
        async with WorkflowHost(fresh["url"]) as host:
            host.register(nested)
            return (await host.wait_for_workflow(fresh["nested"], timeout=30)).status

    assert asyncio.run(run()) is WorkflowStatus.COMPLETE
    tree = _json("show", "--db", fresh["url"], fresh["nested"])["steps"]
    assert [(n["name"], n["status"]) for n in tree][-2:] == [
        ("wait for go", "complete"), ("after", "complete")
    ]


def test_control_exits_1_when_there_is_nothing_to_change(fresh: dict[str, Any]) -> None:
    db, wid = fresh["url"], fresh["nested"]
    assert _json("suspend", "--db", db, wid) == {
        "id": wid, "command": "suspend", "changed": True, "status": "suspended"
    }
    again = wfe("suspend", "--db", db, wid)
    assert again.returncode == 1
    assert again.stdout == f"{wid}: nothing to change: it is suspended, and suspend applies to a " \
        "runnable workflow\n"
    resumed = wfe("resume", "--db", db, wid)
    assert resumed.returncode == 0 and resumed.stdout == f"{wid}: done\n"


@pytest.mark.parametrize(
    "command",
    [
        ["providers"], ["list"], ["search", "s-1"], ["show", "{nested}"], ["errors", "{nested}"],
        ["publish", "go", "nobody"], ["terminate", "{nested}"], ["reindex"],
    ],
    ids=lambda c: c[0],
)
def test_every_command_writes_one_json_document(fresh: dict[str, Any], command: list[str]) -> None:
    args = [a.format(**fresh) for a in command]
    store = [] if command == ["providers"] else ["--db", fresh["url"]]
    for where in (["--json", *args, *store], [*args, *store, "--json"]):
        done = wfe(*where)
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)  # the whole of stdout is one document
        assert isinstance(document, dict) and document
        if command[0] == "terminate":
            break  # a second terminate has nothing to change
    if command[0] == "providers":
        sqlite = next(p for p in document["providers"] if p["scheme"] == "sqlite")
        assert sqlite["scheme"] == "sqlite"
        assert sqlite["capabilities"] == ["persistence", "lock", "queue", "search", "heartbeats"]
    if command[0] == "reindex":
        assert document == {"reindexed": 1}


def test_piped_output_is_plain_text(shared: dict[str, Any]) -> None:
    for args in (["list"], ["show", shared["failed"]], ["providers"], ["errors", shared["failed"]]):
        store = [] if args == ["providers"] else ["--db", shared["url"]]
        done = wfe(*args, *store, env={"TERM": "xterm-256color", "NO_COLOR": ""})
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed: no terminal to run wfe in")
def test_list_on_a_terminal_is_coloured_unless_no_color(shared: dict[str, Any], tmp_path: Path) -> None:
    # A server of our own (-L), started with this environment, killed at the end.
    socket = f"wfe-test-{uuid.uuid4().hex[:8]}"
    line = f"{WFE} list --db {shared['url']} --definition fails"
    script = tmp_path / "run.sh"
    script.write_text(f"unset NO_COLOR\n{line}\necho MARK\nNO_COLOR=1 {line}\necho DONE\nsleep 60\n")
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "200", "-y", "50",
                    "bash", str(script)], check=True, timeout=30)
    try:
        screen = ""
        deadline = time.monotonic() + 60
        while "DONE" not in screen and time.monotonic() < deadline:
            time.sleep(0.2)
            screen = subprocess.run(["tmux", "-L", socket, "capture-pane", "-p", "-e"],
                                    capture_output=True, text=True, timeout=30).stdout
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], timeout=30)
    assert "DONE" in screen, screen
    coloured, plain = screen.split("MARK", 1)
    assert shared["failed"] in coloured and shared["failed"] in plain
    assert "\x1b[33msuspended" in coloured  # the status in yellow
    assert "\x1b[1mID" in coloured  # a bold header
    assert "\x1b[" not in plain.split("DONE")[0]


async def test_steering_by_filters_asks_first_and_shows_progress(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowHost(url) as host:
        host.register(nested)
        waiting = [await _waiting(host, f"k{n}") for n in range(12)]
    other = f"sqlite:///{tmp_path / 'other.db'}"  # nothing there matches
    async with WorkflowHost(other) as host:
        host.register(simple)
        await host.wait_for_workflow(await host.start_workflow("simple", {}), timeout=30)

    refused = wfe("terminate", "--db", url, "--definition", "nested")  # piped: nobody to ask
    assert refused.returncode == 2 and "12 workflow(s) match; give --yes" in refused.stderr
    nothing = wfe("suspend", "--db", url)
    assert nothing.returncode == 2 and "give a workflow id, or filters" in nothing.stderr

    done = wfe("suspend", "--db", url, "--definition", "nested", "--status", "runnable", "--yes")
    assert done.returncode == 0, done.stderr
    assert "suspend: 12 of 12 matching workflow(s) changed" in done.stdout
    assert "12/12" in done.stderr  # the progress bar
    resumed = json.loads(
        wfe("resume", "--db", url, "--reference", "n-k3", "--yes", "--json").stdout
    )
    assert resumed == {"command": "resume", "matched": 1, "changed": [waiting[3]]}
    async with WorkflowHost(url).open_stores() as reader:
        statuses = {wid: await reader.persistence.get_status(wid) for wid in waiting}
    assert statuses.pop(waiting[3]) is WorkflowStatus.RUNNABLE
    assert set(statuses.values()) == {WorkflowStatus.SUSPENDED}
    again = wfe("terminate", "--db", other, "--definition", "nested", "--yes")
    assert again.returncode == 1 and "0 of 0" in again.stdout
