"""The Deno step with the real Deno binary: the Wfe API, TypeScript, permissions (denied by
default, each allow-list given, a denial named in the error), the timeout, the binary's
lookup and the cache directory."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe.yaml._deno import DenoPermissionError, DenoStep, deno_arguments, deno_dir, find_deno
from wfe.yaml._outputs import StepCommandError, StepConfigError
from wfe.yaml._shell import ShellStep
from wfe_core import ExecutionPointer, StepExecutionContext, WorkflowInstance, WorkflowStep


def context(data: Any) -> StepExecutionContext:
    return StepExecutionContext(
        data=data,
        workflow=WorkflowInstance(data=data),
        step=WorkflowStep(id=0, body=DenoStep, name="t"),
        pointer=ExecutionPointer(step_name="t"),
    )


async def run_deno(config: dict[str, Any], data: Any = None) -> StepExecutionContext:
    step = DenoStep()
    step.config = config
    ctx = context({} if data is None else data)
    await step.run(ctx)
    return ctx


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """A one-answer HTTP server on 127.0.0.1: "host:port"."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    async with server:
        yield f"{host}:{port}"


async def test_typescript_outputs_reach_a_later_shell_step(tmp_path: Path) -> None:
    script = """
        interface Order { items: string[]; count: number }
        const order: Order = Wfe.getData() as Order;
        console.log(`${order.items.length} items`);
        console.error("a warning");
        Wfe.setOutput("total", order.count * 2);
        Wfe.setOutput("ratio", 2.5);
        Wfe.setOutput("ok", true);
        Wfe.setOutput("nothing", undefined);
        Wfe.setOutput("text", "42");
        Wfe.setOutput("summary", { first: order.items[0], all: order.items });
    """
    definition = (
        WorkflowBuilder(dict)
        .start_with(DenoStep)
        .name("compute")
        .input(config={"script": script, "timeout": 30})
        .then(ShellStep)
        .name("use")
        .input(config={"run": 'echo "##wfe[output seen=$TOTAL $OK $SUMMARY]"'})
        .end_workflow()
        .build("deno-outputs", 1)
    )
    async with WorkflowHost(persistence=f"sqlite:///{tmp_path / 'wfe.db'}") as host:
        host.register(definition)
        wid = await host.start_workflow("deno-outputs", {"items": ["a", "b"], "count": 21})
        instance = await host.wait_for_workflow(wid, timeout=30)
    assert instance.status is WorkflowStatus.COMPLETE
    summary = {"first": "a", "all": ["a", "b"]}
    assert instance.data == {
        "items": ["a", "b"], "count": 21, "total": 42, "ratio": 2.5, "ok": True, "nothing": None,
        "text": "42", "summary": summary, "seen": '42 true {"first": "a", "all": ["a", "b"]}',
    }  # fmt: skip
    assert type(instance.data["total"]) is int
    output = {p.step_name: p.extension_attributes["output"] for p in instance.execution_pointers}
    # The outputs' own lines are not among what the script printed.
    assert sorted(output["compute"]) == ["[stderr] a warning", "[stdout] 2 items"]


async def test_a_denied_fetch_names_the_permission_through_a_host(tmp_path: Path, http_server: str) -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(DenoStep)
        .input(config={"script": f'await fetch("http://{http_server}/");'})
        .on_error(ErrorBehavior.suspend())
        .end_workflow()
        .build("deno-denied", 1)
    )
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with WorkflowHost(persistence=url) as host:
        host.register(definition)
        wid = await host.start_workflow("deno-denied", {})
        assert (await host.wait_for_workflow(wid, timeout=30)).status is WorkflowStatus.SUSPENDED
        [error] = await host.get_execution_errors(wid)
        [pointer] = list((await host.get_workflow(wid)).execution_pointers)
    assert f"denied net access to '{http_server}'" in error.message
    assert f'permissions: {{net: ["{http_server}"]}}' in error.message
    assert f'NotCapable: Requires net access to "{http_server}"' in error.message
    assert any("NotCapable" in line for line in pointer.extension_attributes["output"])


async def test_an_allowed_host_is_reached(http_server: str) -> None:
    ctx = await run_deno(
        {
            "script": f'const r = await fetch("http://{http_server}/"); Wfe.setOutput("body", await r.text());',
            "permissions": {"net": [http_server]},
        }
    )
    assert ctx.data == {"body": "pong"}


async def test_file_and_env_allow_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, other = tmp_path / "allowed", tmp_path / "other"
    allowed.mkdir()
    other.mkdir()
    (other / "secret").write_text("no")
    monkeypatch.setenv("WFE_TEST_GREETING", "hello")
    script = f"""
        await Deno.writeTextFile("{allowed}/out.txt", "written");
        Wfe.setOutput("read", await Deno.readTextFile("{allowed}/out.txt"));
        Wfe.setOutput("env", Deno.env.get("WFE_TEST_GREETING"));
    """
    permissions = {"read": [str(allowed)], "write": [str(allowed)], "env": ["WFE_TEST_GREETING"]}
    ctx = await run_deno({"script": script, "permissions": permissions})
    assert ctx.data == {"read": "written", "env": "hello"}

    with pytest.raises(DenoPermissionError) as caught:
        await run_deno({"script": f'await Deno.readTextFile("{other}/secret")', "permissions": permissions})
    assert (caught.value.permission, caught.value.target) == ("read", f"{other}/secret")
    assert f'permissions: {{read: ["{other}/secret"]}}' in str(caught.value)
    with pytest.raises(DenoPermissionError) as caught:
        await run_deno({"script": 'Deno.env.get("HOME")', "permissions": permissions})
    assert (caught.value.permission, caught.value.target) == ("env", "HOME")


