"""The ``wfe`` command (console entry point ``wfe._cli:main``): look at and steer workflows in a store.

    wfe providers                      which URL schemes are installed, and what they offer
    wfe list [--status S] [--definition D] [--reference R]
             [--created-after ISO] [--created-before ISO] [--skip N] [--take N]
    wfe search [TERMS] [the filters of list]
    wfe show ID                        one workflow: its data, its step tree, its errors
    wfe errors ID                      what the workflow's failed steps raised
    wfe start DEFINITION [--data JSON] [--version N] [--reference R] [--wait [S]]
                                       store a workflow for the workers (no code needed)
    wfe hosts                          the hosts running on the store: live, draining, stale
    wfe publish NAME KEY [--data JSON] [--effective-date ISO]
    wfe suspend|resume|terminate ID | [the filters of list] [--yes]
    wfe reindex [--batch N]            write every workflow to the search index again
    wfe purge --older-than AGE [--status S] [--definition D] [--dry-run] [--yes]
                                       delete finished workflows older than AGE (30d)
    wfe worker MODULE:ATTRIBUTE [--concurrency N] [--grace S] [--health-port P]
                                       run the definitions as a service (``wfe._worker``)
    wfe validate FILE...               check YAML workflow files, every problem listed
    wfe run FILE [--db URL] [--resume ID]
                                       run a YAML workflow, its steps' output streamed
    wfe schema                         the JSON Schema of the YAML format, for editors
    wfe ui [--port P] [--read-only]    the web dashboard (``wfe.ui``)

Every command that opens a store takes the hosts' store options: ``--db`` (or
``--persistence``), ``--lock``, ``--queue`` and ``--search``, each defaulting to its variable
(``WFE_PERSISTENCE``, ``WFE_LOCK``, ``WFE_QUEUE``, ``WFE_SEARCH``). Given the ones the hosts are
given, a command keeps every index they keep true (an index outside the store is fed through
the store's outbox). No command creates a store: each opens ``--db`` through its provider's
``existing_url`` (a SQLite database must exist; reading commands open it read-only), so a
mistyped path is an error rather than a new, empty database.

Output is aligned text, with status colours when stdout is a terminal and ``NO_COLOR`` is unset.
``--json`` (on any command) writes one JSON document to stdout instead, and nothing else: ids,
statuses as strings, times in ISO 8601; a failure is ``{"error": {"code": N, "message": ...}}``.

Exit codes (:data:`EXIT_CODES`): 0 done; 1 not done (suspend, resume or terminate found the
workflow in a status the command does not apply to; validate found problems; run or start
--wait saw the workflow end other than complete); 2 usage or bad input (an unknown
option, a bad date or JSON, a store URL that names no store); 3 not found (no workflow with
that id); 4 a store failed or is unreachable (run the command again once it is back).

:mod:`wfe._cli_commands` holds what each command does, :mod:`wfe._cli_output` how it writes,
:mod:`wfe._cli_tree` the step tree of ``show``. Tests call :func:`main` with an argument list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

from wfe_core import WorkflowStatus
from wfe_core.errors import (
    ProviderError,
    WfeError,
    WorkflowNotFoundError,
)

from . import _cli_commands as commands
from . import _cli_hosts, _cli_purge, _cli_tasks, _cli_ui, _cli_yaml, _worker
from ._cli_output import Output

EXIT_CODES = {
    commands.OK: "done",
    commands.NOTHING_CHANGED: "not done: nothing to change (the workflow is not in a status "
    "the command applies to), problems found (validate), or the workflow did not complete "
    "(run, start --wait)",
    commands.BAD_INPUT: "usage or bad input: an unknown option, a bad date or JSON, "
    "a store URL that names no store",
    commands.NOT_FOUND: "not found: no workflow with that id",
    commands.STORE_FAILED: "a store failed or is unreachable: run the command again once it is back",
}

#: The store options of every command that opens a store, and the variables they default to.
STORE_OPTIONS = {
    "db": ("WFE_PERSISTENCE", "the persistence URL, e.g. sqlite:///app.db"),
    "lock": ("WFE_LOCK", "the lock URL the hosts are given (default: the store's own)"),
    "queue": ("WFE_QUEUE", "the queue URL the hosts are given (default: the store's own)"),
    "search": ("WFE_SEARCH", "the search index URL the hosts are given, e.g. "
               "opensearch://host:9200 (default: the store's own)"),
}


class _UsageError(Exception):
    """argparse's complaint, raised instead of exiting so that ``--json`` can report it."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(self, message)


