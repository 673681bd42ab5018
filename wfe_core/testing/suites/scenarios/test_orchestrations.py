"""Durable functions (``@orchestration``): duroxide's sample scenarios, on every store set.

Ported in spirit from duroxide's samples (the Rust runtime whose replay model wfe follows):
function chaining, fan-out/fan-in, external events, timers and ``select``, error handling and
compensation, retries, sub-orchestrations, continue-as-new, versioning, determinism (the
helpers replay the same values, a changed call is detected) and the history cap.

Time is a ``FakeClock`` moved by hand, so that a two-day timer fires when the test says so.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from wfe import (
    ActivityFailed,
    FakeClock,
    OrchestrationContext,
    PointerStatus,
    RetryPolicy,
    WorkflowHost,
    WorkflowInstance,
    WorkflowStatus,
    orchestration,
)
from wfe_core._history import History

ran: Counter[str] = Counter()
seen: list[Any] = []
switch: dict[str, bool] = {}
switch_events: dict[str, asyncio.Event] = {}


@pytest.fixture(autouse=True)
def reset() -> None:
    ran.clear()
    seen.clear()
    switch.clear()
    switch_events.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# -- activities ------------------------------------------------------------------------------


def greet(name: str) -> str:
    ran["greet"] += 1
    return f"Hello, {name}!"


async def double(n: int) -> int:
    ran["double"] += 1
    return n * 2


def charge(amount: int) -> str:
    ran["charge"] += 1
    return f"payment-{amount}"


def refund(payment: str) -> None:
    ran["refund"] += 1
    seen.append(("refunded", payment))


def ship(item: str) -> str:
    ran["ship"] += 1
    raise RuntimeError(f"no courier for {item}")


def flaky(fails: int) -> str:
    ran["flaky"] += 1
    if ran["flaky"] <= fails:
        raise ConnectionError(f"attempt {ran['flaky']} failed")
    return "made it"


async def meet(name: str) -> str:
    """Returns only once two of these run at the same time (a gather's calls are concurrent)."""
    both_running = switch_events.setdefault("both", asyncio.Event())
    ran["meet"] += 1
    if ran["meet"] >= 2:
        both_running.set()
    await asyncio.wait_for(both_running.wait(), 10)
    return name.upper()


# -- orchestrations --------------------------------------------------------------------------


@dataclass
class Order:
    id: str = "order-1"
    total: int = 30
    items: list[str] = field(default_factory=lambda: ["book"])


@dataclass
class Receipt:
    payment: str
    greeting: str


@orchestration("hello-chain")
async def hello_chain(ctx: OrchestrationContext, order: Order) -> Receipt:
    payment = await ctx.call(charge, order.total)
    greeting = await ctx.call(greet, order.id)
    return Receipt(payment, greeting)


@orchestration("fan-out")
async def fan_out(ctx: OrchestrationContext, numbers: list[int]) -> int:
    doubled = await ctx.gather(*(ctx.call(double, n) for n in numbers))
    return sum(doubled)


@orchestration("meet")
async def meet_both(ctx: OrchestrationContext) -> list[str]:
    return await ctx.gather(ctx.call(meet, "a"), ctx.call(meet, "b"))  # type: ignore[no-any-return]


@orchestration("approval")
async def approval(ctx: OrchestrationContext, order: Order) -> str:
    decision = await ctx.select(
        ctx.wait_for_event("approved", order.id), ctx.timer(timedelta(days=2))
    )
    if decision.index == 1:
        return "timed out"
    return f"approved by {decision.value['by']}"


@orchestration("saga")
async def saga(ctx: OrchestrationContext, order: Order) -> str:
    payment = await ctx.call(charge, order.total)
    try:
        await ctx.gather(*(ctx.call(ship, item) for item in order.items))
    except ActivityFailed as failure:
        await ctx.call(refund, payment)
        seen.append(failure.error_type)
        raise
    return "shipped"


@orchestration("retrying")
async def retrying(ctx: OrchestrationContext, fails: int) -> str:
    policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(0))
    try:
        return await ctx.call(flaky, fails, retry=policy)  # type: ignore[no-any-return]
    except ActivityFailed as failure:
        return f"gave up: {failure.message}"


