"""Fixtures and helpers for the scenario suite: workflow-core's integration scenarios, ported.

Every scenario runs once per store set (the ``wfe_stores`` fixture of wfe's pytest plugin):
each installed persistence scheme with its own lock, queue and search, and each scheme offering
a lock, queue or search beside the persistence schemes whose stores processes share, on fresh
stores made by the test stores their provider packages declare, with the schemes as the test
id (``test_basic[memory]``, ``test_basic[sqlite+valkey]``). So a provider is tested the moment
its entry point appears; a scheme whose service is not configured is skipped, or fails under
``WFE_REQUIRE_SERVICES=1``. ``python -m wfe_core.testing --persistence S [--lock S] ...`` runs
them on one set.

A module chooses its time and polling by overriding two fixtures:

* ``clock`` -- ``SystemClock()`` by default; modules whose steps sleep or retry for a second or
  more return ``FakeClock(auto_advance=True)``, which jumps to the next timer when the host is
  idle, so those waits take no real time.
* ``poll_interval`` -- 3 s by default, the interval of workflow-core's ``WorkflowTest``. The
  engine pushes its wake-ups, so no scenario should have to wait for the poller, except the one
  that is about the poller (``test_delay``).

Scenarios that need what wfe deliberately lacks are not ported: activities (2.1, 2.2),
DI containers (2.11), middleware (2.22) and user tasks (2.29, 2.34). The JSON/YAML definitions
(2.32, 2.33) are ported as fluent definitions of the same shape.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from wfe import WorkflowHost
from wfe_core import EventSubscription, SystemClock
from wfe_core.clock import Clock
from wfe_core.testing import Stores

#: Later than any subscription's as-of date: asks for every subscription of a name and key.
FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)

#: How often the helpers below look again.
POLL = 0.02

@pytest.fixture
def stores(wfe_stores: Stores) -> Stores:
    """Fresh, empty stores of this test's store set (``stores.host(...)`` makes a host on them)."""
    return wfe_stores


@pytest.fixture
def clock() -> Clock:
    """Real time; override in a module to use a ``FakeClock``."""
    return SystemClock()


@pytest.fixture
def poll_interval() -> float:
    """Seconds between safety-net polls (workflow-core's ``WorkflowTest`` uses 3 s)."""
    return 3.0


@pytest.fixture
async def host(stores: Stores, clock: Clock, poll_interval: float) -> AsyncIterator[WorkflowHost]:
    """A started host on the test's stores; stopped after the test (a second stop is a no-op)."""
    host: WorkflowHost = stores.host(clock=clock, poll_interval=poll_interval)
    await host.start()
    try:
        yield host
    finally:
        await host.stop()


async def _wait_until(
    condition: Callable[[], Any | Awaitable[Any]], *, timeout: float = 30.0, what: str = "condition"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if loop.time() >= deadline:
            raise TimeoutError(f"{what} still false after {timeout} s")
        await asyncio.sleep(POLL)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """``await wait_until(condition, timeout=30, what=...)``: poll a sync or async condition
    every 20 ms until it is truthy; ``TimeoutError`` if it is still false at the timeout."""
    return _wait_until


@pytest.fixture
def subscriptions(host: WorkflowHost) -> Callable[[str, str], Awaitable[list[EventSubscription]]]:
    """``await subscriptions(name, key)``: every open subscription for this event name and key
    (workflow-core's ``GetActiveSubscriptons``)."""

    async def find(event_name: str, event_key: str) -> list[EventSubscription]:
        return await host.persistence.get_subscriptions(event_name, event_key, FAR_FUTURE)

    return find


@pytest.fixture
def wait_for_subscription(
    subscriptions: Callable[[str, str], Awaitable[list[EventSubscription]]],
) -> Callable[..., Awaitable[None]]:
    """``await wait_for_subscription(name, key, timeout=30)``: until some workflow waits for
    that event (workflow-core's ``WaitForEventSubscription``), polling every 20 ms."""

    async def wait(event_name: str, event_key: str, timeout: float = 30.0) -> None:
        async def subscribed() -> bool:
            return bool(await subscriptions(event_name, event_key))

        await _wait_until(subscribed, timeout=timeout, what=f"a subscription to {event_name}/{event_key}")

    return wait


@pytest.fixture
def error_count(host: WorkflowHost) -> Callable[[str], Awaitable[int]]:
    """``await error_count(workflow_id)``: how many execution errors the workflow recorded
    (workflow-core's ``UnhandledStepErrors.Count``: one per exception a step body raised)."""

    async def count(workflow_id: str) -> int:
        return len(await host.get_execution_errors(workflow_id))

    return count
