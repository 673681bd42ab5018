"""Where the engine gets the time: ``Clock``, and ``SystemClock`` used by default.

The host asks its clock for ``now()`` and waits for due timers through ``sleep_until``, so a
test clock (``wfe_core.testing.FakeClock``) can move time forward and wake the host at once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """The engine's source of time."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        """Return at ``when``, or earlier when ``wake`` is set."""


class SystemClock:
    """Real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep_until(self, when: datetime, wake: asyncio.Event) -> None:
        delay = (when - datetime.now(UTC)).total_seconds()
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(wake.wait(), delay)
        except TimeoutError:
            pass
