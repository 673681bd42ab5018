"""The ``wfe`` commands about the hosts and starting work for them: ``hosts`` and ``start``.

``wfe hosts`` lists the hosts whose heartbeats the store keeps (live, draining or stale);
``wfe start`` stores a new workflow for the workers by definition id and version, without the
definition's code, as :class:`wfe_core.WorkflowClient` does. Called by :func:`wfe._cli.parser`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from wfe_core import WorkflowStatus
from wfe_core.models import HostRecord

from . import _cli_commands as commands
from ._cli_output import Output, clock


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``hosts`` and ``start`` through ``command`` (see :func:`wfe._cli.parser`)."""
    from ._cli import count, json_value

    command("hosts", "list the hosts that run workflows on this store, with their heartbeats",
            hosts)
    start_parser = command(
        "start", "start a workflow by definition id for the workers (no code needed here)", start
    )
    start_parser.add_argument("definition", help="the definition id")
    start_parser.add_argument("--data", type=json_value, metavar="JSON",
                              help="the workflow's data, as JSON (default: the type's defaults)")
    start_parser.add_argument(
        "--version", type=_version, metavar="N",
        help="the definition version (default: the newest one a live worker announces)",
    )
    start_parser.add_argument("--reference", help="your own reference for the workflow")
    start_parser.add_argument(
        "--priority", type=_priority, metavar="N", default=None,
        help="its level, 0 (critical) to 7 (idle); default: 4",
    )
    start_parser.add_argument(
        "--wait", type=count, metavar="SECONDS", nargs="?", const=30, default=None,
        help="wait until it is no longer runnable (default 30 s); exit 0 only if it completed",
    )


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 7:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a priority: give a whole number from 0 (critical) to 7 (idle)"
        )
    return value


def _version(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version: give a whole number >= 1")
    return value


def _definitions(record: HostRecord) -> str:
    return ", ".join(
        f"{def_id} v{','.join(str(v) for v in versions)}"
        for def_id, versions in sorted(record.definitions.items())
    ) or "-"


async def hosts(args: argparse.Namespace, out: Output) -> int:
    async with commands.open_store(args, read_only=True) as host:
        keeps = host.heartbeats is not None
        found = await host.list_hosts()
    now = datetime.now(UTC)
    if out.as_json:
        out.document({
            "heartbeats_kept": keeps,
            "hosts": [_host_json(record, now) for record in found],
        })
        return commands.OK
    if not keeps:
        out.line("this store keeps no heartbeats: give --lock the URL the hosts use for their "
                 "lock (Valkey keeps them), or use a store that keeps them (SQLite, PostgreSQL)")
        return commands.OK
    if not found:
        out.line("no host is running on this store")
        return commands.OK
    out.table(
        ("ID", "STATE", "IN FLIGHT", "LAST SEEN (UTC)", "STARTED (UTC)", "VERSION", "DEFINITIONS"),
        [
            (r.id, r.state(now), str(r.in_flight), clock(r.last_seen), clock(r.started),
             r.wfe_version, _definitions(r))
            for r in found
        ],
        status_column=1,
    )
    states = [r.state(now) for r in found]
    live, stale = states.count("live"), states.count("stale")
    out.line(f"{len(found)} host(s): {live} live"
             + (f", {stale} stale (stopped reporting; dead, hung or cut off from the store)"
                if stale else ""))
    return commands.OK


def _host_json(record: HostRecord, now: datetime) -> dict[str, Any]:
    return {
        "id": record.id, "hostname": record.hostname, "pid": record.pid,
        "wfe_version": record.wfe_version, "started": record.started,
        "last_seen": record.last_seen, "interval": record.interval,
        "in_flight": record.in_flight, "definitions": record.definitions,
        "draining": record.draining, "stale": record.is_stale(now),
        "state": record.state(now),
    }


def waiting_for_worker(records: Sequence[HostRecord], definition_id: str, version: int) -> bool:
    """Whether no live host (per the heartbeats) has ``definition_id`` at ``version``."""
    now = datetime.now(UTC)
    return not any(r.takes(definition_id, version, now) for r in records)


async def start(args: argparse.Namespace, out: Output) -> int:
    async with commands.open_store(args, read_only=False) as host:
        host.starts_unregistered = True  # a client: the workers have the definition
        wid = await host.start_workflow(args.definition, args.data, args.version, args.reference,
                                        priority=args.priority)
        instance = await host.persistence.get_workflow(wid)
        waiting = (
            host.heartbeats is not None
            and waiting_for_worker(await host.list_hosts(), instance.definition_id, instance.version)
        )
        final = None
        if args.wait is not None:
            try:
                final = await host.wait_for_workflow(wid, timeout=args.wait)
            except TimeoutError:
                final = None
    document: dict[str, Any] = {
        "id": wid, "definition_id": instance.definition_id, "version": instance.version,
        "waiting_for_worker": waiting,
    }
    if args.wait is not None:
        document["status"] = (final.status if final else WorkflowStatus.RUNNABLE).value
    if out.as_json:
        out.document(document)
    else:
        out.line(f"started {wid} ({instance.definition_id} v{instance.version})")
        if waiting:
            out.line(f"no live worker has registered {instance.definition_id} "
                     f"v{instance.version}: it waits until one does (see `wfe hosts`)")
        if args.wait is not None:
            out.line(f"{wid}: {document['status']}" if final else
                     f"{wid}: still runnable after {args.wait} s")
    if args.wait is not None and (final is None or final.status is not WorkflowStatus.COMPLETE):
        return commands.NOTHING_CHANGED
    return commands.OK
