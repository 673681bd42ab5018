"""A host process for the many-hosts tests (run as ``python -m tests.postgres._hosts_worker``).

Usage: python -m tests.postgres._hosts_worker URL LOG_DIR [--lock URL] [--queue URL]

Runs a host on URL (with its lock and queue on other stores when given) with the ``mix``
definition registered until ``LOG_DIR/stop`` exists. Every step appends ``<workflow id>
<step>[/<item>] <pid>`` to ``LOG_DIR/steps.log`` when its body finishes (an ``O_APPEND`` write
of one line is atomic), a log kept outside the engine, and adds one to ``data[<step>]``, so a
test can tell a step that ran again (the log) from a state change made twice (the data).
The host's log (INFO and up: outage warnings, the line when a store is back) goes to
``LOG_DIR/host.<pid>.log``, not to a pipe that a test reads only at the end.

Used by tests/postgres/test_postgres_hosts.py, tests/postgres/test_postgres_restart.py and
tests/valkey/test_valkey_pg_hosts.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from wfe import ErrorBehavior, StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus

#: Where the step log goes: set by ``main`` from the command line.
LOG_DIR = Path(".")


def mark(ctx: Any, name: str) -> None:
    ctx.data[name] = ctx.data.get(name, 0) + 1
    line = f"{ctx.workflow.id} {name} {os.getpid()}\n".encode()
    fd = os.open(LOG_DIR / "steps.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class First(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "first")


class Left(StepBody):
    async def run(self, ctx: Any) -> None:
        await asyncio.sleep(0.01)
        mark(ctx, "left")


class Right(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "right")


class Item(StepBody):
    async def run(self, ctx: Any) -> None:
        await asyncio.sleep(0.005)
        mark(ctx, f"item/{ctx.item}")


class Flaky(StepBody):
    def run(self, ctx: Any) -> None:
        if ctx.pointer.retry_count == 0:
            raise RuntimeError("fails once, then works")
        mark(ctx, "flaky")


class Last(StepBody):
    def run(self, ctx: Any) -> None:
        mark(ctx, "last")


mix = (
    WorkflowBuilder(dict)
    .start_with(First)
    .parallel(
        lambda p: p.branch(lambda b: b.start_with(Left)).branch(lambda b: b.start_with(Right))
    )
    .for_each(lambda d: [0, 1, 2], lambda b: b.start_with(Item), parallel=True)
    .wait_for("go", lambda d, ctx: ctx.workflow.id)
    .delay(timedelta(milliseconds=100))
    .then(Flaky)
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=50)))
    .then(Last)
    .end_workflow()
    .build("mix", 1)
)

#: The steps every workflow of ``mix`` logs once it completes.
STEPS = ["first", "left", "right", "item/0", "item/1", "item/2", "flaky", "last"]


def expected_data(start: dict[str, Any]) -> dict[str, Any]:
    """The data a ``mix`` workflow started with ``start`` ends with: every step counted once."""
    return {**start, **{step: 1 for step in STEPS}}


# -- for the tests: host processes and what they leave in LOG_DIR ------------------------------

ROOT = Path(__file__).resolve().parents[2]


def spawn(
    url: str, log_dir: Path, *, lock: str | None = None, queue: str | None = None
) -> subprocess.Popen[bytes]:
    """Start a host process; its stderr (a crash's traceback) goes to ``stderr.<pid>``."""
    command = [sys.executable, "-m", "tests.postgres._hosts_worker", url, str(log_dir)]
    if lock is not None:
        command += ["--lock", lock]
    if queue is not None:
        command += ["--queue", queue]
    starting = log_dir / f"stderr.starting.{time.monotonic_ns()}"
    with starting.open("wb") as err:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    starting.rename(log_dir / f"stderr.{process.pid}")
    return process


def stderr_of(process: subprocess.Popen[bytes], log_dir: Path) -> str:
    """The end of what a host process wrote to stderr, and of its log, for a failure message."""
    err = (log_dir / f"stderr.{process.pid}").read_text(errors="replace")
    host_log = log_dir / f"host.{process.pid}.log"
    logged = host_log.read_text(errors="replace") if host_log.exists() else ""
    return f"stderr: {err[-3000:]}\nlog: {logged[-3000:]}"


def host_log(process: subprocess.Popen[bytes], log_dir: Path) -> str:
    """What the host in ``process`` logged (``host.<pid>.log``)."""
    path = log_dir / f"host.{process.pid}.log"
    return path.read_text(errors="replace") if path.exists() else ""


def lost_leases(log_dir: Path) -> dict[str, list[str]]:
    """Workflow id -> pids of the live hosts that logged losing its lease (a renewal refused:
    the lease had run out, so another host could take the workflow and run a step again)."""
    lost: dict[str, list[str]] = {}
    for path in sorted(log_dir.glob("host.*.log")):
        pid = path.name.split(".")[1]
        for line in path.read_text(errors="replace").splitlines():
            if "lost the lease on wf:" in line:
                wid = line.split("lost the lease on wf:")[1].split(";")[0]
                lost.setdefault(wid, []).append(pid)
    return lost


def log_lines(log_dir: Path) -> list[tuple[str, str, str]]:
    """The step log: ``(workflow id, step, pid)`` per finished step body."""
    path = log_dir / "steps.log"
    if not path.exists():
        return []
    lines = []
    for line in path.read_text().splitlines():
        wid, step, pid = line.split(" ")
        lines.append((wid, step, pid))
    return lines


async def wait_ready(processes: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    """Until every host process has started its host (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all((log_dir / f"ready.{p.pid}").exists() for p in processes):
            return
        for p in processes:
            assert p.poll() is None, stderr_of(p, log_dir)
        await asyncio.sleep(0.05)
    raise AssertionError("the host processes did not start within 60 s")


async def wait_complete(persistence: Any, ids: Any, log_dir: Path, seconds: float = 180) -> None:
    """Wait until every workflow in ``ids`` is complete in the store; fail after ``seconds``
    naming how many did not and where the host logs are."""
    deadline = time.monotonic() + seconds
    pending = set(ids)
    while pending:
        assert time.monotonic() < deadline, (
            f"{len(pending)} of {len(set(ids))} workflows did not complete in {seconds:g} s, "
            f"e.g. {sorted(pending)[:3]}; the host logs are in {log_dir}"
        )
        done = {
            wid
            for wid in list(pending)[:200]
            if await persistence.get_status(wid) is WorkflowStatus.COMPLETE
        }
        pending -= done
        if not done:
            await asyncio.sleep(0.2)


def stop_all(processes: list[subprocess.Popen[bytes]], log_dir: Path) -> None:
    """Ask every host process to stop (``LOG_DIR/stop``) and wait; kill one stuck for 30 s."""
    (log_dir / "stop").write_text("")
    for p in processes:
        if p.poll() is None:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# -- the host process ------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.postgres._hosts_worker")
    parser.add_argument("url", help="the persistence URL")
    parser.add_argument("log_dir", type=Path, help="where steps.log, ready.<pid> and stop live")
    parser.add_argument("--lock", default=None, help="the lock URL (default: the store's own)")
    parser.add_argument("--queue", default=None, help="the queue URL (default: the store's own)")
    return parser.parse_args(argv)


async def watch_the_loop(log: logging.Logger) -> None:
    """Log each time this process's event loop was held up for a second or more: a host
    stalled that long (a starved CPU) may lose a lease, and a test that fails then says why."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(0.1)
        late = loop.time() - before - 0.1
        if late >= 1.0:
            log.warning("the event loop was held up for %.1f s", late)


async def main() -> None:
    global LOG_DIR
    args = arguments()
    LOG_DIR = args.log_dir
    logging.basicConfig(
        filename=LOG_DIR / f"host.{os.getpid()}.log",
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # A lease long enough that a loaded machine does not lose one mid-pass (a lost lease
    # discards its pass, which then runs again: not what these tests count).
    async with WorkflowHost(
        args.url, lock=args.lock, queue=args.queue, lease_ttl=5.0, poll_interval=0.5
    ) as host:
        host.register(mix)
        watch = asyncio.create_task(watch_the_loop(logging.getLogger("hosts_worker")))
        (LOG_DIR / f"ready.{os.getpid()}").write_text("")
        while not (LOG_DIR / "stop").exists():
            await asyncio.sleep(0.1)
        watch.cancel()


if __name__ == "__main__":
    asyncio.run(main())
