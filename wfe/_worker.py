"""``wfe worker``: a host run as a service, until a signal tells it to stop.

    wfe worker myapp.flows:definitions|pipelines.yaml --db URL [--lock URL --queue URL --search URL]
        [--concurrency N] [--grace SECONDS] [--health-port PORT]

Imports the module, registers the definitions the attribute names (a definition, a list of
them, or a function returning either), and runs a ``WorkflowHost`` on the stores the options
name (each also read from ``WFE_PERSISTENCE``, ``WFE_LOCK``, ``WFE_QUEUE``, ``WFE_SEARCH``,
``WFE_CONCURRENCY``, ``WFE_GRACE``, ``WFE_HEALTH_PORT``).

**Drain.** SIGTERM or SIGINT stops taking work at once; running steps get ``--grace`` seconds to
finish; every workflow the worker holds is given back (its lease released, and queued when it
is due) so another worker takes it at once, not when a lease expires; then the process exits
0. A second signal exits at once (status 1).

**Health.** With ``--health-port``, ``GET /livez`` answers 200 while the event loop runs, and
``GET /readyz`` 200 while the worker runs, is not draining and its store answers (503
otherwise), from a small asyncio server beside the host.

**--json.** One JSON line on stdout when it runs and when it has stopped
(``{"state": "running", "pid": ..., "definitions": [...]}``, ``{"state": "stopped", ...}``).

**systemd.** Under ``NOTIFY_SOCKET`` the worker sends ``READY=1`` once it runs, ``STOPPING=1`` when
it drains, and ``WATCHDOG=1`` every half of ``WATCHDOG_USEC`` (``Type=notify``,
``WatchdogSec=``).

The ``wfe`` command (``wfe._cli``) calls :func:`add_options` and :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterable
from typing import Any

from wfe_core import WorkflowDefinition, WorkflowHost
from wfe_core.errors import ConfigurationError, ProviderUnavailableError, WorkflowNotFoundError

__all__ = ["add_options", "load_definitions", "run"]

log = logging.getLogger("wfe.worker")

#: Seconds a readiness probe waits for the store to answer.
READY_PROBE_TIMEOUT = 2.0
#: The id the readiness probe asks the store for (found or not, the store answered).
_PROBE_ID = "wfe-readiness-probe"


def load_definitions(target: str) -> list[WorkflowDefinition]:
    """The definitions ``module:attribute`` names: a definition, an iterable of them, or a
    function returning either; or those of a YAML workflow file (``.yaml``/``.yml``).

    Raises:
        ConfigurationError: a malformed target, a module that cannot be imported, a missing
            attribute, or something that is not definitions.
        DefinitionError: the YAML file has problems (every one is listed).
    """
    if target.endswith((".yaml", ".yml")):
        from .yaml import load_file

        return load_file(target)
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(
            f"{target!r} names no definitions: write module:attribute, e.g. myapp.flows:definitions"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"cannot import {module_name!r} ({exc}); run the worker where the module is on the "
            "path (PYTHONPATH, or an installed package)"
        ) from exc
    try:
        found: Any = getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if callable(found) and not isinstance(found, WorkflowDefinition):
        found = found()
    items = [found] if isinstance(found, WorkflowDefinition) else found
    if not isinstance(items, Iterable) or isinstance(items, str | bytes):
        raise ConfigurationError(f"{target} is {type(found).__name__}, not workflow definitions")
    definitions = list(items)
    wrong = [type(d).__name__ for d in definitions if not isinstance(d, WorkflowDefinition)]
    if wrong or not definitions:
        raise ConfigurationError(
            f"{target} must give WorkflowDefinitions (WorkflowBuilder(...).build(...)); "
            + (f"it holds {', '.join(sorted(set(wrong)))}" if wrong else "it is empty")
        )
    return definitions


def _env_int(name: str, default: int | None) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else default


def add_options(worker: argparse.ArgumentParser) -> None:
    """Declare ``wfe worker``'s own arguments (the store options are the command's)."""
    worker.add_argument("definitions", metavar="MODULE:ATTRIBUTE|FILE.yaml",
                        help="the definitions to run: a Python attribute or a YAML workflow file")
    worker.add_argument(
        "--concurrency", type=int, default=_env_int("WFE_CONCURRENCY", 256),
        help="workflows in flight at once ($WFE_CONCURRENCY; default 256)",
    )
    worker.add_argument(
        "--grace", type=float, default=float(os.environ.get("WFE_GRACE") or 30),
        help="seconds running steps get to finish after SIGTERM ($WFE_GRACE; default 30)",
    )
    worker.add_argument(
        "--health-port", type=int, default=_env_int("WFE_HEALTH_PORT", None),
        help="serve /livez and /readyz on this port ($WFE_HEALTH_PORT)",
    )
    worker.add_argument("--health-host", default="127.0.0.1", help="the address to serve them on")


class _Systemd:
    """The sd_notify protocol, spoken only where systemd asked for it (``NOTIFY_SOCKET``)."""

    def __init__(self) -> None:
        address = os.environ.get("NOTIFY_SOCKET")
        self.address = "\0" + address[1:] if address and address.startswith("@") else address

    def notify(self, state: str) -> None:
        if not self.address:
            return
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(state.encode(), self.address)

    def watchdog_interval(self) -> float | None:
        usec = os.environ.get("WATCHDOG_USEC")
        if not self.address or not usec or not usec.isdigit():
            return None
        return int(usec) / 2_000_000


class Worker:
    """One host run as a service: its health answers and its drain."""

    def __init__(self, host: WorkflowHost, grace: float) -> None:
        self.host = host
        self.grace = grace
        self.running = False
        self.draining = False
        self.stop = asyncio.Event()
        self.signals = 0
        self.systemd = _Systemd()

    def on_signal(self, signum: int) -> None:
        self.signals += 1
        if self.signals > 1:
            log.warning("second signal: exiting at once, without waiting for running steps")
            sys.stderr.flush()
            os._exit(1)
        log.info("%s: draining (running steps get %g s; press again to exit at once)",
                 signal.Signals(signum).name, self.grace)
        self.draining = True
        self.systemd.notify("STOPPING=1")
        self.stop.set()

    async def ready(self) -> tuple[bool, str]:
        """Whether the worker should get traffic, and why not."""
        if not self.running:
            return False, "starting"
        if self.draining:
            return False, "draining"
        try:
            await asyncio.wait_for(self.host.get_workflow(_PROBE_ID), READY_PROBE_TIMEOUT)
        except WorkflowNotFoundError:
            pass  # the store answered
        except (ProviderUnavailableError, TimeoutError) as exc:
            return False, f"the store is unavailable: {exc}"
        return True, "ready"

    async def health(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass  # the headers say nothing a probe needs
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else ""
            if path == "/livez":
                status, body = 200, {"status": "alive"}
            elif path == "/readyz":
                ok, why = await self.ready()
                status, body = (200 if ok else 503), {"status": why}
            else:
                status, body = 404, {"status": "not found: try /livez or /readyz"}
            text = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n".encode() + text
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def watchdog(self, interval: float) -> None:
        while True:
            self.systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)


def _report(args: argparse.Namespace, document: dict[str, Any]) -> None:
    """With ``--json``: one JSON line on stdout per change of the worker's state."""
    if getattr(args, "json", False):
        print(json.dumps(document), flush=True)


