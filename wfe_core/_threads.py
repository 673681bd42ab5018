"""``StepThreads``: the worker threads that run sync step bodies for one host.

Handing each body to a thread of its own, as ``ThreadPoolExecutor`` does, wakes a thread per
body and the event loop per result: when hundreds of workflows run short sync steps, those
wake-ups (a syscall and a GIL hand-off each) cost more than the steps, and the threads only
take turns at the GIL anyway. Here bodies wait in one line, which a thread that is already
taking from it drains in order, and finished bodies gather in an outbox, the loop woken once
per batch. A body that blocks (I/O, a sleep) must not hold up the ones behind it: while
bodies wait and every thread taking from the line has been in its current body for longer
than ``STALL``, more threads are woken, doubling each time, up to ``size``. Blocking bodies
then run side by side as with a pool, a millisecond or two later.

The executor calls ``run``; the runtime owns the instance and stops it. ``call_in_thread``
and ``RaisedInThread`` carry what a body raises back to the loop, for this pool and for
``asyncio.to_thread`` alike.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["RaisedInThread", "StepThreads", "call_in_thread"]

#: Seconds a body may hold its thread before bodies waiting behind it get another thread.
STALL = 0.001

#: What a body may raise that asyncio cannot hand to the coroutine awaiting it: a future
#: refuses ``StopIteration``, and a ``GeneratorExit`` thrown into a task's coroutine closes
#: every coroutine between the task and the await, so the step never sees it.
_GENERATOR_SIGNALS = (StopIteration, GeneratorExit)


class RaisedInThread(Exception):
    """Carries a ``StopIteration`` or ``GeneratorExit`` a body raised in a worker thread to
    the step that awaits it; the step unwraps ``error``."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def call_in_thread(fn: Callable[[Any], Any], arg: Any) -> Any:
    """``fn(arg)``, with a generator signal it raises carried in a ``RaisedInThread``."""
    try:
        return fn(arg)
    except _GENERATOR_SIGNALS as exc:
        raise RaisedInThread(exc) from None


class _Worker:
    """One thread of the pool, and when its current body began (0.0 between bodies)."""

    __slots__ = ("began", "thread")

    thread: threading.Thread

    def __init__(self) -> None:
        self.began = 0.0


class StepThreads:
    """Up to ``size`` daemon threads, started as work needs them."""

    def __init__(self, size: int, name: str = "wfe-step") -> None:
        self.size = max(1, size)
        self.name = name
        self._jobs: collections.deque[tuple[asyncio.Future[Any], Callable[[Any], Any], Any]] = (
            collections.deque()
        )
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._workers: list[_Worker] = []
        #: Threads taking from the line (woken or started, not waiting yet); the rest wait.
        self._draining = 0
        self._idle = 0
        self._check_pending = False
        self._outbox: list[tuple[asyncio.Future[Any], bool, Any]] = []
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    def run(self, fn: Callable[[Any], Any], arg: Any) -> asyncio.Future[Any]:
        """Run ``fn(arg)`` in a worker thread; await the returned future for its result."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        future = loop.create_future()
        with self._lock:
            if self._stopped:
                raise RuntimeError("the host is stopping; no more steps run")
            self._jobs.append((future, fn, arg))
            if self._draining == 0:
                self._add_threads(1)
            elif not self._check_pending:
                self._check_pending = True
                loop.call_later(STALL, self._check)
        return future

    def _add_threads(self, count: int) -> None:
        """Wake (or start) up to ``count`` threads to take from the line; under the lock."""
        woken = min(count, self._idle)
        if woken:
            self._idle -= woken
            self._draining += woken
            self._wake.notify(woken)
        for _ in range(min(count - woken, self.size - len(self._workers))):
            worker = _Worker()
            worker.thread = threading.Thread(
                target=self._work, args=(worker,), name=f"{self.name}-{len(self._workers)}",
                daemon=True,
            )
            self._workers.append(worker)
            self._draining += 1
            worker.thread.start()

    @property
    def threads(self) -> list[threading.Thread]:
        """The threads started so far."""
        return [w.thread for w in self._workers]

    def _check(self) -> None:
        """On the loop, every ``STALL`` while bodies wait: more threads when every thread
        taking from the line is held up in a body."""
        with self._lock:
            self._check_pending = False
            if not self._jobs or self._stopped:
                return
            since = time.monotonic() - STALL
            held = sum(1 for w in self._workers if 0.0 < w.began <= since)
            if held >= self._draining:  # none of them is free to take the next body
                self._add_threads(max(1, held))
            self._check_pending = True
        if self._loop is not None:
            self._loop.call_later(STALL, self._check)

    def _work(self, me: _Worker) -> None:
        jobs = self._jobs
        while True:
            try:
                future, fn, arg = jobs.popleft()
            except IndexError:
                with self._lock:
                    if jobs:
                        continue
                    self._draining -= 1
                    if self._stopped:
                        return
                    self._idle += 1
                    self._wake.wait()  # woken by _add_threads (counted there) or by stop
                continue
            if future.cancelled():  # its workflow was cancelled while it waited
                ok, value = True, None
            else:
                me.began = time.monotonic()
                try:
                    ok, value = True, fn(arg)
                except BaseException as exc:  # handed to the awaiting step, as with an executor
                    ok, value = False, exc
                    if isinstance(exc, _GENERATOR_SIGNALS):
                        value = RaisedInThread(exc)
                me.began = 0.0
            with self._lock:
                self._outbox.append((future, ok, value))
                wake = not self._wake_pending
                self._wake_pending = True
            if wake and self._loop is not None:
                try:
                    self._loop.call_soon_threadsafe(self._deliver)
                except RuntimeError:  # the loop is closed; nobody is waiting any more
                    return

    def _deliver(self) -> None:
        with self._lock:
            batch, self._outbox = self._outbox, []
            self._wake_pending = False
        for future, ok, value in batch:
            if future.done():
                continue
            # One job that cannot be handed over must not strand the rest of the batch.
            try:
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
            except Exception as exc:  # noqa: BLE001 - handed to the awaiting step instead
                future.set_exception(RuntimeError(f"a step's outcome could not be handed over: {exc!r}"))

    def stop(self) -> None:
        """Let running steps finish; start no more. Idempotent."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()  # waiting threads end; draining ones end once the line is empty