async def test_running_programs_and_remote_code_are_denied_unless_given() -> None:
    program = 'await new Deno.Command("true").output(); Wfe.setOutput("ran", true);'
    with pytest.raises(DenoPermissionError) as caught:
        await run_deno({"script": program})
    assert caught.value.permission == "run" and "permissions: {run: true}" in str(caught.value)
    assert (await run_deno({"script": program, "permissions": {"run": True}})).data == {"ran": True}

    # Refused before any network is tried (there is none here).
    for script in ('await import("https://example.com/mod.ts");', 'import "npm:left-pad";'):
        with pytest.raises(DenoPermissionError) as caught:
            await run_deno({"script": script})
        assert caught.value.permission == "dynamic_import"
        assert "permissions: {dynamic_import: true}" in str(caught.value)


def test_permission_flags() -> None:
    assert deno_arguments({}) == ["--no-prompt", "--no-remote", "--no-npm"]
    assert deno_arguments(
        {
            "net": ["api.example.com", "127.0.0.1:8080"],
            "read": ["/data"],
            "write": [],
            "env": ["TOKEN", "HOME"],
            "run": True,
            "dynamic_import": True,
        }
    ) == [
        "--no-prompt",
        "--allow-net=api.example.com,127.0.0.1:8080",
        "--allow-read=/data",
        "--allow-env=TOKEN,HOME",
        "--allow-run",
        "--allow-import",
    ]


@pytest.mark.parametrize(
    ("permissions", "names"),
    [
        ({"sys": True}, "config.permissions.sys"),
        ({"net": "example.com"}, "config.permissions.net"),
        ({"read": ["a,b"]}, "config.permissions.read"),
        ({"read": [""]}, "config.permissions.read"),
        ({"run": "yes"}, "config.permissions.run"),
        ("all", "config.permissions"),
    ],
)
def test_bad_permissions_are_named(permissions: Any, names: str) -> None:
    with pytest.raises(StepConfigError, match=names.replace(".", r"\.")):
        deno_arguments(permissions)


async def test_a_timeout_kills_the_script() -> None:
    with pytest.raises(StepCommandError) as caught:
        await run_deno({"script": 'console.log("spinning"); while (true) {}', "timeout": 0.5})
    assert caught.value.timed_out
    assert "timed out after 0.5 s" in str(caught.value)


async def test_a_throwing_script_fails_with_its_error_and_merges_nothing() -> None:
    step = DenoStep()
    step.config = {"script": 'Wfe.setOutput("early", 1); throw new Error("boom");'}
    ctx = context({"a": 1})
    with pytest.raises(StepCommandError, match="exited with code 1") as caught:
        await step.run(ctx)
    assert not isinstance(caught.value, DenoPermissionError)
    assert "Error: boom" in str(caught.value)
    assert ctx.data == {"a": 1}
    assert any("Error: boom" in line for line in ctx.pointer.extension_attributes["output"])


async def test_bad_outputs_fail_the_script() -> None:
    with pytest.raises(StepCommandError, match="the key must be a name"):
        await run_deno({"script": 'Wfe.setOutput("no spaces", 1)'})
    with pytest.raises(StepCommandError, match="BigInt"):
        await run_deno({"script": 'Wfe.setOutput("big", 10n)'})


async def test_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "step.js"
    script.write_text('Wfe.setOutput("doubled", Wfe.getData().n * 2);\n')
    assert (await run_deno({"file": str(script)}, {"n": 4})).data == {"n": 4, "doubled": 8}


@pytest.mark.parametrize(
    ("config", "names"),
    [
        ({}, "config.script"),
        ({"script": "1", "file": "x.ts"}, "exactly one"),
        ({"script": "  "}, "config.script"),
        ({"file": "/nonexistent/step.ts"}, "config.file"),
        ({"script": "1", "timeout": -1}, "config.timeout"),
    ],
)
async def test_bad_config_is_a_clear_error(config: dict[str, Any], names: str) -> None:
    with pytest.raises(StepConfigError, match=names.replace(".", r"\.")):
        await run_deno(config)


async def test_a_missing_deno_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFE_DENO", "/nonexistent/deno")
    with pytest.raises(StepConfigError, match="WFE_DENO"):
        await run_deno({"script": "1"})
    monkeypatch.delenv("WFE_DENO")
    monkeypatch.setitem(sys.modules, "deno", None)  # as if the package were not installed
    monkeypatch.setenv("PATH", "")
    with pytest.raises(StepConfigError, match=r'pip install "wfe\[deno\]"'):
        find_deno()


async def test_deno_keeps_its_cache_out_of_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DENO_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert (await run_deno({"script": 'Wfe.setOutput("ok", true)'})).data == {"ok": True}
    assert list(home.iterdir()) == []
    assert Path(deno_dir()).is_dir() and not Path(deno_dir()).is_relative_to(home)