@orchestration("retry-or-timer")
async def retry_or_timer(ctx: OrchestrationContext, fails: int) -> list[Any]:
    policy = RetryPolicy(max_attempts=3, initial_interval=timedelta(0))
    first = await ctx.select(ctx.call(flaky, fails, retry=policy), ctx.timer(timedelta(days=2)))
    return [first.index, first.value]


@orchestration("child-double")
async def child_double(ctx: OrchestrationContext, n: int) -> int:
    return await ctx.call(double, n)  # type: ignore[no-any-return]


@orchestration("child-fails")
async def child_fails(ctx: OrchestrationContext, item: str) -> str:
    return await ctx.call(ship, item)  # type: ignore[no-any-return]


@orchestration("parent")
async def parent(ctx: OrchestrationContext, n: int) -> list[Any]:
    values = await ctx.gather(
        ctx.sub_orchestration(child_double, n), ctx.sub_orchestration(child_double, n + 1)
    )
    try:
        await ctx.sub_orchestration("child-fails", "vase")
    except ActivityFailed as failure:
        values.append(failure.message)
    return values  # type: ignore[no-any-return]


@orchestration("counter")
async def counter(ctx: OrchestrationContext, state: dict[str, int]) -> int:
    total = state["total"] + await ctx.call(double, state["round"])
    if state["round"] < 3:
        ctx.continue_as_new({"round": state["round"] + 1, "total": total})
    return total  # type: ignore[no-any-return]


@orchestration("helpers")
async def helpers(ctx: OrchestrationContext) -> str:
    values = (ctx.now(), ctx.uuid4(), ctx.random())
    ctx.log.warning("helpers drawn")
    seen.append(values)
    await ctx.timer(timedelta(hours=1))
    seen.append((ctx.now(), ctx.uuid4(), ctx.random()))
    return "done"


@orchestration("changing")
async def changing(ctx: OrchestrationContext) -> str:
    # A deploy that changed the first call under a running workflow:
    if switch.get("changed"):
        await ctx.call(charge, 1)
    else:
        await ctx.call(greet, "first")
    await ctx.wait_for_event("go", "changing")
    return "never"


@orchestration("versioned", version=1)
async def versioned_v1(ctx: OrchestrationContext) -> str:
    await ctx.wait_for_event("go", "versioned")
    return "v1"


@orchestration("versioned", version=2)
async def versioned_v2(ctx: OrchestrationContext) -> str:
    await ctx.call(greet, "v2")
    return "v2"


@orchestration("endless", max_history=8)
async def endless(ctx: OrchestrationContext) -> None:
    while True:
        await ctx.call(double, 1)


# -- helpers ---------------------------------------------------------------------------------


async def run(host: WorkflowHost, definition: Any, data: Any = None, version: int | None = None) -> WorkflowInstance:
    host.register(definition)
    wid = await host.start_workflow(definition.id, data, version=version)
    return await host.wait_for_workflow(wid, timeout=30)


async def waiting_timer(host: WorkflowHost, wid: str, wait_until: Callable[..., Awaitable[None]]) -> None:
    """Until the workflow's timer wait sleeps in the store."""

    async def sleeping() -> bool:
        inst = await host.get_workflow(wid)
        return any(p.status is PointerStatus.SLEEPING for p in inst.execution_pointers)

    await wait_until(sleeping, what="a sleeping timer")


# -- scenarios (helpers: each test runs several on one host, as store sets cost a setup each) -------------------------------------------------------------------------------


async def scenario_function_chaining(host: WorkflowHost) -> None:
    inst = await run(host, hello_chain, Order(id="o-7", total=12))
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.result == Receipt("payment-12", "Hello, o-7!")
    assert isinstance(inst.data, Order)
    assert ran == Counter(charge=1, greet=1)  # replays did not run them again
    fetched = await host.get_workflow(inst.id)
    assert fetched.result == Receipt("payment-12", "Hello, o-7!")


async def scenario_fan_out_fan_in(host: WorkflowHost) -> None:
    inst = await run(host, fan_out, [1, 2, 3, 4, 5])
    assert (inst.status, inst.result, ran["double"]) == (WorkflowStatus.COMPLETE, 30, 5)


