"""The shell step with real bash processes: outputs, the printed lines kept with the step (on
success and on failure, through a SQLite host), timeouts that end the whole process group,
large outputs, and config errors; plus the output parsing and environment helpers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.yaml import _shell as shell_module
from wfe.yaml._outputs import (
    KEPT_CHARS,
    KEPT_LINES,
    PrintedLines,
    StepCommandError,
    StepConfigError,
    data_environment,
    env_name,
    parse_output_line,
    typed_value,
    watch_output,
)
from wfe.yaml._shell import ShellStep
from wfe_core import ExecutionPointer, StepExecutionContext, WorkflowInstance, WorkflowStep


def context(data: Any) -> StepExecutionContext:
    return StepExecutionContext(
        data=data,
        workflow=WorkflowInstance(data=data),
        step=WorkflowStep(id=0, body=ShellStep, name="t"),
        pointer=ExecutionPointer(step_name="t"),
    )


async def run_shell(config: dict[str, Any], data: Any = None) -> StepExecutionContext:
    step = ShellStep()
    step.config = config
    ctx = context({} if data is None else data)
    await step.run(ctx)
    return ctx


def ended(pid: int) -> bool:
    """Whether a process has ended (a zombie waiting for init to reap it has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


async def gone(pid: int) -> bool:
    """Whether a process ends within a few seconds: one that was killed may still be closing
    down (its pipes already closed) when the step returns."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while not ended(pid):
                await asyncio.sleep(0.01)
    return ended(pid)


# -- output lines and environment -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("null", None),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("007", "007"),
        ("1.2.3", "1.2.3"),
        ("True", "True"),
        ("", ""),
        ("hello world", "hello world"),
        ("1e999", "1e999"),
    ],
)
def test_output_values_are_typed(text: str, value: Any) -> None:
    assert typed_value(text) == value
    assert type(typed_value(text)) is type(value)


def test_output_lines_are_parsed() -> None:
    assert parse_output_line("##wfe[output version=1.2.3]") == ("version", "1.2.3")
    assert parse_output_line("  ##wfe[output ok=true]  ") == ("ok", True)
    assert parse_output_line("##wfe[output expr=a=b [x]]") == ("expr", "a=b [x]")
    assert parse_output_line("##wfe[output build-id.x=9]") == ("build-id.x", 9)
    assert parse_output_line("##wfe[output empty=]") == ("empty", "")
    for line in ("echo ##wfe[output a=1]", "##wfe[output =1]", "##wfe[output 1a=1]", "##wfe[output a 1]", "plain"):
        assert parse_output_line(line) is None, line


def test_environment_from_data_never_sets_protected_names() -> None:
    env = data_environment(
        {
            "name": "x",
            "count": 3,
            "flag": True,
            "nothing": None,
            "nested": {"a": [1, "é"]},
            "build-id": "b",
            "path": "/evil",
            "PATH": "/evil",
            "ld_preload": "/evil.so",
            "BASH_ENV": "/evil.sh",
            "Home": "/evil",
            "PYTHONPATH": "/evil",
            "BASH_FUNC_ls%%": "() { evil; }",
            "1st": "no",
        }
    )
    assert env == {
        "NAME": "x",
        "COUNT": "3",
        "FLAG": "true",
        "NOTHING": "null",
        "NESTED": json.dumps({"a": [1, "é"]}, ensure_ascii=False),
        "BUILD_ID": "b",
    }
    assert env_name("ifs") is None and env_name("lc_all") is None and env_name("wfe_x") is None


def test_data_that_cannot_be_environment_is_refused() -> None:
    with pytest.raises(StepConfigError, match="NUL"):
        data_environment({"bad": "a\0b"})
    with pytest.raises(StepConfigError, match="dict"):
        data_environment(["not", "a", "dict"])


def test_kept_lines_are_bounded_and_marked_by_stream() -> None:
    lines = PrintedLines(None)
    lines.feed("stderr", b"first\n")
    for i in range(KEPT_LINES + 50):
        lines.feed("stdout", f"line {i}\n".encode())
    lines.feed("stderr", b"oops")  # no newline: handled at close
    lines.close()
    kept = lines.kept()
    assert kept[:3] == ["[wfe] 50 earlier lines not kept", "[stderr] first", "[stdout] line 50"]
    assert kept[-2:] == [f"[stdout] line {KEPT_LINES + 49}", "[stderr] oops"]
    assert len(kept) == KEPT_LINES + 3
    assert lines.tail("stderr") == ["first", "oops"]

    wide = PrintedLines(None)
    wide.feed("stdout", (("x" * 3000) + "\n").encode() * 100)
    assert sum(map(len, wide.kept())) <= KEPT_CHARS + 100


# -- through a host ---------------------------------------------------------------------------


async def test_outputs_reach_later_steps_and_lines_are_kept(tmp_path: Path) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(ShellStep)
        .name("produce")
        .input(
            config={
                "run": 'echo "hello $WHO"; echo warn >&2\n'
                'for kv in n=42 ratio=0.5 ok=true gone=null tag=v1.2; do echo "##wfe[output $kv]"; done'
            }
        )
        .then(ShellStep)
        .name("consume")
        .input(config={"run": 'echo "##wfe[output seen=$N/$OK/$TAG/$GONE]"; echo "$EXTRA"', "env": {"EXTRA": "e"}})
        .end_workflow()
        .build("outputs", 1)
    )
    async with WorkflowHost(persistence=f"sqlite:///{tmp_path / 'wfe.db'}") as host:
        host.register(definition)
        wid = await host.start_workflow("outputs", {"who": "world"})
        instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {
        "who": "world", "n": 42, "ratio": 0.5, "ok": True, "gone": None, "tag": "v1.2",
        "seen": "42/true/v1.2/null",
    }  # fmt: skip
    output = {p.step_name: p.extension_attributes["output"] for p in instance.execution_pointers}
    assert output["produce"][0] == "[stdout] hello world" and "[stderr] warn" in output["produce"]
    assert "[stdout] ##wfe[output n=42]" in output["produce"]
    assert output["consume"] == ["[stdout] ##wfe[output seen=42/true/v1.2/null]", "[stdout] e"]


async def test_a_failed_command_keeps_its_lines_in_the_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    definition = (
        WorkflowBuilder(dict)
        .start_with(ShellStep)
        .name("fail")
        .input(config={"run": 'echo "##wfe[output lost=1]"; echo "before the end"; echo "it broke" >&2; exit 3'})
        .on_error(ErrorBehavior.suspend())
        .end_workflow()
        .build("failing", 1)
    )
    async with WorkflowHost(persistence=url) as host:
        host.register(definition)
        wid = await host.start_workflow("failing", {})
        assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.SUSPENDED
        errors = await host.get_execution_errors(wid)
    async with WorkflowHost(persistence=url) as reader:  # read back from the file, not memory
        instance = await reader.get_workflow(wid)
    assert instance.data == {}  # outputs of a failed step are not merged
    [pointer] = list(instance.execution_pointers)
    # The order between the two streams is the order in which their pipes were read.
    assert sorted(pointer.extension_attributes["output"]) == [
        "[stderr] it broke",
        "[stdout] ##wfe[output lost=1]",
        "[stdout] before the end",
    ]
    [error] = errors
    assert "exited with code 3" in error.message
    assert "before the end" in error.message and "it broke" in error.message


# -- processes --------------------------------------------------------------------------------


async def test_a_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    step = ShellStep()
    step.config = {"run": f"sleep 100 & echo $! > {pids}; echo started; wait", "timeout": 0.3}
    ctx = context({})
    with pytest.raises(StepCommandError) as caught:
        await step.run(ctx)
    assert caught.value.timed_out and caught.value.exit_code is None
    assert "timed out after 0.3 s" in str(caught.value)
    assert ctx.pointer.extension_attributes["output"] == ["[stdout] started"]
    assert await gone(int(pids.read_text()))


async def test_a_group_that_ignores_sigterm_gets_sigkill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell_module, "KILL_GRACE", 0.2)
    pids = tmp_path / "pids"
    step = ShellStep()
    # SIG_IGN is inherited: the background sleep ignores SIGTERM too.
    step.config = {"run": f"trap '' TERM; sleep 100 & echo $! > {pids}; wait", "timeout": 0.2}
    with pytest.raises(StepCommandError, match="timed out"):
        await step.run(context({}))
    assert await gone(int(pids.read_text()))


async def test_a_background_process_left_behind_ends_with_the_step(tmp_path: Path) -> None:
    # The grandchild holds the step's stdout open: the step must not wait for it to end.
    ctx = await run_shell({"run": "sleep 100 & echo $!"})
    [line] = ctx.pointer.extension_attributes["output"]
    assert await gone(int(line.removeprefix("[stdout] ")))


async def test_cancelling_the_step_kills_the_command(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    task = asyncio.create_task(run_shell({"run": f"echo $$ > {pids}; sleep 100"}))
    async with asyncio.timeout(10):
        while not pids.exists() or not pids.read_text().strip():
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await gone(int(pids.read_text()))


async def test_megabytes_on_both_streams_do_not_block() -> None:
    ctx = await run_shell(
        {"run": 'seq 1 300000 >&2 & seq 1 300000; wait; echo "##wfe[output done=yes]"', "timeout": 60}
    )
    kept = ctx.pointer.extension_attributes["output"]
    assert ctx.data == {"done": "yes"}
    assert kept[0].startswith("[wfe]") and "earlier lines not kept" in kept[0]
    assert len(kept) <= 2 * KEPT_LINES + 1 and sum(map(len, kept)) <= 2 * KEPT_CHARS + 100
    assert "[stdout] 300000" in kept and "[stderr] 300000" in kept


async def test_file_working_dir_shell_and_env(tmp_path: Path) -> None:
    script = tmp_path / "step.sh"
    script.write_text('echo "in $(pwd) with $GREETING"\necho "##wfe[output from_file=1]"\n')
    ctx = await run_shell(
        {"file": str(script), "working_dir": str(tmp_path), "shell": "bash -e", "env": {"GREETING": "hi", "N": 3}}
    )
    assert ctx.pointer.extension_attributes["output"][0] == f"[stdout] in {tmp_path} with hi"
    assert ctx.data == {"from_file": 1}
    ctx = await run_shell({"run": "echo $0", "shell": "sh"})
    assert ctx.pointer.extension_attributes["output"] == ["[stdout] sh"]


async def test_a_signal_and_a_non_zero_exit_are_failures() -> None:
    with pytest.raises(StepCommandError, match="killed by signal SIGKILL") as caught:
        await run_shell({"run": "kill -9 $$"})
    assert caught.value.exit_code == -9
    with pytest.raises(StepCommandError, match="exited with code 1"):
        await run_shell({"run": "false"})


async def test_watchers_see_each_line_as_it_is_printed() -> None:
    seen: list[tuple[str, str]] = []
    with watch_output(lambda ctx, stream, line: seen.append((stream, line))):
        await run_shell({"run": "echo one; echo two >&2"})
    await run_shell({"run": "echo after"})
    assert sorted(seen) == [("stderr", "two"), ("stdout", "one")]


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({}, "config.run"),
        ({"run": "true", "file": "x.sh"}, "exactly one"),
        ({"run": ""}, "config.run"),
        ({"run": "true", "timeout": 0}, "config.timeout"),
        ({"run": "true", "timeout": "5"}, "config.timeout"),
        ({"run": "true", "shell": ""}, "config.shell"),
        ({"run": "true", "env": {"A": ["x"]}}, "config.env.A"),
        ({"run": "true", "env": {"A=B": "x"}}, "config.env"),
        ({"run": "true", "working_dir": "/nonexistent/dir"}, "config.working_dir"),
        ({"run": "true", "shell": "/nonexistent/shell"}, "cannot start '/nonexistent/shell'"),
    ],
)
async def test_bad_config_is_a_clear_error(config: dict[str, Any], names: str) -> None:
    with pytest.raises(StepConfigError, match=names.replace(".", r"\.").replace("(", r"\(")):
        await run_shell(config)


def test_a_shell_step_has_a_no_argument_constructor_and_its_own_config() -> None:
    one, two = ShellStep(), ShellStep()
    assert one.config == {} and one.config is not two.config
    assert os.environ.get("PATH")  # the commands above found bash on it
