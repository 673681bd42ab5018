"""What each ``wfe`` subcommand does: open the stores, ask the host, write the answer.

:func:`wfe._cli.main` parses the arguments and calls one of these with them and an
:class:`~wfe._cli_output.Output`; each returns the exit code (see :mod:`wfe._cli`). Every
command that opens a store does it through :func:`open_store`, which never creates one.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any, TextIO

from wfe_core import PluginHost, WorkflowHost, WorkflowStatus
from wfe_core.backends import Capability
from wfe_core.errors import WfeError
from wfe_core.models import ExecutionError, WorkflowInstance
from wfe_core.providers import SearchPage
from wfe_core.serialization import decode_data

from ._cli_output import Output, clock
from ._cli_tree import print_tree, step_tree

#: Exit codes, as documented in :mod:`wfe._cli`.
OK, NOTHING_CHANGED, BAD_INPUT, NOT_FOUND, STORE_FAILED = 0, 1, 2, 3, 4


def open_store(
    args: argparse.Namespace, *, read_only: bool
) -> contextlib.AbstractAsyncContextManager[WorkflowHost]:
    """A host on the existing stores the options name, open but running nothing.

    Given the same ``--lock``, ``--queue`` and ``--search`` as the hosts that run the workflows,
    a change it makes reaches every index they keep: in the store's own transaction where the
    index lives in the store, otherwise through the store's outbox, which those hosts drain.
    """
    plugins = PluginHost()
    stores: dict[str, Any] = {
        name: plugins.existing_url(url, read_only=read_only)
        for name in ("lock", "queue", "search")
        if (url := getattr(args, name, None))
    }
    host = WorkflowHost(plugins.existing_url(args.db, read_only=read_only), plugins=plugins, **stores)
    return host.open_stores()


def providers(_: argparse.Namespace, out: Output) -> int:
    specs = PluginHost().specs()
    found: list[dict[str, Any]] = [
        {
            "scheme": scheme,
            "capabilities": [c.value for c in Capability if c in specs[scheme].capabilities],
            "description": specs[scheme].description,
            "extra": specs[scheme].extra,
        }
        for scheme in sorted(specs)
    ]
    if out.as_json:
        out.document({"providers": found})
        return OK
    out.table(
        ("SCHEME", "OFFERS", "DESCRIPTION", "NEEDS"),
        [
            (f"{p['scheme']}://", ", ".join(p["capabilities"]), p["description"],
             f'pip install "wfe[{p["extra"]}]"' if p["extra"] else "")
            for p in found
        ],
    )
    return OK


def _workflow_json(instance: WorkflowInstance) -> dict[str, Any]:
    return {
        "id": instance.id,
        "definition_id": instance.definition_id,
        "version": instance.version,
        "status": instance.status.value,
        "reference": instance.reference,
        "description": instance.description,
        "create_time": instance.create_time,
        "complete_time": instance.complete_time,
        "next_execution": instance.next_execution,
        "parent_workflow_id": instance.parent_workflow_id,
        "data": decode_data(instance.data),
    }


def _errors_json(instance: WorkflowInstance, errors: list[ExecutionError]) -> list[dict[str, Any]]:
    pointers = instance.execution_pointers
    return [
        {
            "time": e.error_time,
            "pointer_id": e.execution_pointer_id,
            "step_id": e.step_id,
            "step_name": (p.step_name if (p := pointers.get(e.execution_pointer_id)) else None),
            "type": e.error_type,
            "message": e.message,
        }
        for e in errors
    ]


def _print_errors(out: Output, errors: list[dict[str, Any]]) -> None:
    rows = []
    for e in errors:
        step = e["step_name"] or (f"step {e['step_id']}" if e["step_id"] is not None else "-")
        # A table row holds one line; the first line of a message says what failed.
        first, _, rest = str(e["message"]).partition("\n")
        rows.append((clock(e["time"]), step, e["type"] or "-", first + (" ..." if rest else "")))
    out.table(("TIME (UTC)", "STEP", "TYPE", "MESSAGE"), rows)


async def show(args: argparse.Namespace, out: Output) -> int:
    async with open_store(args, read_only=True) as host:
        instance = await host.persistence.get_workflow(args.id)
        errors = _errors_json(instance, await host.get_execution_errors(args.id))
        waits = await host.get_external_waits(args.id)
        now = host.clock.now()
    if any(w.kind == "activity" and w.held is None for w in waits):
        # Whether a worker holds an activity's token is the lock's to say, and asking it
        # takes the lease for a moment: not something a read-only store allows.
        async with open_store(args, read_only=False) as host:
            waits = await host.get_external_waits(args.id)
    tree = step_tree(instance.execution_pointers, waits)
    workflow = _workflow_json(instance)
    if out.as_json:
        out.document({"workflow": workflow, "steps": [n.to_json() for n in tree], "errors": errors})
        return OK
    for label, value in (
        ("workflow", instance.id),
        ("definition", f"{instance.definition_id} v{instance.version}"),
        ("status", out.status(instance.status.value)),
        ("reference", instance.reference or "-"),
        ("created", instance.create_time.isoformat()),
        ("completed", instance.complete_time.isoformat() if instance.complete_time else "-"),
        ("next run", instance.next_execution.isoformat() if instance.next_execution else "-"),
        ("data", repr(workflow["data"])),
    ):
        out.line(f"{label:<10} {value}")
    out.line()
    print_tree(out, tree, runnable=instance.status is WorkflowStatus.RUNNABLE, now=now)
    if errors:
        out.line()
        _print_errors(out, errors)
    return OK


async def errors(args: argparse.Namespace, out: Output) -> int:
    async with open_store(args, read_only=True) as host:
        instance = await host.persistence.get_workflow(args.id)  # not found: exit 3, not []
        found = _errors_json(instance, await host.get_execution_errors(args.id))
    if out.as_json:
        out.document({"workflow_id": args.id, "errors": found})
    elif found:
        _print_errors(out, found)
    else:
        out.line(f"{args.id}: no errors")
    return OK


async def find(args: argparse.Namespace, out: Output) -> int:
    """``wfe search`` and ``wfe list`` (a search without terms): one page, newest first."""
    terms = " ".join(getattr(args, "terms", []))
    async with open_store(args, read_only=True) as host:
        page = await host.search(
            terms,
            status=WorkflowStatus(args.status) if args.status else None,
            definition_id=args.definition,
            reference=args.reference,
            created_after=args.created_after,
            created_before=args.created_before,
            skip=args.skip,
            take=args.take,
        )
        # Runnable workflows whose definition no live host has: waiting for a worker.
        waiting: set[str] | None = None
        if host.heartbeats is not None:
            from ._cli_hosts import waiting_for_worker

            running = await host.list_hosts()
            waiting = {
                i.id for i in page.items
                if i.status is WorkflowStatus.RUNNABLE
                and waiting_for_worker(running, i.definition_id, i.version)
            }
    _print_page(out, page, args.skip, args.take, waiting)
    return OK


def _print_page(
    out: Output, page: SearchPage, skip: int, take: int, waiting: set[str] | None = None
) -> None:
    """One page of workflows; ``waiting``: the ids waiting for a worker (None: not known)."""
    if out.as_json:
        out.document({
            "total": page.total, "skip": skip, "take": take,
            "items": [
                {"id": i.id, "definition_id": i.definition_id, "version": i.version,
                 "status": i.status.value, "reference": i.reference,
                 "description": i.description, "create_time": i.create_time,
                 "complete_time": i.complete_time,
                 "waiting_for_worker": None if waiting is None else i.id in waiting}
                for i in page.items
            ],
        })
        return
    waiting = waiting or set()
    if page.items:
        out.table(
            ("ID", "STATUS", "DEFINITION", "CREATED (UTC)", "REFERENCE"),
            [(i.id, i.status.value + (" (no worker)" if i.id in waiting else ""),
              f"{i.definition_id} v{i.version}", clock(i.create_time),
              i.reference or "") for i in page.items],
            status_column=1,
        )
    if waiting:
        out.line(f"{len(waiting)} runnable workflow(s) wait for a worker that registers their "
                 "definition (no live host has it; see `wfe hosts`)")
    shown = f"{len(page.items)} of {page.total}"
    if skip:
        shown += f" (after the first {skip})"
    if skip + len(page.items) < page.total:
        shown += f"; --skip {skip + len(page.items)} for more" if page.items else ""
    out.line(shown)


async def publish(args: argparse.Namespace, out: Output) -> int:
    async with open_store(args, read_only=False) as host:
        # Stored and, when due, queued for a running host to deliver now (publish_event does).
        event_id = await host.publish_event(args.name, args.key, args.data, args.effective_date)
    if out.as_json:
        out.document({"event_id": event_id, "event_name": args.name, "event_key": args.key,
                      "effective_date": args.effective_date, "data": args.data})
    else:
        out.line(f"published {args.name!r} key {args.key!r}: event {event_id}")
    return OK


#: The statuses each control command applies to, for the message when it changes nothing.
APPLIES_TO = {"suspend": "runnable", "resume": "suspended", "terminate": "runnable or suspended"}


class CommandError(WfeError):
    """A command used in a way it cannot go on with (exit 2); the message says what to give."""


#: Workflows read per search page when steering many.
_STEER_PAGE = 500


async def control(args: argparse.Namespace, out: Output) -> int:
    if args.id is None:
        return await _control_many(args, out)
    async with open_store(args, read_only=False) as host:
        changed = await getattr(host, f"{args.command}_workflow")(args.id)  # resumed: queued
        status = (await host.persistence.get_workflow(args.id)).status.value
    if out.as_json:
        out.document({"id": args.id, "command": args.command, "changed": changed, "status": status})
    elif changed:
        out.line(f"{args.id}: done")
    else:
        out.line(f"{args.id}: nothing to change: it is {status}, and {args.command} applies to a "
                 f"{APPLIES_TO[args.command]} workflow")
    return OK if changed else NOTHING_CHANGED


async def _control_many(args: argparse.Namespace, out: Output) -> int:
    """``wfe suspend|resume|terminate`` with filters: every workflow they find, after a yes."""
    filters = {
        "status": WorkflowStatus(args.status) if args.status else None,
        "definition_id": args.definition,
        "reference": args.reference,
        "created_after": args.created_after,
        "created_before": args.created_before,
    }
    if not any(value is not None for value in filters.values()):
        raise CommandError(
            f"give a workflow id, or filters (--status, --definition, --reference, "
            f"--created-after, --created-before) to {args.command} every workflow they find"
        )
    async with open_store(args, read_only=False) as host:
        ids: list[str] = []
        while True:  # every match first: changing them changes what a later page would hold
            page = await host.search(**filters, skip=len(ids), take=_STEER_PAGE)
            ids.extend(item.id for item in page.items)
            if not page.items or len(ids) >= page.total:
                break
        if ids and not args.yes:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"{len(ids)} workflow(s) match; give --yes to {args.command} them "
                    "(nobody is at a terminal to ask)"
                )
            answer = input(f"{args.command} {len(ids)} workflow(s)? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                out.line("nothing done")
                return NOTHING_CHANGED
        bar = ProgressBar(sys.stderr, args.command)
        changed: list[str] = []
        steer = getattr(host, f"{args.command}_workflow")
        for n, wid in enumerate(ids, 1):
            if await steer(wid):
                changed.append(wid)
            if not out.as_json:
                bar.show(n, len(ids))
        bar.done()
    if out.as_json:
        out.document({"command": args.command, "matched": len(ids), "changed": changed})
    else:
        out.line(f"{args.command}: {len(changed)} of {len(ids)} matching workflow(s) changed")
    return OK if changed else NOTHING_CHANGED


async def reindex(args: argparse.Namespace, out: Output) -> int:
    # With a search URL the store is only read; without one its own index is rebuilt.
    async with open_store(args, read_only=bool(args.search)) as host:
        bar = ProgressBar(sys.stderr, "reindex")
        written = await host.rebuild_search_index(progress=bar.show, batch=args.batch)
        bar.done()
    if out.as_json:
        out.document({"reindexed": written})
    else:
        out.line(f"reindexed {written} workflow(s)")
    return OK


class ProgressBar:
    """A one-line progress bar on a stream (stderr), redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, stream: TextIO, label: str) -> None:
        self.stream = stream
        self.label = label
        self.drawn = 0.0
        self.line = ""

    def show(self, done: int, total: int) -> None:
        filled = self.WIDTH * done // total if total else self.WIDTH
        self.line = f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {done}/{total}"
        now = time.monotonic()
        if now - self.drawn >= 0.1 or done >= total:
            self.drawn = now
            self.stream.write("\r" + self.line)
            self.stream.flush()

    def done(self) -> None:
        if self.line:
            self.stream.write("\r" + self.line + "\n")
            self.stream.flush()
