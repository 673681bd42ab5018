"""Workflow data stays data: shell metacharacters, newlines and quotes in values and keys never
run as code, and data cannot change the variables that decide what runs (PATH, BASH_ENV, ...).

Real bash and the real Deno binary; one workflow through a real host.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.yaml._deno import DenoStep
from wfe.yaml._outputs import env_name
from wfe.yaml._shell import ShellStep
from wfe_core import ExecutionPointer, StepExecutionContext, WorkflowInstance, WorkflowStep


def context(data: Any) -> StepExecutionContext:
    return StepExecutionContext(
        data=data,
        workflow=WorkflowInstance(data=data),
        step=WorkflowStep(id=0, body=ShellStep, name="t"),
        pointer=ExecutionPointer(step_name="t"),
    )


def payloads(tmp: Path) -> list[str]:
    """Values that would run code, or change the command, if pasted into its text."""
    marker, victim = tmp / "pwned", tmp / "victim"
    return [
        f"$(touch {marker})",
        f"`touch {marker}`",
        f"; touch {marker}; rm -rf {victim}",
        f"' ; touch {marker} ; '",
        f'" ; touch {marker} ; "',
        f"line one\ntouch {marker}\nline three",
        f"x && touch {marker} || touch {marker}",
        f"$(touch {marker}) ${{IFS}} $HOME * ?",
        f"</script>\u2028\u2029 ${{`touch {marker}`}} \\' \\\" \\\\",
    ]


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim"
    path.mkdir()
    (path / "keep").write_text("still here")
    return path


async def test_shell_data_with_metacharacters_is_echoed_back_verbatim(tmp_path: Path, victim: Path) -> None:
    values = payloads(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    data = {f"v{i}": value for i, value in enumerate(values)}
    command = "; ".join(f'printf %s "$V{i}" > {out}/{i}' for i in range(len(values)))
    step = ShellStep()
    step.config = {"run": command}
    await step.run(context(data))
    for i, value in enumerate(values):
        assert (out / str(i)).read_text() == value
    assert not (tmp_path / "pwned").exists()
    assert (victim / "keep").read_text() == "still here"


async def test_shell_data_unquoted_in_the_command_is_split_but_never_run(tmp_path: Path, victim: Path) -> None:
    # Even a careless `echo $V` only splits and globs the value; it does not run it.
    data = {f"v{i}": value for i, value in enumerate(payloads(tmp_path))}
    step = ShellStep()
    step.config = {"run": "; ".join(f"echo $V{i}" for i in range(len(data)))}
    await step.run(context(data))
    assert not (tmp_path / "pwned").exists()
    assert (victim / "keep").read_text() == "still here"


async def test_data_cannot_set_the_variables_that_decide_what_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    rc = tmp_path / "rc.sh"
    rc.write_text(f"touch {marker}\n")
    evil_bin = tmp_path / "bin"
    evil_bin.mkdir()
    (evil_bin / "printf").write_text(f"#!/bin/sh\ntouch {marker}\n")
    (evil_bin / "printf").chmod(0o755)
    data = {
        "PATH": str(evil_bin),
        "path": str(evil_bin),
        "BASH_ENV": str(rc),
        "env": str(rc),
        "LD_PRELOAD": str(tmp_path / "evil.so"),
        "ld_library_path": str(tmp_path),
        "HOME": "/nonexistent",
        "IFS": "/",
        "SHELLOPTS": "xtrace",
        "PS4": f"$(touch {marker})",
        "PYTHONPATH": str(tmp_path),
        "BASH_FUNC_printf%%": f"() {{ touch {marker}; }}",
        f"x; touch {marker}": "key with code",
        "ok": "passed",
    }
    out = tmp_path / "out"
    step = ShellStep()
    step.config = {
        "run": f'printf "%s|%s|%s|%s|%s|%s" "$PATH" "$HOME" "$LD_PRELOAD" "$BASH_ENV" "$OK" "${env_name(f"x; touch {marker}")}" > {out}'
    }
    await step.run(context(data))
    path, home, preload, bash_env, ok, key = out.read_text().split("|")
    assert path == os.environ["PATH"]
    assert home == os.environ.get("HOME", "")
    assert preload == os.environ.get("LD_PRELOAD", "")
    assert bash_env == os.environ.get("BASH_ENV", "")
    assert ok == "passed"
    assert key == "key with code"  # the key only named a variable
    assert not marker.exists()


async def test_outputs_carrying_code_stay_data_in_the_next_steps(tmp_path: Path, victim: Path) -> None:
    marker = tmp_path / "pwned"
    definition = (
        WorkflowBuilder(dict)
        .start_with(ShellStep)
        .input(config={"run": f"echo '##wfe[output evil=$(touch {marker}) `touch {marker}`]'"})
        .then(ShellStep)
        .input(config={"run": 'echo "got: $EVIL"; echo "##wfe[output echoed=$EVIL]"'})
        .then(DenoStep)
        .input(config={"script": 'const d = Wfe.getData(); Wfe.setOutput("same", d.evil === d.echoed && d.given === d.back)'})
        .end_workflow()
        .build("injection", 1)
    )
    given = payloads(tmp_path)[0]
    async with WorkflowHost() as host:
        host.register(definition)
        wid = await host.start_workflow("injection", {"given": given, "back": given})
        instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE
    code = f"$(touch {marker}) `touch {marker}`"
    assert instance.data["evil"] == code and instance.data["echoed"] == code
    assert instance.data["same"] is True
    assert not marker.exists()


async def test_deno_data_with_code_comes_back_verbatim(tmp_path: Path, victim: Path) -> None:
    values = payloads(tmp_path)
    data: dict[str, Any] = {f"v{i}": value for i, value in enumerate(values)}
    data["__proto__"] = {"polluted": True}
    data["nested"] = {"constructor": {"prototype": {"x": 1}}, "list": values}
    step = DenoStep()
    step.config = {
        "script": """
            const d = Wfe.getData();
            Wfe.setOutput("back", d);
            Wfe.setOutput("polluted", ({} as any).polluted ?? null);
            Wfe.setOutput("own_proto", Object.hasOwn(d, "__proto__"));
            console.log("##wfe[output printed=1]");
        """
    }
    ctx = context(dict(data))
    await step.run(ctx)
    assert ctx.data["back"] == data
    assert ctx.data["polluted"] is None and ctx.data["own_proto"] is True
    assert "printed" not in ctx.data  # a Deno script's outputs come only through Wfe.setOutput
    assert not (tmp_path / "pwned").exists()
    assert (victim / "keep").read_text() == "still here"
