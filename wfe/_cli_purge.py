"""The ``wfe purge`` command: delete finished workflows older than an age, for good.

    wfe purge --db URL --older-than 30d [--status complete|terminated] [--definition ID]
              [--dry-run] [--yes] [--json]

Counts what matches first; ``--dry-run`` stops there. Otherwise it asks before deleting when
stdin is a terminal, and needs ``--yes`` where nobody can answer (exit 2 without it); then it
deletes in batches (``WorkflowHost.purge_workflows``) with a progress bar on stderr. Exit 0
when it purged (or counted, for a dry run), 1 when nothing matched or the answer was no.
Called by :func:`wfe._cli.parser`.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import timedelta

from . import _cli_commands as commands
from ._cli_output import Output

__all__ = ["add_commands", "age"]

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def age(text: str) -> timedelta:
    """An age such as ``30d``, ``12h``, ``90m``, ``45s`` or ``2w``."""
    match = _AGE.fullmatch(text.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age; give a number and a unit, e.g. 30d, 12h, 90m, 45s or 2w"
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``purge`` through ``command`` (see :func:`wfe._cli.parser`)."""
    purge_parser = command(
        "purge", "delete complete and terminated workflows older than an age (asks first)", purge
    )
    purge_parser.add_argument("--older-than", type=age, required=True, metavar="AGE",
                              help="completed more than this long ago: 30d, 12h, 90m, 45s, 2w")
    purge_parser.add_argument("--status", choices=["complete", "terminated"],
                              help="only this status (default: both)")
    purge_parser.add_argument("--definition", metavar="ID", help="only this definition id")
    purge_parser.add_argument("--dry-run", action="store_true",
                              help="count what would be deleted, delete nothing")
    purge_parser.add_argument("--yes", action="store_true",
                              help="do not ask (needed where nobody can answer)")


async def purge(args: argparse.Namespace, out: Output) -> int:
    options = {
        "older_than": args.older_than,
        "status": args.status,
        "definition_id": args.definition,
    }
    async with commands.open_store(args, read_only=args.dry_run) as host:
        matched = await host.purge_workflows(**options, dry_run=True)
        if args.dry_run or not matched:
            if out.as_json:
                out.document({"matched": matched, "purged": 0, "dry_run": args.dry_run})
            else:
                out.line(f"{matched} workflow(s) would be purged" if args.dry_run
                         else "nothing to purge: no finished workflow matches")
            return commands.OK if args.dry_run else commands.NOTHING_CHANGED
        if not args.yes:
            if not sys.stdin.isatty():
                raise commands.CommandError(
                    f"{matched} workflow(s) match; give --yes to purge them "
                    "(nobody is at a terminal to ask), or --dry-run to count only"
                )
            answer = input(f"purge {matched} workflow(s) for good? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                out.line("nothing done")
                return commands.NOTHING_CHANGED
        bar = commands.ProgressBar(sys.stderr, "purge")
        purged = await host.purge_workflows(
            **options, progress=None if out.as_json else bar.show
        )
        bar.done()
    if out.as_json:
        out.document({"matched": matched, "purged": purged, "dry_run": False})
    else:
        out.line(f"purged {purged} workflow(s)")
    return commands.OK
