"""``StepThreads``: the worker threads that run sync step bodies for one host.

A ``ThreadPoolExecutor`` wakes the event loop once per finished job; when hundreds of
workflows run short sync steps, those wake-ups (a syscall and a GIL hand-off each) cost more
than the steps. Here finished jobs gather in an outbox and the loop is woken once per batch.
The executor calls ``run``; the runtime owns the instance and stops it. ``call_in_thread``
and ``RaisedInThread`` carry what a body raises back to the loop, for this pool and for
``asyncio.to_thread`` alike.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RaisedInThread", "StepThreads", "call_in_thread"]

_STOP = object()

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


class StepThreads:
    """Up to ``size`` daemon threads, started as work needs them."""

    def __init__(self, size: int, name: str = "wfe-step") -> None:
        self.size = max(1, size)
        self.name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
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
            if self._idle == 0 and len(self._threads) < self.size:
                thread = threading.Thread(
                    target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            elif self._idle:
                self._idle -= 1  # an idle thread will take this job
        self._jobs.put((future, fn, arg))
        return future

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            future, fn, arg = job
            if future.cancelled():  # its workflow was cancelled while it waited
                ok, value = True, None
            else:
                try:
                    ok, value = True, fn(arg)
                except BaseException as exc:  # handed to the awaiting step, as with an executor
                    ok, value = False, exc
                    if isinstance(exc, _GENERATOR_SIGNALS):
                        value = RaisedInThread(exc)
            with self._lock:
                self._outbox.append((future, ok, value))
                self._idle += 1
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
            if self._stopped:
                return
            self._stopped = True
            count = len(self._threads)
        for _ in range(count):
            self._jobs.put(_STOP)
