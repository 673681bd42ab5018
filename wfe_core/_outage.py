"""``Outage``: how the runtime waits out a provider that is unavailable for now.

A store that answers ``ProviderUnavailableError`` (SQLite busy past its timeout, a lost
connection, a server restarting) is waited out, never given up on: each part of the runtime
that meets it backs off (capped and jittered, so that many tasks do not retry in step) and
tries again. One ``Outage`` is shared by the parts of a host, so an outage is logged once: a
warning when the first failure comes, an info line when work goes through again, and nothing
for each attempt in between, however many tasks are waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .errors import ProviderUnavailableError

__all__ = ["Outage"]

log = logging.getLogger("wfe.runtime")

T = TypeVar("T")

#: The first pause after a failure, and the longest one, in seconds.
FIRST_DELAY = 0.05
MAX_DELAY = 5.0
#: An outage is over once work went through after the last failure and no failure came for
#: this long, or for twice the longest gap between its failures if that is longer: a store that
#: fails and succeeds by turns (a file busy every few seconds) makes one outage, not a pair of
#: lines per retry. At least the longest pause between retries: reads may go through while
#: writes still fail (SQLite busy), so a success says little until a retry has had its turn.
SETTLE = MAX_DELAY
MAX_SETTLE = 60.0


class Outage:
    """The shared state of one host's provider outages."""

    def __init__(self, service: str = "the store") -> None:
        #: What is out, as log lines name it ("the store", "the search index").
        self.service = service
        self.started: float | None = None  # time.monotonic() of the first failure
        self.last_failure = 0.0
        self.last_success = 0.0
        self.longest_gap = 0.0
        self.failures = 0
        self._check: asyncio.TimerHandle | None = None

    @property
    def active(self) -> bool:
        return self.started is not None

    def failed(self, exc: ProviderUnavailableError, what: str) -> None:
        """Note a transient failure of ``what``; the first one of an outage is logged."""
        now = time.monotonic()
        if self.started is None:
            self.started = now
            log.warning(
                "%s is unavailable (%s failed: %s); waiting for it, retrying with backoff",
                self.service, what, exc,
            )
        else:
            self.longest_gap = max(self.longest_gap, now - self.last_failure)
        self.last_failure = now
        self.failures += 1

    def ok(self) -> None:
        """Work went through: the outage ends once it has settled (see ``SETTLE``)."""
        if self.started is None:
            return
        self.last_success = time.monotonic()
        if self._check is None:
            self._schedule_check()

    def _settle_time(self) -> float:
        return min(MAX_SETTLE, max(SETTLE, 2 * self.longest_gap))

    def _schedule_check(self) -> None:
        delay = self.last_failure + self._settle_time() - time.monotonic()
        self._check = asyncio.get_running_loop().call_later(max(delay, 0.0), self._settled)

    def _settled(self) -> None:
        self._check = None
        if self.started is None or self.last_success < self.last_failure:
            return  # failed again since: the next success looks again
        now = time.monotonic()
        if now - self.last_failure < self._settle_time():
            self._schedule_check()
            return
        log.info(
            "%s is available again after %.1f s (%d failed attempt(s) retried)",
            self.service, now - self.started, self.failures,
        )
        self.started = None
        self.failures = 0
        self.longest_gap = 0.0

    @staticmethod
    def delay(attempt: int) -> float:
        """The pause before retry number ``attempt`` (1, 2, ...): doubling, capped, jittered."""
        base = min(MAX_DELAY, FIRST_DELAY * 2.0 ** min(attempt - 1, 16))
        return float(base * random.uniform(0.5, 1.0))

    async def retry(
        self,
        call: Callable[[], Awaitable[T]],
        what: str,
        stopping: Callable[[], bool] = lambda: False,
    ) -> T:
        """``await call()`` until it does not raise ``ProviderUnavailableError``.

        Other errors pass through. When ``stopping()`` turns true, the last transient error is
        raised instead of waiting again.
        """
        attempt = 0
        while True:
            try:
                result = await call()
            except ProviderUnavailableError as exc:
                self.failed(exc, what)
                attempt += 1
                if stopping():
                    raise
                await asyncio.sleep(self.delay(attempt))
                continue
            self.ok()
            return result