def iso_time(text: str) -> datetime:
    """An ISO 8601 date or time; one without a zone is taken as UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time; give one such as 2025-01-31 or "
            "2025-01-31T12:00:00+00:00"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"not JSON ({exc}); quote it for the shell, e.g. --data '{{\"amount\": 3}}'"
        ) from None


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return value


def _store_options(parser: argparse.ArgumentParser) -> None:
    for name, (variable, text) in STORE_OPTIONS.items():
        flags = ["--db", "--persistence"] if name == "db" else [f"--{name}"]
        default = os.environ.get(variable) or None
        parser.add_argument(
            *flags, dest=name, metavar="URL", default=default, required=name == "db" and default is None,
            help=f"{text}; read from ${variable} when not given",
        )


def _filters(parser: argparse.ArgumentParser, *, paged: bool = True) -> None:
    parser.add_argument("--status", choices=[s.value for s in WorkflowStatus])
    parser.add_argument("--definition", metavar="ID", help="only this definition id")
    parser.add_argument("--reference", help="only workflows started with this reference")
    parser.add_argument("--created-after", type=iso_time, metavar="ISO",
                        help="created at or after this time (a date alone: its midnight, UTC)")
    parser.add_argument("--created-before", type=iso_time, metavar="ISO",
                        help="created before this time")
    if paged:
        parser.add_argument("--skip", type=count, default=0, metavar="N", help="skip the newest N")
        parser.add_argument("--take", type=count, default=20, metavar="N", help="show N (default 20)")


def parser() -> argparse.ArgumentParser:
    """The ``wfe`` argument parser (its epilog lists the exit codes)."""
    epilog = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())
    top = _Parser(prog="wfe", description="Look at and steer the workflows in a wfe store.",
                  epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    # On the top level and on every command: `wfe --json list` and `wfe list --json` both work.
    top.add_argument("--json", action="store_true", help="write one JSON document to stdout")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, run: Callable[..., Any], *, store: bool = True) -> Any:
        p = sub.add_parser(name, help=text, description=text, epilog=epilog,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="write one JSON document to stdout")
        if store:
            _store_options(p)
        p.set_defaults(run=run)
        return p

    command("providers", "list the installed providers", commands.providers, store=False)
    listing = command("list", "list workflows, newest first", commands.find)
    _filters(listing)
    search = command("search", "find workflows by text and filters, newest first", commands.find)
    search.add_argument("terms", nargs="*", help="words the workflows' text must hold")
    _filters(search)
    command("show", "show one workflow with its step tree", commands.show).add_argument("id")
    command("errors", "list what a workflow's failed steps raised", commands.errors).add_argument("id")
    publish = command("publish", "publish an event to the workflows waiting for it", commands.publish)
    publish.add_argument("name", help="the event name")
    publish.add_argument("key", help="the event key")
    publish.add_argument("--data", type=json_value, metavar="JSON", help="the event's data, as JSON")
    publish.add_argument("--effective-date", type=iso_time, metavar="ISO",
                         help="deliver to waits that began at or before this time (default: now)")
    for name in ("suspend", "resume", "terminate"):
        steer = command(
            name, f"{name} a workflow, or every workflow the filters find (asks first)",
            commands.control,
        )
        steer.add_argument("id", nargs="?", help="the workflow; or give filters instead")
        _filters(steer, paged=False)
        steer.add_argument("--yes", action="store_true",
                           help="with filters: do not ask (needed where nobody can answer)")
    reindex = command("reindex", "rebuild the search index from the store", commands.reindex)
    reindex.add_argument("--batch", type=count, default=256, help="workflows per write")
    worker = command("worker", "run the definitions as a service: drains on SIGTERM, health on /livez, /readyz",
                     _worker.run)
    _worker.add_options(worker)
    # Commands of the YAML frontend and the dashboard live beside what they serve.
    _cli_hosts.add_commands(command)
    _cli_tasks.add_commands(command)
    _cli_purge.add_commands(command)
    _cli_yaml.add_commands(command)
    _cli_ui.add_commands(command)
    return top


def _next_step(exc: WfeError, args: argparse.Namespace) -> tuple[int, str]:
    """The exit code for ``exc`` and its message, with what to do next where it lacks one."""
    if isinstance(exc, WorkflowNotFoundError):
        return commands.NOT_FOUND, (
            f"{exc}; check the id and the store (--db), or find it with `wfe list`"
        )
    if isinstance(exc, ProviderError):
        if "again" in str(exc):  # the provider said already when to run it again
            return commands.STORE_FAILED, str(exc)
        return commands.STORE_FAILED, (
            f"{exc}; check that the store is running and reachable at the URL given "
            f"({getattr(args, 'db', None)}), then run the command again"
        )
    return commands.BAD_INPUT, str(exc)


def _fail(as_json: bool, code: int, message: str) -> int:
    if as_json:
        Output(as_json=True).document({"error": {"code": code, "message": message}})
    print(f"wfe: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wfe`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    wants_json = "--json" in argv
    try:
        args = parser().parse_args(argv)
    except _UsageError as exc:
        exc.parser.print_usage(sys.stderr)
        hint = f"see `{exc.parser.prog} --help`"
        if "--db" in str(exc):
            hint = "give --db URL or set WFE_PERSISTENCE; " + hint
        return _fail(wants_json, commands.BAD_INPUT, f"{exc} ({hint})")
    out = Output(as_json=args.json)
    try:
        result = args.run(args, out)
        code: int = asyncio.run(result) if asyncio.iscoroutine(result) else result
        return code
    except WfeError as exc:
        code, message = _next_step(exc, args)
        return _fail(args.json, code, message)


if __name__ == "__main__":
    sys.exit(main())
