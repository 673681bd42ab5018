"""The ``wfe`` command: look at installed providers and at workflows in a store.

    wfe providers                         which URL schemes are installed, and what they offer
    wfe show --db sqlite:///app.db ID     one workflow: status, data, pointers, errors
    wfe search --db sqlite:///app.db [TERMS] [--status complete]
    wfe suspend|resume|terminate --db URL ID
    wfe reindex --db URL [--search URL]   write every workflow to the search index again

Every command that opens a store takes the hosts' store options: ``--db`` (or
``--persistence``), ``--lock``, ``--queue`` and ``--search``, each defaulting to its variable
(``WFE_PERSISTENCE``, ``WFE_LOCK``, ``WFE_QUEUE``, ``WFE_SEARCH``). Given the ones the hosts are
given, a command keeps every index they keep true (an index outside the store is fed through
the store's outbox).

No command creates a store: each opens ``--db`` through its provider's ``existing_url`` (a
SQLite database must exist; ``show`` and ``search`` open it read-only), so a mistyped path is an
error rather than a new, empty database.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from wfe_core import PluginHost, QueueKind, WorkflowHost, WorkflowStatus
from wfe_core.backends import Capability
from wfe_core.errors import WfeError
from wfe_core.serialization import decode_data


def _store(
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


def idle(host: WorkflowHost) -> contextlib.AbstractAsyncContextManager[WorkflowHost]:
    """``host.open_stores()``, under the name tests knew it by before it was public."""
    return host.open_stores()


def _providers(_: argparse.Namespace) -> int:
    specs = PluginHost().specs()
    for scheme in sorted(specs):
        spec = specs[scheme]
        offers = ", ".join(c.value for c in Capability if c in spec.capabilities)
        extra = f'  (pip install "wfe[{spec.extra}]")' if spec.extra else ""
        print(f"{scheme}://  {offers} — {spec.description}{extra}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with _store(args, read_only=True) as host:
        instance = await host.persistence.get_workflow(args.id)
        data = decode_data(instance.data)
        print(f"workflow   {instance.id}")
        print(f"definition {instance.definition_id} v{instance.version}")
        print(f"status     {instance.status.value}")
        print(f"reference  {instance.reference or '-'}")
        print(f"created    {instance.create_time.isoformat()}")
        print(f"completed  {instance.complete_time.isoformat() if instance.complete_time else '-'}")
        print(f"next run   {instance.next_execution.isoformat() if instance.next_execution else '-'}")
        print(f"data       {data!r}")
        print("pointers:")
        for p in instance.execution_pointers:
            name = p.step_name or f"step {p.step_id}"
            extra = f" retries={p.retry_count}" if p.retry_count else ""
            print(f"  {p.id[:8]}  {p.status.value:<20} {name}{extra}")
        errors = await host.get_execution_errors(args.id)
        if errors:
            print("errors:")
            for e in errors:
                print(f"  {e.error_time.isoformat()}  {e.message}")
    return 0


async def _search(args: argparse.Namespace) -> int:
    async with _store(args, read_only=True) as host:
        status = WorkflowStatus(args.status) if args.status else None
        page = await host.search(" ".join(args.terms), status=status, take=args.take)
        for item in page.items:
            print(f"{item.id}  {item.status.value:<10} {item.definition_id} v{item.version}  "
                  f"{item.reference or ''}")
        print(f"{len(page.items)} of {page.total}")
    return 0


async def _control(args: argparse.Namespace) -> int:
    async with _store(args, read_only=False) as host:
        changed = await getattr(host, f"{args.command}_workflow")(args.id)
        if changed and args.command == "resume":
            await host.queue.enqueue(QueueKind.WORKFLOW, args.id)  # for a running host to pick up
        print(f"{args.id}: {'done' if changed else 'nothing to change'}")
    return 0


async def _reindex(args: argparse.Namespace) -> int:
    # With a search URL the store is only read; without one its own index is rebuilt.
    async with _store(args, read_only=bool(args.search)) as host:
        bar = ProgressBar(sys.stderr, "reindex")
        written = await host.rebuild_search_index(progress=bar.show, batch=args.batch)
        bar.done()
    print(f"reindexed {written} workflow(s)")
    return 0


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


#: The store options of every command that opens a store, and the variables they default to.
STORE_OPTIONS = {
    "db": ("WFE_PERSISTENCE", "the persistence URL, e.g. sqlite:///app.db"),
    "lock": ("WFE_LOCK", "the lock URL the hosts are given (default: the store's own)"),
    "queue": ("WFE_QUEUE", "the queue URL the hosts are given (default: the store's own)"),
    "search": ("WFE_SEARCH", "the search index URL the hosts are given, e.g. "
               "opensearch://host:9200 (default: the store's own)"),
}


def _store_options(parser: argparse.ArgumentParser) -> None:
    for name, (variable, text) in STORE_OPTIONS.items():
        flags = ["--db", "--persistence"] if name == "db" else [f"--{name}"]
        default = os.environ.get(variable) or None
        parser.add_argument(
            *flags, dest=name, metavar="URL", default=default, required=name == "db" and default is None,
            help=f"{text}; read from ${variable} when not given",
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wfe", description="wfe workflow engine")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("providers", help="list installed providers")
    show = sub.add_parser("show", help="show one workflow")
    show.add_argument("id")
    search = sub.add_parser("search", help="search workflows")
    search.add_argument("terms", nargs="*")
    search.add_argument("--status", choices=[s.value for s in WorkflowStatus])
    search.add_argument("--take", type=int, default=20)
    reindex = sub.add_parser("reindex", help="rebuild the search index from the store")
    reindex.add_argument("--batch", type=int, default=256, help="workflows per write")
    for name in ("suspend", "resume", "terminate"):
        sub.add_parser(name, help=f"{name} a workflow").add_argument("id")
    for p in (show, search, reindex, *(sub.choices[n] for n in ("suspend", "resume", "terminate"))):
        _store_options(p)
    args = parser.parse_args(argv)
    try:
        if args.command == "providers":
            return _providers(args)
        runner = {"show": _show, "search": _search, "reindex": _reindex}.get(args.command, _control)
        return asyncio.run(runner(args))
    except WfeError as exc:
        print(f"wfe: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
