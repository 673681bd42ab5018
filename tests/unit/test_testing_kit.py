"""The offline test kit: ``FakeClock`` and the ``wfe_fake_clock`` / ``wfe_host`` fixtures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfe import (
    ErrorBehavior,
    FakeClock,
    StepBody,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)
from wfe_core import Clock

START = datetime(2030, 6, 1, 9, 0, tzinfo=UTC)


class Noop(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        ctx.data["ran"] = ctx.data.get("ran", 0) + 1


def _delayed(definition_id: str, period: timedelta) -> Any:
    return WorkflowBuilder(dict).start_with(Noop).delay(period).then(Noop).build(definition_id)


# -- FakeClock --------------------------------------------------------------------------------


def test_fake_clock_is_a_clock() -> None:
    assert isinstance(FakeClock(), Clock)


def test_fake_clock_starts_now_in_utc_by_default() -> None:
    before = datetime.now(UTC)
    clock = FakeClock()
    assert clock.now().tzinfo is not None
    assert before <= clock.now() <= datetime.now(UTC)
    assert clock.auto_advance is False


def test_fake_clock_stands_still() -> None:
    clock = FakeClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_fake_clock_rejects_a_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2030, 1, 1))


def test_advance_moves_time_by_a_timedelta_or_seconds() -> None:
    clock = FakeClock(START)
    assert clock.advance(timedelta(hours=1)) == START + timedelta(hours=1)
    assert clock.advance(1.5) == START + timedelta(hours=1, seconds=1.5)
    assert clock.advance(0) == START + timedelta(hours=1, seconds=1.5)
    assert clock.now() == START + timedelta(hours=1, seconds=1.5)


@pytest.mark.parametrize("delta", [timedelta(microseconds=-1), -1, -0.001])
def test_advance_rejects_going_back(delta: Any) -> None:
    clock = FakeClock(START)
    with pytest.raises(ValueError):
        clock.advance(delta)
    assert clock.now() == START


def test_set_moves_time_to_a_moment() -> None:
    clock = FakeClock(START)
    later = START + timedelta(days=3)
    assert clock.set(later) == later
    assert clock.now() == later
    assert clock.set(later) == later  # setting the same time is fine


def test_set_rejects_the_past() -> None:
    clock = FakeClock(START)
    with pytest.raises(ValueError):
        clock.set(START - timedelta(seconds=1))
    assert clock.now() == START


def test_listeners_hear_every_move() -> None:
    clock = FakeClock(START)
    heard: list[datetime] = []

    def listener() -> None:
        heard.append(clock.now())

    clock.add_listener(listener)
    clock.advance(timedelta(seconds=1))
    clock.set(START + timedelta(seconds=5))
    clock.remove_listener(listener)
    clock.remove_listener(listener)  # twice is harmless
    clock.advance(timedelta(seconds=1))
    assert heard == [START + timedelta(seconds=1), START + timedelta(seconds=5)]


async def test_sleep_until_the_past_returns_at_once() -> None:
    clock = FakeClock(START)
    await asyncio.wait_for(clock.sleep_until(START - timedelta(hours=1), asyncio.Event()), 1)
    await asyncio.wait_for(clock.sleep_until(START, asyncio.Event()), 1)


async def test_sleep_until_waits_for_a_wake_without_auto_advance() -> None:
    clock = FakeClock(START)
    wake = asyncio.Event()
    sleeper = asyncio.create_task(clock.sleep_until(START + timedelta(hours=1), wake))
    await asyncio.sleep(0.05)
    assert not sleeper.done()
    assert clock.now() == START  # real time passing does not move a fake clock
    wake.set()
    await asyncio.wait_for(sleeper, 1)


async def test_sleep_until_jumps_ahead_with_auto_advance() -> None:
    clock = FakeClock(START, auto_advance=True, idle=0.001)
    await asyncio.wait_for(clock.sleep_until(START + timedelta(days=30), asyncio.Event()), 1)
    assert clock.now() == START + timedelta(days=30)


# -- FakeClock in a host ------------------------------------------------------------------------


async def test_advance_completes_a_one_hour_delay() -> None:
    clock = FakeClock(START)
    async with WorkflowHost("memory://", clock=clock) as host:
        host.register(_delayed("hour", timedelta(hours=1)))
        wid = await host.start_workflow("hour", {})
        with pytest.raises(TimeoutError):
            await host.wait_for_workflow(wid, timeout=0.2)
        clock.advance(timedelta(minutes=59))
        with pytest.raises(TimeoutError):
            await host.wait_for_workflow(wid, timeout=0.2)
        clock.advance(timedelta(minutes=1))
        instance = await host.wait_for_workflow(wid, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"ran": 2}
    assert instance.complete_time == START + timedelta(hours=1)


async def test_auto_advance_completes_a_short_delay() -> None:
    clock = FakeClock(START, auto_advance=True)
    async with WorkflowHost("memory://", clock=clock) as host:
        host.register(_delayed("short", timedelta(seconds=15)))
        wid = await host.start_workflow("short", {})
        instance = await host.wait_for_workflow(wid, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETE
    assert clock.now() >= START + timedelta(seconds=15)


# Regression: Runtime.schedule used to drop timers due beyond 2 * poll_interval, leaving them to
# the poller, which waits in real time; an auto-advancing FakeClock never saw them, so any delay
# or retry longer than 20 s never completed.


async def test_auto_advance_completes_a_one_hour_delay() -> None:
    clock = FakeClock(START, auto_advance=True)
    async with WorkflowHost("memory://", clock=clock) as host:
        host.register(_delayed("hour", timedelta(hours=1)))
        wid = await host.start_workflow("hour", {})
        instance = await host.wait_for_workflow(wid, timeout=3)
    assert instance.status is WorkflowStatus.COMPLETE
    assert clock.now() >= START + timedelta(hours=1)


async def test_auto_advance_skips_a_long_retry_backoff() -> None:
    failures: list[int] = []

    class FailsOnce(StepBody):
        blocking = False

        def run(self, ctx: Any) -> None:
            if not failures:
                failures.append(1)
                raise RuntimeError("once")

    clock = FakeClock(START, auto_advance=True)
    async with WorkflowHost("memory://", clock=clock) as host:
        host.register(
            WorkflowBuilder()
            .start_with(FailsOnce)
            .on_error(ErrorBehavior.retry(interval=timedelta(minutes=10)))
            .build("backoff")
        )
        wid = await host.start_workflow("backoff", {})
        instance = await host.wait_for_workflow(wid, timeout=3)
    assert instance.status is WorkflowStatus.COMPLETE


# -- the pytest plugin's fixtures -----------------------------------------------------------------


def test_wfe_fake_clock_fixture_auto_advances(wfe_fake_clock: FakeClock) -> None:
    assert isinstance(wfe_fake_clock, FakeClock)
    assert wfe_fake_clock.auto_advance is True


async def test_wfe_host_fixture_is_a_running_memory_host(
    wfe_host: WorkflowHost, wfe_fake_clock: FakeClock
) -> None:
    assert isinstance(wfe_host, WorkflowHost)
    assert wfe_host.running
    assert wfe_host.clock is wfe_fake_clock
    assert type(wfe_host.persistence).__name__ == "MemoryPersistence"


async def test_wfe_host_fixture_runs_workflows_with_delays(
    wfe_host: WorkflowHost, wfe_fake_clock: FakeClock
) -> None:
    start = wfe_fake_clock.now()
    wfe_host.register(_delayed("fixture", timedelta(seconds=10)))
    wids = [await wfe_host.start_workflow("fixture", {"n": i}) for i in range(3)]
    for wid in wids:
        instance = await wfe_host.wait_for_workflow(wid, timeout=5)
        assert instance.status is WorkflowStatus.COMPLETE
        assert instance.data["ran"] == 2
    assert wfe_fake_clock.now() >= start + timedelta(seconds=10)


async def test_wfe_host_fixture_skips_a_one_hour_delay(wfe_host: WorkflowHost) -> None:
    wfe_host.register(_delayed("fixture-hour", timedelta(hours=1)))
    wid = await wfe_host.start_workflow("fixture-hour", {})
    assert (await wfe_host.wait_for_workflow(wid, timeout=3)).status is WorkflowStatus.COMPLETE
