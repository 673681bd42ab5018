"""The wfe workloads of the benchmark, one per function in ``CASES``.

``benchmarks.run`` runs each case for each provider URL in a fresh process::

    python -m benchmarks._wfe_cases CASE --url URL --params '{"workflows": 1000}'

so that peak RSS, the event loop and the thread pools belong to that case alone. The process
prints one JSON object (the case's figures) on the last line of stdout.

Steps record ``time.perf_counter()`` at their start (and end) into module-level lists; the case
turns those stamps into latencies. Completion is observed without adding work to the engine's
hot path (see ``Completions``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from wfe import (
    PointerStatus,
    StepBody,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)

#: Host settings used by every case unless a case's params override them: none, so every
#: figure is what a user gets with the host's defaults (256 workflows in flight, 32 step
#: threads, a 10 s poll interval, which the sleepers case measures the cost of).
HOST_SETTINGS: dict[str, Any] = {}

#: (workflow id, step id, start, end) per step execution, perf_counter seconds.
STAMPS: list[tuple[str, int, float, float]] = []
#: key -> perf_counter when the step after a wait started.
WOKEN: dict[str, float] = {}
#: key -> seconds between a delay's due time and the start of the step after it.
LATENESS: dict[str, float] = {}
#: perf_counter at the start of each loop iteration.
ITERATIONS: list[float] = []


# -- step bodies ------------------------------------------------------------------------------


class Noop(StepBody):
    """A sync no-op: the realistic default, run in the host's thread pool."""

    def run(self, ctx: Any) -> None:
        start = time.perf_counter()
        STAMPS.append((ctx.workflow.id, ctx.step.id, start, time.perf_counter()))


class AsyncNoop(StepBody):
    """The same with ``async def run``: runs on the event loop, no thread hop."""

    async def run(self, ctx: Any) -> None:
        start = time.perf_counter()
        STAMPS.append((ctx.workflow.id, ctx.step.id, start, time.perf_counter()))


#: Seconds each ``AsyncWait`` step awaits (set by the fan-out case).
WAIT_S = 0.0


class AsyncWait(StepBody):
    """An async step that awaits ``WAIT_S``, as a step calling a slow service would."""

    async def run(self, ctx: Any) -> None:
        start = time.perf_counter()
        await asyncio.sleep(WAIT_S)
        STAMPS.append((ctx.workflow.id, ctx.step.id, start, time.perf_counter()))


class Woken(StepBody):
    """The step after a wait: notes when it ran (async, so no thread hop is measured)."""

    async def run(self, ctx: Any) -> None:
        WOKEN[ctx.data["key"]] = time.perf_counter()


class AfterDelay(StepBody):
    """The step after a delay: notes how late it runs after the delay's due time."""

    async def run(self, ctx: Any) -> None:
        now = datetime.now(UTC)
        delay = ctx.workflow.execution_pointers[ctx.pointer.predecessor_id]
        # The delay's first run starts the sleep: due = its start time + the period.
        due = delay.start_time + timedelta(milliseconds=ctx.data["delay_ms"])
        LATENESS[ctx.data["key"]] = (now - due).total_seconds()


class Increment(StepBody):
    """One iteration of the long loop (async: the loop's own cost is what is measured)."""

    async def run(self, ctx: Any) -> None:
        ITERATIONS.append(time.perf_counter())
        ctx.data["i"] += 1


# -- helpers ----------------------------------------------------------------------------------


def make_host(url: str, params: dict[str, Any]) -> WorkflowHost:
    settings = dict(HOST_SETTINGS)
    settings.update(params.get("host", {}))
    if params.get("otel"):
        settings.update(otel_providers())
    return WorkflowHost(persistence=url, **settings)


