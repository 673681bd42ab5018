"""Durable functions against the builder: ``python -m benchmarks._orchestration_cases CASE
--url URL --params JSON``, one JSON object on stdout's last line.

* ``durable_chain``: ``workflows`` durable functions of ``calls`` sequential async no-op
  activities each (``await ctx.call(noop, i)``), all started at once, then the same number of
  builder chains of as many async no-op steps on a fresh host in the same process: calls/s
  and steps/s side by side, and their ratio. Every call is recorded before the next (one
  write per call, as the builder's one write per step), and every pass replays the function.
* ``durable_replay``: one durable function of ``calls`` sequential calls; the mean wall time
  per call over the first and the last ``window`` calls, and their ratio. A host that keeps
  the workflow resumes the function where it blocked and appends only the pass's new events
  to the stored history (the history is read and replayed once per resume, not per call);
  what still grows is the stored text each write carries.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from wfe import OrchestrationContext, StepBody, WorkflowBuilder, orchestration

from ._wfe_cases import Case, make_host, run_case

STAMPS: list[float] = []


async def noop(i: int) -> int:
    STAMPS.append(time.perf_counter())
    return i


class AsyncNoop(StepBody):
    async def run(self, ctx: Any) -> None:
        STAMPS.append(time.perf_counter())


def _chain_of(calls: int, name: str, max_history: int = 10_000) -> Any:
    @orchestration(name, max_history=max_history)
    async def chain(ctx: OrchestrationContext) -> int:
        total = 0
        for i in range(calls):
            total += await ctx.call(noop, i)
        return total

    return chain


async def _run_all(url: str, params: dict[str, Any], definition: Any, n: int) -> float:
    async with make_host(url, params) as host:
        host.register(definition)
        t0 = time.perf_counter()
        wids = await asyncio.gather(*(host.start_workflow(definition.id) for _ in range(n)))
        await asyncio.gather(*(host.wait_for_workflow(wid, timeout=600) for wid in wids))
        return time.perf_counter() - t0


async def durable_chain(url: str, params: dict[str, Any]) -> dict[str, Any]:
    n, calls = params.get("workflows", 1000), params.get("calls", 10)
    STAMPS.clear()
    durable_s = await _run_all(url, params, _chain_of(calls, "bench-durable"), n)
    durable_runs = len(STAMPS)
    builder: Any = WorkflowBuilder(dict).start_with(AsyncNoop)
    for _ in range(calls - 1):
        builder = builder.then(AsyncNoop)
    chain = builder.end_workflow().build("bench-chain", 1)
    STAMPS.clear()
    url2 = url.replace("wfe.db", "wfe-chain.db")  # a fresh store for the builder's run
    chain_s = await _run_all(url2, params, chain, n)
    if durable_runs < n * calls:
        raise RuntimeError(f"expected {n * calls} activity runs, recorded {durable_runs}")
    return {
        "workflows": n,
        "calls": calls,
        "durable_elapsed_s": durable_s,
        "durable_calls_per_s": n * calls / durable_s,
        "durable_activity_runs": durable_runs,
        "chain_elapsed_s": chain_s,
        "chain_steps_per_s": n * calls / chain_s,
        "durable_over_chain": chain_s / durable_s,
    }


async def durable_replay(url: str, params: dict[str, Any]) -> dict[str, Any]:
    calls, window = params.get("calls", 1000), params.get("window", 10)
    STAMPS.clear()
    elapsed = await _run_all(url, params, _chain_of(calls, "bench-replay", 4 * calls), 1)
    gaps = [b - a for a, b in zip(STAMPS, STAMPS[1:], strict=False)]
    first = sum(gaps[:window]) / window
    last = sum(gaps[-window:]) / window
    return {
        "calls": calls,
        "elapsed_s": elapsed,
        "first_ms_per_call": first * 1000,
        "last_ms_per_call": last * 1000,
        "last_over_first": last / first,
    }


CASES: dict[str, Case] = {"durable_chain": durable_chain, "durable_replay": durable_replay}

if __name__ == "__main__":
    run_case(CASES, __doc__.splitlines()[0])
