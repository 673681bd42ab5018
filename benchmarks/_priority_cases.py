"""Priority under a backlog: does critical work overtake a queue of idle work?

``benchmarks.run`` runs the case in a fresh process on a fresh store::

    python -m benchmarks._priority_cases priority --url URL --params '{"workflows": 2000}'

* ``priority``: a host with ``slots`` workflow slots (so four times as many wait in its line
  and the rest in the shared queue) gets ``workflows`` level-7 workflows of ``steps`` async
  steps, whose first step holds at a gate until everything is started, then one level-0
  workflow of the same shape; then the gate opens. Reports the level-0 workflow's place in
  the completion order and the share of the level-7 ones that completed after it (target:
  at least 90 %), and the time from the gate to its completion and to the last one.

Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wfe import StepBody, WorkflowBuilder

from ._wfe_cases import Case, make_host, run_case

#: Workflow ids in the order their last step ran.
FINISHED: list[str] = []
GATE: asyncio.Event | None = None


class Hold(StepBody):
    async def run(self, ctx: Any) -> None:
        if GATE is not None:
            await GATE.wait()


class Step(StepBody):
    async def run(self, ctx: Any) -> None:
        pass


def finish(ctx: Any) -> None:
    FINISHED.append(ctx.workflow.id)


async def priority(url: str, params: dict[str, Any]) -> dict[str, Any]:
    global GATE
    n, steps, slots = params["workflows"], params.get("steps", 5), params.get("slots", 100)
    builder = WorkflowBuilder(dict, priority=7).start_with(Hold)
    for _ in range(steps - 2):
        builder = builder.then(Step)
    definition = builder.then(finish).build("bench-priority", 1)
    GATE = asyncio.Event()
    FINISHED.clear()
    params = {**params, "host": {**params.get("host", {}), "max_concurrent_workflows": slots}}
    async with make_host(url, params) as host:
        host.register(definition)
        t0 = time.perf_counter()
        idle = [await host.start_workflow("bench-priority") for _ in range(n)]
        urgent = await host.start_workflow("bench-priority", priority=0)
        started_s = time.perf_counter() - t0
        gate_at = time.perf_counter()
        GATE.set()
        urgent_s = None
        while len(FINISHED) < n + 1:
            if urgent_s is None and urgent in FINISHED:
                urgent_s = time.perf_counter() - gate_at
            await asyncio.sleep(0.005)
            if time.perf_counter() - gate_at > params.get("timeout", 600):
                raise RuntimeError(f"only {len(FINISHED)} of {n + 1} workflows finished")
        all_s = time.perf_counter() - gate_at
    place = FINISHED.index(urgent)
    after = len(set(FINISHED[place + 1:]) & set(idle))
    share = after / n
    return {
        "status": "ok",
        "workflows": n,
        "steps": steps,
        "slots": slots,
        "start_s": round(started_s, 2),
        "urgent_place": place + 1,
        "idle_completed_after_urgent_pct": round(100 * share, 1),
        "urgent_done_after_gate_s": round(urgent_s if urgent_s is not None else all_s, 3),
        "all_done_after_gate_s": round(all_s, 3),
        "target_pct": 90.0,
        "meets_target": share >= 0.9,
    }


CASES: dict[str, Case] = {"priority": priority}


def main(argv: list[str] | None = None) -> None:
    run_case(CASES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
