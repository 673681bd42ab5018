"""Workloads with several host processes on one store (PostgreSQL): ``python -m
benchmarks._hosts_cases CASE --url URL --params JSON``, one JSON object on stdout's last line.

* ``chain_hosts``: ``hosts`` processes, each a ``WorkflowHost`` with its own pool, listener and
  leases, start their share of the chain's workflows at one agreed wall-clock moment; the
  figure is every step of every host over the span from the first start to the last
  completion. ``hosts=1`` runs the same path with one process, so ``benchmarks.run`` compares
  three hosts with one like for like.
* ``wakeup_cross``: a waiting host process starts the workflows and runs them to their wait;
  then this process, a second host on the same database, publishes one event every
  ``spacing_ms``. The step after the wait stamps the wall clock (``time.time()``, one clock
  for every process of the machine) and the pid of the host that ran it into the workflow's
  data; the latency is that stamp minus the moment ``publish_event`` was called. The first
  ``warmup`` events (default 20) go to workflows of their own and are reported apart
  (``cold_*``): they meet a publishing host that has just started (connections without
  prepared statements, code paths not yet run), which a host serving events for a while is
  not; p50 and p99 are those of the ``workflows`` events after them.

Hosts are separate processes (``python -m benchmarks._hosts_cases _part ...``) so that each has
its own event loop and interpreter, as hosts on separate machines would. Every host gets the
case's ``params["host"]`` settings (``benchmarks.run`` puts Valkey lock and queue URLs there for
``postgresql+valkey``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

from wfe import StepBody, WorkflowBuilder, WorkflowStatus

from ._wfe_cases import Case, make_host, ms, percentile, run_case

#: Seconds the host processes get to start and open their pools before the agreed moment.
START_MARGIN_S = 4.0


class WokenWall(StepBody):
    """The step after the wait: the wall-clock time it ran and which host ran it."""

    async def run(self, ctx: Any) -> None:
        ctx.data["woken"] = time.time()
        ctx.data["woken_by"] = os.getpid()


def wake_definition() -> Any:
    return (
        WorkflowBuilder(dict)
        .start_with(WokenWall)
        .wait_for("bench.cross", lambda d: d["key"])
        .then(WokenWall)
        .end_workflow()
        .build("bench-cross", 1)
    )


def _spawn(part: str, url: str, params: dict[str, Any]) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "benchmarks._hosts_cases", "_part", "--url", url,
           "--params", json.dumps({**params, "part": part})]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def _last_json(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    out, _ = proc.communicate(timeout=timeout)
    lines = [line for line in out.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"a host process exited {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- chain on several hosts ---------------------------------------------------------------------


async def chain_hosts(url: str, params: dict[str, Any]) -> dict[str, Any]:
    hosts, n, steps = params.get("hosts", 3), params.get("workflows", 1000), params.get("steps", 10)
    start_at = time.time() + START_MARGIN_S
    shares = [n // hosts + (1 if i < n % hosts else 0) for i in range(hosts)]
    procs = [_spawn("chain", url, {"workflows": share, "steps": steps, "start_at": start_at,
                                   "async_steps": params.get("async_steps", False),
                                   "host": params.get("host", {})})
             for share in shares]
    parts = [_last_json(p, timeout=900) for p in procs]
    first = min(p["t0_wall"] for p in parts)
    last = max(p["finished_wall"] for p in parts)
    return {
        "hosts": hosts,
        "workflows": n,
        "steps": steps,
        "elapsed_s": last - first,
        "steps_per_s": n * steps / (last - first),
        "per_host_steps_per_s": [p["steps_per_s"] for p in parts],
        "late_start_s": max(p["t0_wall"] for p in parts) - first,
    }


# -- cross-host event wake-up --------------------------------------------------------------------


async def wakeup_cross(url: str, params: dict[str, Any]) -> dict[str, Any]:
    n, spacing = params.get("workflows", 200), params.get("spacing_ms", 10) / 1000
    warmup = params.get("warmup", 20)
    waiter = _spawn("hold", url, {"workflows": warmup + n, "host": params.get("host", {})})
    assert waiter.stdout is not None
    async with make_host(url, params) as host:
        host.register(wake_definition())
        ready = await asyncio.to_thread(waiter.stdout.readline)
        if not ready.startswith("READY"):
            raise RuntimeError(f"the waiting host did not get ready: {ready!r}")
        published: dict[str, float] = {}
        for i in range(warmup + n):
            key = f"k{i}"
            published[key] = time.time()
            await host.publish_event("bench.cross", key)
            if spacing:
                await asyncio.sleep(spacing)
        held = await asyncio.to_thread(_last_json, waiter, 300)
        instances = await host.persistence.get_workflows(held["wids"])
    if any(i.status is not WorkflowStatus.COMPLETE for i in instances):
        raise RuntimeError("a workflow of the cross-host wake-up did not complete")
    latencies, cold, other = [], [], 0
    for instance in instances:
        data = json.loads(instance.data) if isinstance(instance.data, str) else instance.data
        latency = data["woken"] - published[data["key"]]
        (cold if int(data["key"][1:]) < warmup else latencies).append(latency)
        other += data["woken_by"] == waiter.pid
    return {
        "workflows": n,
        "spacing_ms": spacing * 1000,
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies)),
        "warmup": warmup,
        "cold_p50_ms": ms(percentile(cold, 50)) if cold else None,
        "cold_max_ms": ms(max(cold)) if cold else None,
        "woken_on_waiting_host": other,
    }


async def _hold_part(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """The waiting host: starts the workflows, says READY once all wait, ends when all ran."""
    n = params["workflows"]
    async with make_host(url, params) as host:
        host.register(wake_definition())
        wids = [await host.start_workflow("bench-cross", {"key": f"k{i}"}) for i in range(n)]
        deadline = time.time() + 120
        while True:
            subs = 0
            for instance in await host.persistence.get_workflows(wids):
                subs += any(p.status.name == "WAITING_FOR_EVENT"
                            for p in instance.execution_pointers)
            if subs == n:
                break
            if time.time() > deadline:
                raise TimeoutError("the workflows did not all reach their wait")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        print("READY", flush=True)
        for wid in wids:
            await host.wait_for_workflow(wid, timeout=120)
    return {"wids": wids}


async def _part(url: str, params: dict[str, Any]) -> dict[str, Any]:
    if params["part"] == "chain":
        from ._wfe_cases import chain

        return await chain(url, params)
    return await _hold_part(url, params)


CASES: dict[str, Case] = {"chain_hosts": chain_hosts, "wakeup_cross": wakeup_cross, "_part": _part}


def main(argv: list[str] | None = None) -> None:
    run_case(CASES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
