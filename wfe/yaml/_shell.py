"""The shell step of YAML workflows, and the process runner it shares with the Deno step.

``ShellStep`` is what the YAML builder mapping puts behind ``type: shell``:
``.start_with(ShellStep).input(config={...})``. :func:`run_process` starts a command in a
process group of its own, reads its stdout and stderr concurrently into a ``PrintedLines``
(large outputs never fill a pipe) and ends the whole group at a timeout, at cancellation, and
when the command exits (a step leaves no process behind). ``DenoStep`` runs Deno through it too.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from wfe_core import StepBody, StepExecutionContext

from ._outputs import PrintedLines, StepCommandError, StepConfigError, data_environment, merge_outputs

__all__ = ["ProcessExit", "ShellStep", "check_timeout", "run_process"]

#: How long a process group gets between SIGTERM and SIGKILL.
KILL_GRACE = 2.0


@attrs.frozen
class ProcessExit:
    """How a process ended: its exit status (``-N``: killed by signal N), or a timeout."""

    code: int | None
    timed_out: bool

    def describe(self, what: str, timeout: float | None) -> str:
        """``what`` followed by how it ended, for an error message."""
        if self.timed_out:
            return f"{what} timed out after {timeout:g} s and was killed"
        if self.code is not None and self.code < 0:
            try:
                name = signal.Signals(-self.code).name
            except ValueError:
                name = str(-self.code)
            return f"{what} was killed by signal {name}"
        return f"{what} exited with code {self.code}"


def check_timeout(config: Mapping[str, Any]) -> float | None:
    """The ``timeout`` of a step's config in seconds (None: none), or a StepConfigError."""
    timeout = config.get("timeout")
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise StepConfigError(f"config.timeout must be a number of seconds above 0, not {timeout!r}")
    return float(timeout)