async def serve(args: argparse.Namespace) -> int:
    """Run the worker until a signal, then drain; the process's exit status."""
    definitions = load_definitions(args.definitions)
    stores = {name: getattr(args, name) for name in ("lock", "queue", "search") if getattr(args, name)}
    host = WorkflowHost(
        args.db, **stores, max_concurrent_workflows=args.concurrency, stop_timeout=args.grace
    )
    for definition in definitions:
        host.register(definition)
    worker = Worker(host, args.grace)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, worker.on_signal, signum)
    server = None
    if args.health_port is not None:
        server = await asyncio.start_server(worker.health, args.health_host, args.health_port)
    watchdog = None
    try:
        await host.start()
        worker.running = True
        names = ", ".join(sorted({f"{d.id} v{d.version}" for d in definitions}))
        log.info("worker %d running %s on %s://", os.getpid(), names, args.db.partition("://")[0])
        print(f"wfe worker {os.getpid()}: running {names}", file=sys.stderr, flush=True)
        _report(args, {"state": "running", "pid": os.getpid(),
                       "definitions": [{"id": d.id, "version": d.version} for d in definitions]})
        worker.systemd.notify("READY=1")
        interval = worker.systemd.watchdog_interval()
        if interval is not None:
            watchdog = asyncio.create_task(worker.watchdog(interval))
        await worker.stop.wait()
        await host.stop()
        print(f"wfe worker {os.getpid()}: drained and stopped", file=sys.stderr, flush=True)
        _report(args, {"state": "stopped", "pid": os.getpid()})
        return 0
    finally:
        worker.running = False
        if watchdog is not None:
            watchdog.cancel()
        if server is not None:
            server.close()
        await host.stop()


def run(args: argparse.Namespace, out: object = None) -> int:
    """``wfe worker``: configure logging and serve (``out``: the command's output, unused)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    return asyncio.run(serve(args))
