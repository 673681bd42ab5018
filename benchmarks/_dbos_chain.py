"""The 10-step chain on DBOS, for the side-by-side figure. Runs inside ``benchmarks/.venv-dbos``.

``benchmarks.run`` creates that virtual environment on demand (``pip install dbos``) and runs this
file as a script with the venv's Python; it must not import wfe. It prints one JSON object on
its last line of stdout.

The workload mirrors ``_wfe_cases.chain``: ``--workflows`` workflows, each ``@DBOS.workflow``
calling ``--steps`` sync no-op ``@DBOS.step`` functions, started in a loop of
``DBOS.start_workflow`` calls (each returns once the workflow's status is written; DBOS runs the
workflow in its own thread), and waited for with ``handle.get_result()``. Each step records
``time.perf_counter()`` at its start and end.

With ``--serial``, the mirror of ``chain_serial``, as an asyncio application starts workflows
from its requests: an ``async`` workflow of async no-op steps, each start
``await DBOS.start_workflow_async(...)`` before the next, then every ``await
handle.get_result()``. Both modes record each start call's latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import threading
import time
from itertools import pairwise
from typing import Any

STAMPS: list[tuple[str, int, float, float]] = []
_stamps_lock = threading.Lock()


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="DBOS system_database_url")
    parser.add_argument("--workflows", type=int, default=200)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--serial", action="store_true", help="async starts awaited one by one")
    args = parser.parse_args()

    import dbos
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {
        "name": "wfe-bench",
        "system_database_url": args.url,
        "log_level": "WARNING",
        "console_log_level": "WARNING",
    }
    DBOS(config=config)
    if args.url.startswith("postgres"):
        # A fresh system database per run, as the SQLite run gets a fresh file.
        DBOS.reset_system_database()

    def make_step(index: int) -> Any:
        @DBOS.step(name=f"noop_{index}")
        def noop() -> None:
            start = time.perf_counter()
            wid = DBOS.workflow_id or ""
            end = time.perf_counter()
            STAMPS.append((wid, index, start, end))

        return noop

    def make_async_step(index: int) -> Any:
        @DBOS.step(name=f"async_noop_{index}")
        async def noop() -> None:
            start = time.perf_counter()
            wid = DBOS.workflow_id or ""
            end = time.perf_counter()
            STAMPS.append((wid, index, start, end))

        return noop

    steps = [make_step(i) for i in range(args.steps)]
    async_steps = [make_async_step(i) for i in range(args.steps)]

    @DBOS.workflow(name="chain")
    def chain() -> int:
        for step in steps:
            step()
        return 0

    @DBOS.workflow(name="async_chain")
    async def async_chain() -> int:
        for step in async_steps:
            await step()
        return 0

    latencies: list[float] = []

    def run_sync() -> tuple[float, float]:
        t0 = time.perf_counter()
        handles = []
        for _ in range(args.workflows):
            s0 = time.perf_counter()
            handles.append(DBOS.start_workflow(chain))
            latencies.append(time.perf_counter() - s0)
        started = time.perf_counter()
        for handle in handles:
            handle.get_result()
        return started - t0, time.perf_counter() - t0

    async def run_serial() -> tuple[float, float]:
        t0 = time.perf_counter()
        handles = []
        for _ in range(args.workflows):
            s0 = time.perf_counter()
            handles.append(await DBOS.start_workflow_async(async_chain))
            latencies.append(time.perf_counter() - s0)
        started = time.perf_counter()
        for handle in handles:
            await handle.get_result()
        return started - t0, time.perf_counter() - t0

    DBOS.launch()
    try:
        start_calls, elapsed = asyncio.run(run_serial()) if args.serial else run_sync()
    finally:
        DBOS.destroy(destroy_registry=True)

    by_workflow: dict[str, list[tuple[int, float, float]]] = {}
    for wid, index, start, end in STAMPS:
        by_workflow.setdefault(wid, []).append((index, start, end))
    gaps: list[float] = []
    for stamps in by_workflow.values():
        stamps.sort()
        gaps.extend(b[1] - a[2] for a, b in pairwise(stamps))
    total_steps = args.workflows * args.steps
    print(
        json.dumps(
            {
                "workflows": args.workflows,
                "steps": args.steps,
                "steps_recorded": len(STAMPS),
                "elapsed_s": elapsed,
                "serial_starts": args.serial,
                "start_calls_s": start_calls,
                "start_p50_ms": (_percentile(latencies, 50) or 0) * 1000,
                "start_p99_ms": (_percentile(latencies, 99) or 0) * 1000,
                "steps_per_s": total_steps / elapsed,
                "workflows_per_s": args.workflows / elapsed,
                "gap_p50_ms": (_percentile(gaps, 50) or 0) * 1000,
                "gap_p99_ms": (_percentile(gaps, 99) or 0) * 1000,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "dbos_version": getattr(dbos, "__version__", None) or _dist_version("dbos"),
                "python": sys.version.split()[0],
                "pid": os.getpid(),
            }
        )
    )


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