async def run_process(
    argv: Sequence[str],
    lines: PrintedLines,
    *,
    env: Mapping[str, str],
    cwd: str | None = None,
    timeout: float | None = None,
) -> ProcessExit:
    """Run ``argv`` to its end and feed what it prints into ``lines``.

    The command gets no stdin. It runs in a new session, so its process group holds it and
    whatever it starts: at ``timeout``, at cancellation and once it has exited, the group gets
    SIGTERM, then SIGKILL after :data:`KILL_GRACE` seconds.

    Raises:
        StepConfigError: the program or working directory does not exist or cannot be run.
    """
    loop = asyncio.get_running_loop()
    watch = _Watch(lines, loop)
    try:
        transport, _ = await loop.subprocess_exec(
            lambda: watch,
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        where = f" in {cwd!r}" if cwd else ""
        raise StepConfigError(f"cannot start {argv[0]!r}{where}: {exc.strerror or exc}") from exc
    pid = transport.get_pid()
    timed_out = ended = False
    try:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(watch.exited)
        except TimeoutError:
            timed_out = True
        await _end_group(pid, watch)
        ended = True
        # The group is gone, so the pipes close; only a process that left the group (setsid)
        # can still hold them open, and it is not waited for.
        try:
            await asyncio.wait_for(asyncio.shield(watch.closed), KILL_GRACE)
        except TimeoutError:
            lines.note("stopped reading: a process outside the step's process group holds its output open")
    finally:
        try:
            if not ended:  # cancelled (the host is stopping): no grace
                _signal_group(pid, signal.SIGKILL)
                await asyncio.shield(watch.exited)
        finally:
            transport.close()
            lines.close()
    return ProcessExit(None if timed_out else transport.get_returncode(), timed_out)


class _Watch(asyncio.SubprocessProtocol):
    """Feeds the pipes into ``lines`` as data arrives (no reader tasks, no pipe ever full) and
    says when the process exited, which ``Process.wait`` does not: it also waits for the pipes,
    which a background grandchild may hold open for as long as it lives."""

    def __init__(self, lines: PrintedLines, loop: asyncio.AbstractEventLoop) -> None:
        self.lines = lines
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        chunk = data.encode() if isinstance(data, str) else data
        self.lines.feed("stdout" if fd == 1 else "stderr", chunk)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to a process group; False when the group has no process left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # gone (or, on some systems, only a zombie)
        return False
    return True


async def _end_group(pgid: int, watch: _Watch) -> None:
    """SIGTERM a process group, then SIGKILL it once its output is closed or after the grace.

    The output closing is the sign that the group has ended: a process killed by SIGTERM may
    stay a zombie for a while (until init reaps it), which the group still counts.
    """
    if not _signal_group(pgid, signal.SIGTERM):
        return
    try:
        await asyncio.wait_for(asyncio.shield(watch.closed), KILL_GRACE)
    except TimeoutError:
        pass
    _signal_group(pgid, signal.SIGKILL)
    await asyncio.shield(watch.exited)


class ShellStep(StepBody):
    """Runs a shell command; the ``type: shell`` step of YAML workflows.

    ``config`` keys: ``run`` (the command text) or ``file`` (a script path), ``shell`` (default
    ``bash``; split like a command line, so ``bash -eo pipefail`` works; run as
    ``[*shell, "-c", run]`` or ``[*shell, file]``), ``env`` (variables to add, str to str),
    ``working_dir``, ``timeout`` (seconds; None for none).

    The workflow data reaches the command as environment variables (see
    ``wfe.yaml._outputs.data_environment``), never inside the command text; ``config.env`` is
    applied after them. Outputs printed as ``##wfe[output key=value]`` are merged into the data
    when the command succeeds; what it printed is kept with the step either way.

    Raises:
        StepConfigError: ``config`` is unusable (the message names the key).
        StepCommandError: the command exited non-zero, was killed or timed out.
    """

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    async def run(self, ctx: StepExecutionContext) -> None:
        config = self.config
        argv, cwd, extra_env, timeout = _shell_command(config)
        env = {**os.environ, **data_environment(ctx.data), **extra_env}
        lines = PrintedLines(ctx)
        try:
            end = await run_process(argv, lines, env=env, cwd=cwd, timeout=timeout)
        finally:
            lines.keep_with(ctx)
        if end.code != 0:
            raise StepCommandError(
                end.describe("the command", timeout),
                end.code,
                lines.tail("stdout"),
                lines.tail("stderr"),
                timed_out=end.timed_out,
            )
        merge_outputs(ctx, lines.outputs)


def _shell_command(config: Any) -> tuple[list[str], str | None, dict[str, str], float | None]:
    """argv, working directory, added environment and timeout of a shell step's config."""
    if not isinstance(config, Mapping):
        raise StepConfigError(f"a shell step needs config (a mapping), not {config!r}")
    run, file = config.get("run"), config.get("file")
    if (run is None) == (file is None):
        raise StepConfigError("a shell step needs exactly one of config.run (a command) and config.file")
    shell = config.get("shell", "bash")
    if isinstance(shell, str):
        argv = shlex.split(shell)
    elif isinstance(shell, list) and all(isinstance(part, str) for part in shell):
        argv = list(shell)
    else:
        argv = []
    if not argv:
        raise StepConfigError(f"config.shell must name a shell such as 'bash', not {shell!r}")
    if run is not None:
        if not isinstance(run, str) or not run.strip():
            raise StepConfigError(f"config.run must be the command text, not {run!r}")
        argv += ["-c", run]
    else:
        if not isinstance(file, str | os.PathLike) or not os.fspath(file):
            raise StepConfigError(f"config.file must be a script path, not {file!r}")
        argv.append(os.fspath(file))
    env = config.get("env") or {}
    if not isinstance(env, Mapping):
        raise StepConfigError(f"config.env must map variable names to strings, not {env!r}")
    added = {name: _env_text(name, value) for name, value in env.items()}
    cwd = config.get("working_dir")
    if cwd is not None:
        if not isinstance(cwd, str | os.PathLike):
            raise StepConfigError(f"config.working_dir must be a directory path, not {cwd!r}")
        cwd = os.fspath(cwd)
        if not os.path.isdir(cwd):
            raise StepConfigError(f"config.working_dir {cwd!r} is not a directory")
    return argv, cwd, added, check_timeout(config)


def _env_text(name: object, value: object) -> str:
    """The text of ``config.env[name]`` (numbers and booleans as YAML writes them)."""
    if not isinstance(name, str) or not name or "=" in name or "\0" in name:
        raise StepConfigError(f"config.env: {name!r} cannot name an environment variable")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str) or "\0" in value:
        raise StepConfigError(f"config.env.{name} must be text (without NUL characters), not {value!r}")
    return value
