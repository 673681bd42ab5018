"""The deployment examples start a worker the way systemd and a container runtime would.

``examples/deploy/wfe-worker.service`` and ``examples/deploy/Dockerfile`` are read, not built:
their command, environment and signals are taken from the files and run here, with the store
moved into the test's directory, the health port onto a free one and the module path onto the
examples. The worker must become ready, run an order to the end (started by a host that runs
nothing, its event published with ``wfe publish``) and drain on the files' stop signal.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from wfe import WorkflowHost, WorkflowStatus

pytestmark = pytest.mark.slow

DEPLOY = Path(__file__).resolve().parents[1] / "examples" / "deploy"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def systemd_unit() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The unit's command, environment and other [Service] settings."""
    command: list[str] = []
    env: dict[str, str] = {}
    settings: dict[str, str] = {}
    for line in (DEPLOY / "wfe-worker.service").read_text().splitlines():
        name, _, value = line.partition("=")
        if line.startswith("#") or not value:
            continue
        if name == "Environment":
            key, _, val = value.partition("=")
            env[key] = val
        elif name == "ExecStart":
            command = shlex.split(value)
        else:
            settings[name] = value
    return command, env, settings


def dockerfile() -> tuple[list[str], dict[str, str], str]:
    """The image's CMD, ENV and STOPSIGNAL."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    command: list[str] = []
    env: dict[str, str] = {}
    stop = "SIGTERM"
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "CMD":
            command = json.loads(rest)
        elif word == "ENV":
            env.update(part.split("=", 1) for part in shlex.split(rest))
        elif word == "STOPSIGNAL":
            stop = rest.strip()
    return command, env, stop


def here(env: dict[str, str], tmp_path: Path, port: int) -> dict[str, str]:
    """The files' environment, with the store, health port and module path of this test."""
    return {
        **os.environ, **env,
        "WFE_PERSISTENCE": f"sqlite:///{tmp_path / 'app.db'}",
        "WFE_HEALTH_PORT": str(port),
        "PYTHONPATH": str(DEPLOY),
    }


def ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("the worker never became ready")


def an_order_completes(env: dict[str, str]) -> None:
    sys.path.insert(0, str(DEPLOY))
    try:
        import deploy_flows as flows
    finally:
        sys.path.remove(str(DEPLOY))

    async def run() -> None:
        host = WorkflowHost(env["WFE_PERSISTENCE"])
        host.register(flows.order)
        async with host.open_stores():
            wid = await host.start_workflow("order", {"order": "o-1"})
            published = await asyncio.to_thread(
                subprocess.run, [str(BIN / "wfe"), "publish", "parcel.shipped", "o-1"],
                env=env, capture_output=True, text=True, timeout=60,
            )
            assert published.returncode == 0, published.stderr
            deadline = time.monotonic() + 30
            while (await host.persistence.get_status(wid)) is not WorkflowStatus.COMPLETE:
                assert time.monotonic() < deadline, "the order never completed"
                await asyncio.sleep(0.05)

    asyncio.run(run())


def test_the_systemd_unit_runs_a_worker_that_notifies_and_drains(tmp_path: Path) -> None:
    command, env, settings = systemd_unit()
    assert settings["Type"] == "notify" and Path(command[0]).name == "wfe"
    port = free_port()
    address = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(address)
        notify.settimeout(30)
        watchdog_usec = str(int(settings["WatchdogSec"]) * 1_000_000)
        environment = {**here(env, tmp_path, port), "NOTIFY_SOCKET": address, "WATCHDOG_USEC": watchdog_usec}
        process = subprocess.Popen(
            [str(BIN / "wfe"), *command[1:]], env=environment,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert notify.recv(256) == b"READY=1"
            ready(port)
            an_order_completes(environment)
            process.send_signal(getattr(signal, settings["KillSignal"]))
            while (message := notify.recv(256)) == b"WATCHDOG=1":
                pass
            assert message == b"STOPPING=1"
            process.wait(int(settings["TimeoutStopSec"]))
            assert process.returncode == 0, process.communicate()[1]
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_dockerfile_runs_a_worker_that_answers_probes_and_drains(tmp_path: Path) -> None:
    command, env, stop = dockerfile()
    assert command[:2] == ["wfe", "worker"] and env["WFE_HEALTH_PORT"] == "8081"
    port = free_port()
    environment = here(env, tmp_path, port)
    process = subprocess.Popen(
        [str(BIN / command[0]), *command[1:]], env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        ready(port)
        an_order_completes(environment)
        process.send_signal(getattr(signal, stop))
        process.wait(45)
        assert process.returncode == 0, process.communicate()[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