async def scenario_gather_runs_its_calls_at_the_same_time(host: WorkflowHost) -> None:
    inst = await run(host, meet_both)
    assert (inst.status, inst.result) == (WorkflowStatus.COMPLETE, ["A", "B"])


async def scenario_external_event_beats_the_timer(
    host: WorkflowHost, wait_for_subscription: Callable[..., Awaitable[None]]
) -> None:
    host.register(approval)
    wid = await host.start_workflow("approval", Order(id="o-1"))
    await wait_for_subscription("approved", "o-1")
    await host.publish_event("approved", "o-1", {"by": "ada"})
    inst = await host.wait_for_workflow(wid, timeout=30)
    assert (inst.status, inst.result) == (WorkflowStatus.COMPLETE, "approved by ada")
    # The two-day timer lost: cancelled, not left waiting.
    assert not [p for p in inst.execution_pointers if p.end_time is None]
    assert PointerStatus.CANCELLED in {p.status for p in inst.execution_pointers}


async def scenario_timer_beats_the_event(
    host: WorkflowHost, clock: FakeClock, wait_until: Callable[..., Awaitable[None]],
    subscriptions: Callable[[str, str], Awaitable[list[Any]]],
) -> None:
    host.register(approval)
    wid = await host.start_workflow("approval", Order(id="o-2"))
    await waiting_timer(host, wid, wait_until)
    clock.advance(timedelta(days=2))
    inst = await host.wait_for_workflow(wid, timeout=30)
    assert (inst.status, inst.result) == (WorkflowStatus.COMPLETE, "timed out")
    await host.publish_event("approved", "o-2", {"by": "late"})  # nobody waits any more
    assert (await host.get_workflow(wid)).result == "timed out"


async def scenario_saga_compensates_and_fails(host: WorkflowHost) -> None:
    inst = await run(host, saga, Order(items=["lamp", "vase"]))
    assert inst.status is WorkflowStatus.TERMINATED
    assert ran == Counter(charge=1, ship=2, refund=1)
    assert seen == [("refunded", "payment-30"), "RuntimeError"]
    errors = await host.get_execution_errors(inst.id)
    assert any("no courier for lamp" in e.message for e in errors), errors


async def scenario_retry_until_it_works_or_gives_up(host: WorkflowHost) -> None:
    inst = await run(host, retrying, 2)
    assert (inst.status, inst.result, ran["flaky"]) == (WorkflowStatus.COMPLETE, "made it", 3)
    ran.clear()
    inst = await run(host, retrying, 5)
    assert (inst.result, ran["flaky"]) == ("gave up: attempt 3 failed", 3)
    ran.clear()
    # The retry is due while the select's two-day timer waits (the clock stands still): it
    # runs then, not when the timer ends, and wins; the timer is cancelled.
    inst = await run(host, retry_or_timer, 1)
    assert (inst.status, inst.result, ran["flaky"]) == (WorkflowStatus.COMPLETE, [0, "made it"], 2)
    assert not [p for p in inst.execution_pointers if p.end_time is None]


async def scenario_sub_orchestrations(host: WorkflowHost) -> None:
    host.register(child_double)
    host.register(child_fails)
    inst = await run(host, parent, 5)
    assert inst.status is WorkflowStatus.COMPLETE
    assert inst.result[:2] == [10, 12]
    assert inst.result[2].endswith("ship failed: RuntimeError: no courier for vase")
    children = (await host.search(definition_id="child-double")).items
    assert len(children) == 2


async def scenario_continue_as_new(host: WorkflowHost) -> None:
    inst = await run(host, counter, {"round": 1, "total": 0})
    # rounds 1, 2, 3 doubled and summed, in one workflow, each round on a fresh history
    assert (inst.status, inst.result, ran["double"]) == (WorkflowStatus.COMPLETE, 12, 3)
    assert inst.data == {"round": 3, "total": 6}
    first = next(iter(inst.execution_pointers))
    assert len(History(first.persistence_data).events) == 2


