"""``Heartbeat``: the running host's record in its heartbeat store, renewed, and removed at stop.

Made by ``Runtime`` when the host has a :class:`~wfe_core.providers.HeartbeatStore`. Every
``interval`` seconds it writes the host's :class:`~wfe_core.models.HostRecord` (who, since when,
how many workflows in flight, which definitions it runs) and reads the others' back, so the
runner knows whether a workflow it cannot run has a live host that can. At stop it marks the
record draining, and removes it once the host's work is done, so `wfe hosts` shows a cleanly
stopped host gone at once and a dead one stale.

Heartbeats use the wall clock (UTC), never the host's clock: readers in other processes
compare them with their own wall clock, and a test's FakeClock must not age them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime

from ._models import HostRecord
from .errors import ProviderError
from .providers import HeartbeatStore

__all__ = ["Heartbeat"]

log = logging.getLogger("wfe.runtime")

#: Records of hosts silent for this long (seconds) are removed by the next host that starts:
#: long enough that an operator sees a dead host as stale, short enough that none piles up.
FORGET_AFTER = 24 * 3600.0


def _version() -> str:
    from . import __version__

    return str(__version__)


class Heartbeat:
    """One host's heartbeat: written at start, every ``interval`` seconds, and removed at stop.

    Args:
        store: where heartbeats are kept.
        host_id: the host's id (its lease owner string).
        interval: seconds between heartbeats.
        definitions: what the host has registered, read at each beat.
        in_flight: how many workflows run or wait here, read at each beat.
    """

    def __init__(
        self,
        store: HeartbeatStore,
        host_id: str,
        interval: float,
        definitions: Callable[[], dict[str, list[int]]],
        in_flight: Callable[[], int],
    ) -> None:
        self.store = store
        self.interval = interval
        self._definitions = definitions
        self._in_flight = in_flight
        now = datetime.now(UTC)
        self.record = HostRecord(
            id=host_id, hostname=socket.gethostname(), pid=os.getpid(), wfe_version=_version(),
            started=now, last_seen=now, interval=interval,
        )
        #: The other hosts as of the last beat (live and stale alike).
        self.others: list[HostRecord] = []
        self._failing = False

    async def beat(self) -> None:
        """Write this host's record now, and read the others'.

        Raises:
            ProviderError: the store refused or is unreachable.
        """
        record = self.record
        record.last_seen = datetime.now(UTC)
        record.in_flight = self._in_flight()
        record.definitions = self._definitions()
        await self.store.record_heartbeat(record)
        self.others = [h for h in await self.store.list_hosts() if h.id != record.id]

    def runs_elsewhere(self, definition_id: str, version: int) -> bool:
        """Whether a live host other than this one announced ``definition_id`` at ``version``."""
        now = datetime.now(UTC)
        return any(h.takes(definition_id, version, now) for h in self.others)

    async def start(self) -> None:
        """The first beat, and the removal of hosts silent for :data:`FORGET_AFTER` seconds.

        A store that is down now does not stop the host: the loop beats once it is back.
        """
        try:
            await self.beat()
            now = datetime.now(UTC)
            for host in self.others:
                if (now - host.last_seen).total_seconds() > FORGET_AFTER:
                    await self.store.remove_host(host.id)
        except ProviderError as exc:
            self._failed(exc)

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Beat at once, then every ``interval`` seconds until ``stopping()``.

        In a task of its own, so that a store slow to answer never holds the host's start.
        """
        await self.start()
        while not stopping():
            await asyncio.sleep(self.interval)
            if stopping():
                return
            try:
                await self.beat()
            except ProviderError as exc:
                self._failed(exc)
            except Exception:
                log.exception("recording this host's heartbeat failed; trying again")
            else:
                if self._failing:
                    log.info("this host's heartbeat is recorded again")
                self._failing = False

    def _failed(self, exc: ProviderError) -> None:
        if not self._failing:  # once per outage: the store's own outage is logged elsewhere
            log.warning("could not record this host's heartbeat (%s); `wfe hosts` shows it "
                        "stale until the store answers again", exc)
        self._failing = True

    async def draining(self) -> None:
        """Say that this host takes no more work (it is stopping)."""
        self.record.draining = True
        try:
            await self.beat()
        except Exception as exc:  # the removal at the end says the same
            log.debug("could not record that this host drains: %s", exc)

    async def leave(self) -> None:
        """Remove this host's record (it stopped cleanly)."""
        try:
            await self.store.remove_host(self.record.id)
        except Exception as exc:
            log.warning("could not remove this host's heartbeat (%s); it shows as stale, and "
                        "is forgotten after a day", exc)
