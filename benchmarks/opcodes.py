"""Python opcodes per chain step: a measure of the engine's CPU cost that does not drift.

    python -m benchmarks.opcodes [memory|sqlite ...] [--otel]

Runs the 10-step async chain (``benchmarks._wfe_cases.chain``) with 100 and with 300
workflows under a ``sys.settrace`` opcode counter (every thread) and prints the difference
divided by the 2,000 extra steps: the bytecodes one more step executes, start-up and shutdown
cancelled out. Timings on two shared cores move 20 % from run to run; this count moves by a few
opcodes (memory: none; SQLite: a few dozen, from its writer thread's batching), so a change to
the hot path is judged by it before it is timed (``benchmarks/README.md``, "Found and fixed").
``--otel`` records spans and metrics with the OpenTelemetry SDK, for the traced path;
``--serial`` awaits each start before the next (``chain_serial``'s start path).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
from types import FrameType
from typing import Any

from benchmarks import _wfe_cases as cases

#: Workflows of the two runs whose difference is measured, and steps per workflow.
SMALL, LARGE, STEPS = 100, 300, 10


class _Counter:
    def __init__(self) -> None:
        self.opcodes = 0

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        if event == "opcode":
            self.opcodes += 1
        return self.trace


def count(url: str, workflows: int, otel: bool, serial: bool = False) -> int:
    """Opcodes executed by one chain run of ``workflows`` workflows on ``url``."""
    cases.STAMPS.clear()
    counter = _Counter()
    threading.settrace(counter.trace)
    sys.settrace(counter.trace)
    try:
        asyncio.run(
            cases.chain(url, {"workflows": workflows, "steps": STEPS, "async_steps": True,
                              "otel": otel, "serial": serial})
        )
    finally:
        sys.settrace(None)
        threading.settrace(None)
    return counter.opcodes


def per_step(provider: str, otel: bool = False, serial: bool = False) -> float:
    """Opcodes of one more chain step on ``provider`` (``memory`` or ``sqlite``)."""
    counts = []
    for workflows in (SMALL, LARGE):
        if provider == "memory":
            url = "memory://"
        else:
            url = f"sqlite:///{tempfile.mkdtemp(prefix='wfe-opcodes-')}/bench.db"
        counts.append(count(url, workflows, otel, serial))
    return (counts[1] - counts[0]) / ((LARGE - SMALL) * STEPS)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.opcodes", description=__doc__.split("\n\n")[0])
    parser.add_argument("providers", nargs="*", metavar="memory|sqlite", help="default: both")
    parser.add_argument("--otel", action="store_true", help="record with the OpenTelemetry SDK")
    parser.add_argument("--serial", action="store_true",
                        help="starts awaited one by one (chain_serial) instead of all at once")
    args = parser.parse_args()
    if unknown := set(args.providers) - {"memory", "sqlite"}:
        parser.error(f"unknown provider(s) {', '.join(sorted(unknown))}: give memory or sqlite")
    for provider in args.providers or ["memory", "sqlite"]:
        kind = "async" + (", otel" if args.otel else "") + (", serial starts" if args.serial else "")
        print(f"opcodes per step (chain {STEPS} steps, {kind})  "
              f"{provider:7} {per_step(provider, args.otel, args.serial):8,.0f}", flush=True)


if __name__ == "__main__":
    main()
