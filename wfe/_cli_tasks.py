"""``wfe tasks``, ``wfe act`` and ``wfe activity``: people and outside workers answer workflows.

``wfe tasks [--assignee NAME]`` lists the open user tasks of a store; ``wfe act KEY VALUE
--user NAME`` answers one. ``wfe activity NAME -- COMMAND`` is an activity worker for any
language: it takes the activities ``NAME`` one at a time, runs ``COMMAND`` with the
parameters as JSON on stdin, and answers with the JSON it prints on stdout (an exit code other
than 0 is the activity's failure, with the end of what it wrote on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wfe_core.errors import UserActionError

from . import _cli_commands as commands
from ._cli_output import Output, clock

__all__ = ["add_commands"]

#: How much of a failed command's stderr goes into the activity's failure.
STDERR_TAIL = 2000


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``tasks``, ``act`` and ``activity`` through ``command`` (see ``wfe._cli.parser``)."""
    tasks_parser = command("tasks", "list the open user tasks, oldest first", tasks)
    tasks_parser.add_argument("--assignee", metavar="NAME", help="only the tasks assigned to NAME")
    act_parser = command("act", "answer an open user task with one of its options", act)
    act_parser.add_argument("key", help="the task's key (from `wfe tasks`)")
    act_parser.add_argument("value", help="the option chosen")
    act_parser.add_argument("--user", required=True, metavar="NAME", help="who answers")
    # The command after -- is the worker's own: argparse would take its words as ours, so
    # everything after ``activity`` is read here (``activity_options``), the store options too.
    activity_parser = command(
        "activity", "work on activities NAME: run COMMAND for each (parameters as JSON on "
        "stdin, result as JSON on stdout); NAME [--db URL] [--once] [--wait S] -- COMMAND",
        activity, store=False,
    )
    activity_parser.add_argument("rest", nargs=argparse.REMAINDER,
                                 metavar="NAME [--db URL] [--once] [--wait SECONDS] -- COMMAND")


def activity_options(words: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The options of ``wfe activity`` and its command, from the words after ``activity``."""
    from ._cli import _store_options, count

    split = words.index("--") if "--" in words else len(words)
    own = argparse.ArgumentParser(prog="wfe activity", exit_on_error=False)
    own.add_argument("name", help="the activity's name")
    _store_options(own)
    own.add_argument("--once", action="store_true", help="answer one activity, then exit")
    own.add_argument("--wait", type=count, default=None, metavar="SECONDS",
                     help="with --once: give up after SECONDS (exit 1)")
    own.add_argument("--json", action="store_true")
    return own.parse_args(words[:split]), words[split + 1:]


async def tasks(args: argparse.Namespace, out: Output) -> int:
    async with commands.open_store(args, read_only=False) as host:
        found = await host.list_open_user_actions(args.assignee)
    if out.as_json:
        out.document({"tasks": [
            {"key": a.key, "prompt": a.prompt, "assigned_to": a.assigned_to,
             "options": a.options, "created": a.created, "workflow_id": a.workflow_id,
             "escalated": a.escalated}
            for a in found
        ]})
        return commands.OK
    if not found:
        out.line("no open user tasks" + (f" assigned to {args.assignee}" if args.assignee else ""))
        return commands.OK
    out.table(
        ("KEY", "ASSIGNED TO", "CREATED (UTC)", "OPTIONS", "PROMPT"),
        [(a.key, (a.assigned_to or "-") + (" (escalated)" if a.escalated else ""),
          clock(a.created), "/".join(a.options), a.prompt) for a in found],
    )
    return commands.OK


async def act(args: argparse.Namespace, out: Output) -> int:
    try:
        async with commands.open_store(args, read_only=False) as host:
            await host.publish_user_action(args.key, args.user, args.value)
    except UserActionError as exc:
        code = commands.NOTHING_CHANGED if "is closed" in str(exc) else commands.BAD_INPUT
        if out.as_json:
            out.document({"error": {"code": code, "message": str(exc)}})
        print(f"wfe: {exc}", file=sys.stderr)
        return code
    if out.as_json:
        out.document({"key": args.key, "user": args.user, "value": args.value})
    else:
        out.line(f"answered {args.key}: {args.value} (by {args.user})")
    return commands.OK


async def activity(args: argparse.Namespace, out: Output) -> int:
    try:
        args, cmd = activity_options(args.rest)
    except (argparse.ArgumentError, SystemExit) as exc:
        print(f"wfe activity: {exc}; usage: wfe activity NAME --db URL [--once] -- COMMAND",
              file=sys.stderr)
        return commands.BAD_INPUT
    out = Output(as_json=out.as_json or args.json)
    if not cmd:
        print("wfe: give the command to run after --, e.g. wfe activity resize --db URL -- "
              "python resize.py", file=sys.stderr)
        return commands.BAD_INPUT
    worker = f"{socket.gethostname()}:{os.getpid()}"
    loop = asyncio.get_running_loop()
    deadline = None if args.wait is None else loop.time() + args.wait
    async with commands.open_store(args, read_only=False) as host:
        while True:
            wait = 1.0 if deadline is None else max(deadline - loop.time(), 0.0)
            pending = await host.get_pending_activity(args.name, worker, timeout=wait)
            if pending is None:
                if deadline is not None and loop.time() >= deadline:
                    out.line(f"no activity {args.name!r} came in {args.wait} s")
                    return commands.NOTHING_CHANGED
                continue
            ok, value = await _run(cmd, pending.parameters)
            if ok:
                await host.submit_activity_success(pending.token, value)
            else:
                await host.submit_activity_failure(pending.token, value)
            outcome = {"workflow_id": pending.workflow_id, "name": pending.name, "ok": ok,
                       "result" if ok else "error": value, "at": datetime.now(UTC)}
            if out.as_json:
                out.document(outcome)
            else:
                out.line(f"{clock(outcome['at'])} {pending.name} of {pending.workflow_id}: "
                         + ("done" if ok else f"failed: {value}"))
            if args.once:
                return commands.OK


async def _run(cmd: list[str], parameters: Any) -> tuple[bool, Any]:
    """Run ``cmd`` with ``parameters`` as JSON on stdin: (True, its JSON result) or (False, why)."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await proc.communicate(json.dumps(parameters).encode())
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace")[-STDERR_TAIL:].strip()
        return False, f"{' '.join(cmd)} exited with {proc.returncode}" + (f": {tail}" if tail else "")
    text = stdout.decode(errors="replace").strip()
    try:
        return True, json.loads(text) if text else None
    except ValueError:
        return False, f"{' '.join(cmd)} printed something that is not JSON: {text[:200]!r}"