def otel_providers() -> dict[str, Any]:
    """SDK providers as an application would set them up, exporting nowhere: every span is
    made, recorded and batched, every measurement aggregated; only the network is left out."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Discard()))
    return {"tracer_provider": tracer_provider,
            "meter_provider": MeterProvider([InMemoryMetricReader()])}


class Completions:
    """Waits for workflows to settle without changing what the engine does while they run.

    Neither ``host.lifecycle`` (the engine builds lifecycle events only while someone listens)
    nor ``wait_for_workflow`` per workflow (one provider read each before the first wait) is
    free; both would be measured along with the engine. Instead this waits on the runtime's
    in-process change notification, the one ``wait_for_workflow`` sleeps on, registered right
    after each start. A wait that sees no notification for ``RECHECK_S`` re-reads the store, so a
    missed notification costs time (counted in ``missed``, which should stay 0) but never hangs
    the case; a host without that hook falls back to ``wait_for_workflow``.
    """

    #: Long, so that a thousand queued workflows do not add a read per second each.
    RECHECK_S = 20.0

    def __init__(self, host: WorkflowHost) -> None:
        self.host = host
        self.missed = 0
        self._events: dict[str, asyncio.Event | None] = {}

    def watch(self, wid: str) -> None:
        """Call right after ``start_workflow`` returned ``wid`` (before anything is awaited)."""
        changed = getattr(getattr(self.host, "_runtime", None), "changed", None)
        event = None
        if isinstance(changed, dict):
            event = changed.get(wid)
            if not isinstance(event, asyncio.Event):
                event = changed[wid] = asyncio.Event()
        self._events[wid] = event

    async def wait(self, timeout: float) -> float:
        """Wait until every watched workflow settled; returns perf_counter when the last did.

        One waiter at a time, in start order, so that the harness adds no task per workflow
        to the loop it measures.
        """
        deadline = time.perf_counter() + timeout
        for wid, event in self._events.items():
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    raise TimeoutError(f"workflow {wid} did not settle in {timeout} s")
                if event is None:
                    await self.host.wait_for_workflow(wid, timeout=remaining)
                    break
                if event.is_set():
                    break
                try:
                    await asyncio.wait_for(event.wait(), min(self.RECHECK_S, remaining))
                    break
                except TimeoutError:
                    instance = await self.host.persistence.get_workflow(wid)
                    if not event.is_set() and instance.status is not WorkflowStatus.RUNNABLE:
                        self.missed += 1
                        break
        return time.perf_counter()


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[rank]


def ms(value: float | None) -> float | None:
    return None if value is None else value * 1000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def check_complete(host: WorkflowHost, wids: list[str]) -> None:
    """Fail loudly if a workflow the case counted as done is not COMPLETE in the store."""
    for start in range(0, len(wids), 500):
        for instance in await host.persistence.get_workflows(wids[start : start + 500]):
            if instance.status is not WorkflowStatus.COMPLETE:
                raise RuntimeError(f"workflow {instance.id} is {instance.status}, not complete")


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.05) -> None:
    deadline = time.perf_counter() + timeout
    while not await predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("the benchmark's setup did not reach its state in time")
        await asyncio.sleep(every)


# -- 1. chain ---------------------------------------------------------------------------------


async def chain(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """N workflows x S no-op ``then`` steps, all started at once.

    With ``serial``, each ``start_workflow`` is awaited before the next is called (the way an
    application starts workflows from its requests), then the case waits for all;
    ``start_batch`` awaits that many starts at a time. Every call's latency is recorded (in a
    batch it includes waiting behind the batch's other calls).
    """
    n, steps = params.get("workflows", 1000), params.get("steps", 10)
    body = AsyncNoop if params.get("async_steps") else Noop
    builder: Any = WorkflowBuilder(dict).start_with(body)
    for _ in range(steps - 1):
        builder = builder.then(body)
    definition = builder.end_workflow().build("bench-chain", 1)
    async with make_host(url, params) as host:
        host.register(definition)
        done = Completions(host)

        start_latencies: list[float] = []

        async def start() -> str:
            s0 = time.perf_counter()
            wid = await host.start_workflow("bench-chain")
            start_latencies.append(time.perf_counter() - s0)
            done.watch(wid)
            return wid

        gc.collect()
        if "start_at" in params:  # several host processes start together (_hosts_cases)
            await asyncio.sleep(max(0.0, params["start_at"] - time.time()))
        wall0 = time.time()
        cpu0, t0 = time.process_time(), time.perf_counter()
        batch = params.get("start_batch") or n  # start_batch: so many starts at a time
        wids: list[str] = []
        if params.get("serial"):  # one await after another, as an application's requests do
            for _ in range(n):
                wids.append(await start())
        else:
            for first in range(0, n, batch):
                wids += await asyncio.gather(*(start() for _ in range(min(batch, n - first))))
        started = time.perf_counter()
        finished = await done.wait(timeout=params.get("timeout", 600))
        cpu = time.process_time() - cpu0
        await check_complete(host, wids)
    elapsed = finished - t0
    per_workflow: dict[str, list[tuple[int, float, float]]] = {}
    for wid, step_id, began, ended in STAMPS:
        per_workflow.setdefault(wid, []).append((step_id, began, ended))
    gaps: list[float] = []
    for stamps in per_workflow.values():
        stamps.sort()
        gaps.extend(b[1] - a[2] for a, b in pairwise(stamps))
    if len(STAMPS) != n * steps:
        raise RuntimeError(f"expected {n * steps} step runs, recorded {len(STAMPS)}")
    return {
        "workflows": n,
        "steps": steps,
        "step_kind": "async def run" if params.get("async_steps") else "def run (thread pool)",
        "wait_ms": params.get("wait_ms", 0),
        "elapsed_s": elapsed,
        "start_calls_s": started - t0,
        "steps_per_s": n * steps / elapsed,
        "workflows_per_s": n / elapsed,
        "gap_p50_ms": ms(percentile(gaps, 50)),
        "gap_p99_ms": ms(percentile(gaps, 99)),
        "serial_starts": bool(params.get("serial")),
        "start_p50_ms": ms(percentile(start_latencies, 50)),
        "start_p99_ms": ms(percentile(start_latencies, 99)),
        "cpu_s": cpu,
        "cpu_per_step_us": cpu / (n * steps) * 1e6,
        "missed_notifications": done.missed,
        "peak_rss_mb": peak_rss_mb(),
        "t0_wall": wall0,
        "finished_wall": wall0 + elapsed,
    }


# -- 2. wake-up -------------------------------------------------------------------------------


async def wakeup_event(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """N workflows wait for an event each; publish them, paced or in one burst."""
    n, spacing = params.get("workflows", 200), params.get("spacing_ms", 10) / 1000
    definition = (
        WorkflowBuilder(dict)
        .start_with(AsyncNoop)
        .wait_for("bench.wake", lambda d: d["key"])
        .then(Woken)
        .end_workflow()
        .build("bench-wake", 1)
    )
    async with make_host(url, params) as host:
        host.register(definition)
        done = Completions(host)
        keys = [f"k{i}" for i in range(n)]
        wids = []
        for key in keys:
            wids.append(await host.start_workflow("bench-wake", {"key": key}))
            done.watch(wids[-1])

        async def all_waiting() -> bool:
            waiting = 0
            for start in range(0, n, 500):
                for inst in await host.persistence.get_workflows(wids[start : start + 500]):
                    if any(p.status is PointerStatus.WAITING_FOR_EVENT for p in inst.execution_pointers):
                        waiting += 1
            return bool(waiting == n)

        await wait_until(all_waiting, timeout=120)
        await asyncio.sleep(0.2)  # let the index and queues go quiet
        published: dict[str, float] = {}
        t0 = time.perf_counter()
        for key in keys:
            published[key] = time.perf_counter()
            await host.publish_event("bench.wake", key)
            if spacing:
                await asyncio.sleep(spacing)
        publish_s = time.perf_counter() - t0
        await done.wait(timeout=120)
        await check_complete(host, wids)
    latencies = [WOKEN[k] - published[k] for k in keys]
    return {
        "workflows": n,
        "spacing_ms": spacing * 1000,
        "publish_calls_s": publish_s,
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies)),
        "peak_rss_mb": peak_rss_mb(),
    }


async def wakeup_delay(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """N workflows each ``delay`` 50 ms; how late does the next step run after the due time."""
    n, delay_ms = params.get("workflows", 200), params.get("delay_ms", 50)
    spacing = params.get("spacing_ms", 10) / 1000
    definition = (
        WorkflowBuilder(dict)
        .start_with(AsyncNoop)
        .delay(timedelta(milliseconds=delay_ms))
        .then(AfterDelay)
        .end_workflow()
        .build("bench-delay", 1)
    )
    async with make_host(url, params) as host:
        host.register(definition)
        done = Completions(host)
        keys = [f"k{i}" for i in range(n)]
        data = [{"key": k, "delay_ms": delay_ms} for k in keys]

        async def start(d: dict[str, Any]) -> str:
            wid = await host.start_workflow("bench-delay", d)
            done.watch(wid)
            return wid

        if spacing:
            wids = []
            for d in data:
                wids.append(await start(d))
                await asyncio.sleep(spacing)
        else:
            wids = await asyncio.gather(*(start(d) for d in data))
        await done.wait(timeout=120)
        await check_complete(host, wids)
    late = [LATENESS[k] for k in keys]
    return {
        "workflows": n,
        "delay_ms": delay_ms,
        "spacing_ms": spacing * 1000,
        "p50_ms": ms(percentile(late, 50)),
        "p99_ms": ms(percentile(late, 99)),
        "max_ms": ms(max(late)),
        "min_ms": ms(min(late)),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- 3. long loop -----------------------------------------------------------------------------


async def long_loop(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """One workflow whose ``while_do`` body runs ``iterations`` times."""
    # 20,000 iterations (0.9 s on memory): with 5,000, a window of 500 lasted 20 ms, and one
    # full collection of the process's heap (10-20 ms) landing in the first or the last one
    # decided the ratio; a longer loop also tests a four times longer history.
    n, window = params.get("iterations", 20000), params.get("window", 2000)
    definition = (
        WorkflowBuilder(dict)
        .start_with(AsyncNoop)
        .while_do(lambda d: d["i"] < d["n"], lambda b: b.start_with(Increment))
        .end_workflow()
        .build("bench-loop", 1)
    )
    async with make_host(url, params) as host:
        host.register(definition)
        done = Completions(host)
        t0 = time.perf_counter()
        wid = await host.start_workflow("bench-loop", {"i": 0, "n": n})
        done.watch(wid)
        await done.wait(timeout=params.get("timeout", 1200))
        elapsed = time.perf_counter() - t0
        instance = await host.get_workflow(wid)
    if instance.status is not WorkflowStatus.COMPLETE or instance.data["i"] != n:
        raise RuntimeError(f"loop ended {instance.status} at i={instance.data['i']}")
    diffs = [b - a for a, b in pairwise(ITERATIONS)]
    window = min(window, len(diffs) // 2) or 1
    first, last = diffs[:window], diffs[-window:]
    # Mean, not median: a cost that grows shows in the mean; the median is reported too.
    first_mean, last_mean = statistics.fmean(first), statistics.fmean(last)
    return {
        "iterations": n,
        "window": window,
        "elapsed_s": elapsed,
        "first_ms": first_mean * 1000,
        "last_ms": last_mean * 1000,
        "first_median_ms": statistics.median(first) * 1000,
        "last_median_ms": statistics.median(last) * 1000,
        "last_over_first": last_mean / first_mean,
        "pointers": len(instance.execution_pointers),
        "peak_rss_mb": peak_rss_mb(),
    }


# -- 4. sleepers ------------------------------------------------------------------------------


async def parked_in_store(host: WorkflowHost, wids: list[str]) -> list[str]:
    """The workflows among ``wids`` whose stored state is not yet parked in the delay.

    Parked: the first step's pointer is complete and the delay's pointer is stored
    ``SLEEPING`` with its due time, the state a host restarted from the store would find.
    """
    left: list[str] = []
    for first in range(0, len(wids), 500):
        for instance in await host.persistence.get_workflows(wids[first : first + 500]):
            sleeping = any(p.status is PointerStatus.SLEEPING and p.sleep_until is not None
                           for p in instance.execution_pointers)
            if not sleeping or instance.status is not WorkflowStatus.RUNNABLE:
                left.append(instance.id)
    return left


async def cpu_windows(seconds: float, window: float = 1.0) -> list[float]:
    """Process CPU (all threads) as a fraction of a core over consecutive ``window``s."""
    out: list[float] = []
    end = time.perf_counter() + seconds
    while (now := time.perf_counter()) < end:
        cpu0 = time.process_time()
        await asyncio.sleep(min(window, end - now))
        out.append((time.process_time() - cpu0) / (time.perf_counter() - now))
    return out


async def sleepers(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """N workflows parked in a one-hour delay: time to park them all, then an idle host's CPU.

    Parking is timed from the first start until every workflow is parked in the store (see
    ``parked_in_store``): first until every first step ran (cheap, in-process), then by reading
    every instance, re-reading the ones not parked yet until none is left; ``parked_s`` ends with
    the read that found the last one parked (``verify_s`` is that last read's length, the
    figure's slack). Then the search index is brought up to date (``host.search`` flushes it),
    so no backlog is left, and after ``settle_s`` the idle window opens: ``idle_s`` of nothing
    due, process CPU sampled each second (all threads).
    """
    n = params.get("workflows", 100_000)
    batch = params.get("batch", 1000)
    idle_s = params.get("idle_s", 30.0)
    definition = (
        WorkflowBuilder(dict)
        .start_with(AsyncNoop)
        .delay(timedelta(hours=1))
        .then(AsyncNoop)
        .end_workflow()
        .build("bench-sleep", 1)
    )
    timeout = params.get("timeout", 1800)
    async with make_host(url, params) as host:
        host.register(definition)
        rss0 = current_rss_mb()
        cpu_start, t0 = time.process_time(), time.perf_counter()
        # Started through the host in batches: each batch's creates and enqueues share commits,
        # and the host parks the workflows (first pass: run the first step, start the delay)
        # while the next batch is being created.
        wids: list[str] = []
        for start in range(0, n, batch):
            wids += await asyncio.gather(
                *(host.start_workflow("bench-sleep") for _ in range(min(batch, n - start)))
            )
        created = time.perf_counter() - t0

        async def first_steps_ran() -> bool:
            return len(STAMPS) >= int(n)

        await wait_until(first_steps_ran, timeout=timeout, every=0.1)
        first_steps = time.perf_counter() - t0
        left, sweeps = wids, 0
        while True:
            v0 = time.perf_counter()
            left = await parked_in_store(host, left)
            sweeps += 1
            verified = time.perf_counter()
            if not left:
                break
            if verified - t0 > timeout:
                raise TimeoutError(f"{len(left)} of {n} sleepers not parked after {timeout} s")
            await asyncio.sleep(0.1)
        parked, verify = verified - t0, verified - v0
        parking_cpu = time.process_time() - cpu_start
        if len(STAMPS) != n:
            raise RuntimeError(f"expected {n} first steps, recorded {len(STAMPS)}")
        f0 = time.perf_counter()
        indexed = (await host.search(definition_id="bench-sleep", take=1)).total
        index_flush = time.perf_counter() - f0
        if indexed != n:
            raise RuntimeError(f"the search index shows {indexed} sleepers, not {n}")
        STAMPS.clear()
        settle = await cpu_windows(params.get("settle_s", 2.0))
        gc.collect()
        idle = await cpu_windows(idle_s)
        if STAMPS:
            raise RuntimeError(f"{len(STAMPS)} steps ran during the idle window; none is due")
        rss = current_rss_mb()
        query_times = []
        found = None
        for _ in range(params.get("queries", 20)):
            q0 = time.perf_counter()
            found = await host.persistence.get_runnable_instances(
                datetime.now(UTC) + timedelta(seconds=host.poll_interval)
            )
            query_times.append(time.perf_counter() - q0)
            await asyncio.sleep(0.01)
        # The same query as the poller at the moment the sleepers are all due, as a worst case.
        q0 = time.perf_counter()
        due_all = await host.persistence.get_runnable_instances(
            datetime.now(UTC) + timedelta(hours=2)
        )
        due_all_s = time.perf_counter() - q0
    return {
        "workflows": n,
        "create_s": created,
        "created_per_s": n / created,
        "first_steps_s": first_steps,
        "parked_s": parked,
        "parked_per_s": n / parked,
        "verify_s": verify,
        "verify_sweeps": sweeps,
        "parking_cpu_pct_of_core": parking_cpu / parked * 100,
        "index_flush_s": index_flush,
        "settle_cpu_pct_of_core": [round(c * 100, 2) for c in settle],
        "idle_window_s": idle_s,
        "idle_cpu_pct_of_core": statistics.fmean(idle) * 100,
        "idle_cpu_max_1s_pct_of_core": max(idle) * 100,
        "idle_cpu_per_s_pct_of_core": [round(c * 100, 2) for c in idle],
        "rss_mb": rss,
        "rss_growth_mb": rss - rss0,
        "poller_query_median_ms": ms(statistics.median(query_times)),
        "poller_query_max_ms": ms(max(query_times)),
        "poller_query_rows": len(found or []),
        "due_query_1000_rows_ms": ms(due_all_s),
        "due_query_rows": len(due_all),
        "poll_interval_s": host.poll_interval,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- 5. fan-out -------------------------------------------------------------------------------


async def fanout(url: str, params: dict[str, Any]) -> dict[str, Any]:
    """One workflow: ``for_each`` over ``items`` in parallel, a no-op step per item.

    With ``wait_ms``, each item's step awaits that long instead: run together, the items
    take about one wait, not ``items`` waits.
    """
    global WAIT_S
    n = params.get("items", 1000)
    WAIT_S = params.get("wait_ms", 0) / 1000
    body: type[StepBody] = AsyncNoop if params.get("async_steps") else Noop
    if WAIT_S:
        body = AsyncWait
    definition = (
        WorkflowBuilder(dict)
        .start_with(AsyncNoop)
        .for_each(lambda d: d["items"], lambda b: b.start_with(body), parallel=True)
        .then(AsyncNoop)
        .end_workflow()
        .build("bench-fanout", 1)
    )
    async with make_host(url, params) as host:
        host.register(definition)
        done = Completions(host)
        t0 = time.perf_counter()
        wid = await host.start_workflow("bench-fanout", {"items": list(range(n))})
        done.watch(wid)
        finished = await done.wait(timeout=params.get("timeout", 600))
        await check_complete(host, [wid])
    elapsed = finished - t0
    if len(STAMPS) != n + 2:
        raise RuntimeError(f"expected {n + 2} step runs, recorded {len(STAMPS)}")
    starts = sorted(s[2] for s in STAMPS)
    return {
        "items": n,
        "step_kind": "async def run" if params.get("async_steps") else "def run (thread pool)",
        "wait_ms": params.get("wait_ms", 0),
        "elapsed_s": elapsed,
        "items_per_s": n / elapsed,
        # From the first step's start to the last step's start: the engine's share of the run.
        "first_to_last_step_ms": ms(starts[-1] - starts[0]),
        "peak_rss_mb": peak_rss_mb(),
    }


#: A benchmark case: ``await case(url, params)`` gives its figures.
Case = Callable[[str, dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]

CASES: dict[str, Case] = {
    "chain": chain,
    "wakeup_event": wakeup_event,
    "wakeup_delay": wakeup_delay,
    "long_loop": long_loop,
    "sleepers": sleepers,
    "fanout": fanout,
}


def run_case(cases: dict[str, Case], description: str, argv: list[str] | None = None) -> None:
    """``python -m benchmarks.<module> CASE --url URL --params JSON``: run one case in this
    process and print its result (with this process's pid) as one JSON line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("case", choices=sorted(cases))
    parser.add_argument("--url", required=True)
    parser.add_argument("--params", default="{}", help="the case's parameters, as JSON")
    args = parser.parse_args(argv)
    result: dict[str, Any] = asyncio.run(cases[args.case](args.url, json.loads(args.params)))
    result["pid"] = os.getpid()
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


def main(argv: list[str] | None = None) -> None:
    run_case(CASES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
