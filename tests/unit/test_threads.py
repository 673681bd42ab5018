"""``StepThreads``: sync bodies drained in order by a thread already at work, blocking ones
still side by side."""

from __future__ import annotations

import asyncio
import threading

import pytest

from wfe_core import _threads
from wfe_core._threads import RaisedInThread, StepThreads


async def test_results_and_errors_reach_their_callers() -> None:
    pool = StepThreads(4)

    def body(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        if n == 4:
            raise StopIteration  # a future refuses it: carried in a RaisedInThread
        return n * 10

    outcomes = await asyncio.gather(*(pool.run(body, n) for n in range(6)), return_exceptions=True)
    pool.stop()
    assert outcomes[:3] == [0, 10, 20] and outcomes[5] == 50
    assert isinstance(outcomes[3], ValueError) and str(outcomes[3]) == "three"
    assert isinstance(outcomes[4], RaisedInThread)
    assert isinstance(outcomes[4].error, StopIteration)


async def test_quick_bodies_are_drained_in_order_by_the_thread_at_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No body is ever held up long enough to call for another thread: one thread takes them
    # all, in the order they were handed in.
    monkeypatch.setattr(_threads, "STALL", 60.0)
    pool = StepThreads(8)
    ran: list[tuple[int, int]] = []

    def body(n: int) -> int:
        ran.append((n, threading.get_ident()))
        return n

    assert await asyncio.gather(*(pool.run(body, n) for n in range(300))) == list(range(300))
    pool.stop()
    assert [n for n, _ in ran] == list(range(300))
    assert len({ident for _, ident in ran}) == 1


async def test_bodies_that_block_get_threads_of_their_own() -> None:
    # Each body waits for all the others: they finish only if all four run at once. Handed
    # to one thread in order they would break the barrier instead.
    pool = StepThreads(8)
    barrier = threading.Barrier(4, timeout=30)

    def body(n: int) -> int:
        barrier.wait()
        return n

    assert await asyncio.gather(*(pool.run(body, n) for n in range(4))) == [0, 1, 2, 3]
    pool.stop()


async def test_a_body_waiting_behind_a_blocked_one_runs_before_it_ends() -> None:
    pool = StepThreads(2)
    release = threading.Event()
    blocked = pool.run(lambda _: release.wait(30), None)
    assert await asyncio.wait_for(pool.run(lambda n: n + 1, 41), timeout=30) == 42
    assert not blocked.done()  # the quick one did not wait for it
    release.set()
    assert await blocked is True
    pool.stop()


async def test_a_cancelled_body_that_has_not_begun_never_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_threads, "STALL", 60.0)  # the second body stays behind the first
    pool = StepThreads(4)
    release = threading.Event()
    ran: list[str] = []
    first = pool.run(lambda _: release.wait(30), None)
    second = pool.run(ran.append, "second")
    second.cancel()
    release.set()
    await first
    assert await pool.run(ran.append, "third") is None
    pool.stop()
    assert ran == ["third"]


async def test_stop_lets_handed_in_bodies_finish_and_refuses_new_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_threads, "STALL", 60.0)
    pool = StepThreads(2)
    release = threading.Event()
    first = pool.run(lambda _: release.wait(30), None)
    queued = pool.run(lambda n: n * 2, 21)  # waits in line behind the first
    pool.stop()
    with pytest.raises(RuntimeError, match="stopping"):
        pool.run(lambda n: n, 1)
    release.set()
    assert await first is True
    assert await queued == 42
    assert pool.threads
    for thread in pool.threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
