"""``FakeClock``: time that moves only when a test says so (or when the host is idle)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]


class FakeClock:
    """A clock for tests; pass it as ``WorkflowHost(clock=...)``.

    ``advance(timedelta(hours=1))`` moves time and wakes the host at once, so a one-hour
    ``delay`` or a retry backoff takes no real time. With ``auto_advance=True`` the clock
    jumps to the next timer by itself whenever the host has had nothing to do for
    ``idle`` seconds of real time.
    """

    def __init__(
        self,
        start: datetime | None = None,
        *,
        auto_advance: bool = False,
        idle: float = 0.02,
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start or datetime.now(UTC)
        self.auto_advance = auto_advance
        self.idle = idle
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> datetime:
        """Move time forward by ``delta`` (a timedelta or seconds) and wake the host."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        self._now += step
        for listener in list(self._listeners):
            listener()
        return self._now

    def set(self, when: datetime) -> datetime:
        """Move time forward to ``when``."""
        return self.advance(when - self._now)

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        if when <= self._now:
            return
        if not self.auto_advance:
            await wake.wait()
            return
        try:
            await asyncio.wait_for(wake.wait(), self.idle)
        except TimeoutError:
            if when > self._now:
                self.set(when)
