"""The ``wfe`` commands of the web dashboard: ui.

Called by :func:`wfe._cli.parser`, which hands over its ``command(name, text, run, store=True)``
helper; each command registered here gets ``--json`` and, with ``store=True``, the store options.

``wfe ui`` opens the stores as every ``wfe`` command does (never creating one; read-only with
``--read-only``), builds :func:`wfe.ui.create_app` over them and serves it with uvicorn until
Ctrl-C or SIGTERM. It binds 127.0.0.1 unless told otherwise; a bind beyond this machine that
can change workflows needs a token (``--token`` or ``WFE_UI_TOKEN``). Without a token only
local host names are answered, so a web page cannot reach the dashboard through a DNS name of
its own that points here (DNS rebinding).
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from wfe_core.errors import ConfigurationError

from . import _worker
from ._cli_commands import OK, open_store

#: Host names a dashboard without a token answers to.
LOCAL_NAMES = ["localhost", "127.0.0.1", "::1", "[::1]"]


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register this module's commands through ``command`` (see :func:`wfe._cli.parser`)."""
    ui = command("ui", "serve the web dashboard: see and steer the workflows in a browser", run)
    ui.add_argument("--host", default="127.0.0.1",
                    help="the address to bind (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=8080, help="the port (default 8080; 0: any free one)")
    ui.add_argument("--read-only", action="store_true",
                    help="show, never change: no actions, and the store is opened read-only")
    ui.add_argument("--token", default=os.environ.get("WFE_UI_TOKEN") or None,
                    help="require this token on every request (default: $WFE_UI_TOKEN); needed "
                    "to bind beyond this machine without --read-only")
    ui.add_argument("--definitions", metavar="MODULE:ATTRIBUTE",
                    help="definitions to draw on the Definitions page (as wfe worker takes them)")


def is_local(address: str) -> bool:
    """Whether binding ``address`` keeps the dashboard on this machine."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def _app(args: argparse.Namespace, host: Any) -> Any:
    try:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        from .ui import create_app
    except ImportError as exc:
        raise ConfigurationError(
            f"the dashboard needs the {exc.name!r} package, which is not installed; "
            'install it with: pip install "wfe[ui]"'
        ) from exc
    definitions = _worker.load_definitions(args.definitions) if args.definitions else None
    app = create_app(host, read_only=args.read_only, token=args.token, definitions=definitions)
    if args.token is None:
        app = TrustedHostMiddleware(app, allowed_hosts=LOCAL_NAMES)
    return app


async def serve(args: argparse.Namespace) -> int:
    """Serve the dashboard until stopped; prints the address first (a JSON line with --json)."""
    if not is_local(args.host) and not args.read_only and not args.token:
        raise ConfigurationError(
            f"--host {args.host} lets other machines reach the dashboard, which can change "
            "workflows: give --token T (or set WFE_UI_TOKEN), or add --read-only"
        )
    try:
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError(
            'the dashboard needs uvicorn, which is not installed; install it with: pip install "wfe[ui]"'
        ) from exc
    async with open_store(args, read_only=args.read_only) as host:
        app = _app(args, host)
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning",
                                lifespan="off", server_header=False)
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started and not task.done():
            await asyncio.sleep(0.02)
        if task.done():  # could not bind: uvicorn logged why
            await task
            raise ConfigurationError(
                f"could not serve on {args.host}:{args.port}; is the port in use? Give another "
                "with --port (0: any free one)"
            )
        port = server.servers[0].sockets[0].getsockname()[1]
        shown = f"[{args.host}]" if ":" in args.host else args.host
        url = f"http://{shown}:{port}/"
        if args.json:
            print(json.dumps({"state": "serving", "url": url, "read_only": args.read_only}), flush=True)
        else:
            print(f"wfe ui: serving {url}{' (read-only)' if args.read_only else ''}"
                  f"{' (open it with ?token=...)' if args.token else ''}; Ctrl-C stops it", flush=True)
        await task
    return OK


def run(args: argparse.Namespace, out: object = None) -> int:
    """``wfe ui``: serve until Ctrl-C (which stops it cleanly, exit 0)."""
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:  # uvicorn re-raises the signal it caught once it has shut down
        print("wfe ui: stopped", file=sys.stderr)
        return OK