async def scenario_helpers_replay_the_same_values_and_log_once(
    host: WorkflowHost, clock: FakeClock, wait_until: Callable[..., Awaitable[None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "wfe.orchestration")
    host.register(helpers)
    wid = await host.start_workflow("helpers")
    await waiting_timer(host, wid, wait_until)
    clock.advance(timedelta(hours=1))
    inst = await host.wait_for_workflow(wid, timeout=30)
    assert inst.status is WorkflowStatus.COMPLETE
    first = seen[0]
    assert len(seen) >= 3 and seen[-2] == first  # replayed: the same values
    assert seen[-1] != first and seen[-1][0] >= first[0] + timedelta(hours=1)
    assert [r.message for r in caplog.records].count("helpers drawn") == 1


async def scenario_a_changed_call_is_detected_and_suspends(
    host: WorkflowHost, wait_for_subscription: Callable[..., Awaitable[None]]
) -> None:
    host.register(changing)
    wid = await host.start_workflow("changing")
    await wait_for_subscription("go", "changing")
    switch["changed"] = True
    await host.publish_event("go", "changing")
    inst = await host.wait_for_workflow(wid, timeout=30)
    assert inst.status is WorkflowStatus.SUSPENDED
    message = (await host.get_execution_errors(wid))[-1].message
    assert "NonDeterminismError" in message and "operation 0" in message
    assert "test_orchestrations.greet, the code now" in message
    assert "issues call wfe_core.testing.suites.scenarios.test_orchestrations.charge" in message
    assert ran == Counter(greet=1)  # nothing ran on the changed code


async def scenario_versions_keep_running_workflows_on_their_code(
    host: WorkflowHost, wait_for_subscription: Callable[..., Awaitable[None]]
) -> None:
    host.register(versioned_v1)
    host.register(versioned_v2)
    old = await host.start_workflow("versioned", version=1)
    await wait_for_subscription("go", "versioned")
    new = await run(host, versioned_v2)
    assert (new.version, new.result) == (2, "v2")
    await host.publish_event("go", "versioned")
    inst = await host.wait_for_workflow(old, timeout=30)
    assert (inst.version, inst.status, inst.result) == (1, WorkflowStatus.COMPLETE, "v1")


async def scenario_the_history_cap_fails_the_workflow(host: WorkflowHost) -> None:
    inst = await run(host, endless)
    assert inst.status is WorkflowStatus.TERMINATED
    message = (await host.get_execution_errors(inst.id))[-1].message
    assert "HistoryLimitError" in message and "cap of 8 events" in message
    assert "continue_as_new" in message
    assert ran["double"] == 4  # four calls, two events each


# -- the tests -------------------------------------------------------------------------------


async def test_chaining_and_fan_out(host: WorkflowHost) -> None:
    await scenario_function_chaining(host)
    ran.clear()
    await scenario_fan_out_fan_in(host)
    ran.clear()
    await scenario_gather_runs_its_calls_at_the_same_time(host)


async def test_events_timers_and_select(
    host: WorkflowHost, clock: FakeClock, wait_until: Callable[..., Awaitable[None]],
    wait_for_subscription: Callable[..., Awaitable[None]],
    subscriptions: Callable[[str, str], Awaitable[list[Any]]], caplog: pytest.LogCaptureFixture,
) -> None:
    await scenario_external_event_beats_the_timer(host, wait_for_subscription)
    await scenario_timer_beats_the_event(host, clock, wait_until, subscriptions)
    await scenario_helpers_replay_the_same_values_and_log_once(host, clock, wait_until, caplog)


async def test_failures_retries_and_compensation(host: WorkflowHost) -> None:
    await scenario_saga_compensates_and_fails(host)
    ran.clear()
    await scenario_retry_until_it_works_or_gives_up(host)
    ran.clear()
    await scenario_the_history_cap_fails_the_workflow(host)


async def test_sub_orchestrations_and_continue_as_new(host: WorkflowHost) -> None:
    await scenario_sub_orchestrations(host)
    ran.clear()
    await scenario_continue_as_new(host)


async def test_determinism_and_versions(
    host: WorkflowHost, wait_for_subscription: Callable[..., Awaitable[None]]
) -> None:
    await scenario_a_changed_call_is_detected_and_suspends(host, wait_for_subscription)
    await scenario_versions_keep_running_workflows_on_their_code(host, wait_for_subscription)
