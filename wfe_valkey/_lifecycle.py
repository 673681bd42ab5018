"""``ValkeyLifecycleChannel``: lifecycle events to and from every host, over Valkey pub/sub.

The host's ``LifecycleHub`` hands it each event as text and is given every message that any
host published on the channel ``prefix:lifecycle``. Lifecycle events are notifications, not
state: publishing never waits for the server (a background task sends what piled up in one
pipeline), and while the server is unreachable messages wait in a bounded buffer (the oldest
are dropped past ``BUFFER`` with one warning) and subscribers miss what was published
meanwhile, as pub/sub does. The subscription is made again when the server returns.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from wfe_core.errors import ProviderUnavailableError
from wfe_core.tasks import stop_tasks

from ._client import STOP_ATTEMPTS

if TYPE_CHECKING:
    from ._client import ValkeyClient

__all__ = ["ValkeyLifecycleChannel"]

log = logging.getLogger("wfe.valkey")

#: Messages kept while the server is unreachable.
BUFFER = 10_000
#: Seconds ``close()`` waits to send what is still buffered.
FLUSH_TIMEOUT = 2.0


async def _close(pubsub: Any) -> None:
    # Through Any: redis-py typed PubSub.aclose only in 8.x, and a type-ignore for the older
    # releases would be an error (an unused ignore) under the newer ones.
    close: Callable[[], Awaitable[None]] = pubsub.aclose
    await close()


class ValkeyLifecycleChannel:
    """Carries lifecycle events between the hosts of one ``valkey://`` store."""

    def __init__(self, client: ValkeyClient) -> None:
        self.client = client
        self.channel = client.key("lifecycle")
        self._receive: Callable[[str], Awaitable[None]] | None = None
        self._outbox: collections.deque[str] = collections.deque()
        self._pending = asyncio.Event()
        self._dropped = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None

    def listen(self, receive: Callable[[str], Awaitable[None]]) -> None:
        """Call ``await receive(message)`` for each message published on the channel, by any
        host (this one included), from ``start()`` on."""
        self._receive = receive

    async def start(self) -> None:
        if self._tasks:
            return
        if self._receive is not None:
            await self._subscribe()  # subscribed before start() returns: nothing after is missed
            self._tasks.append(asyncio.create_task(self._listen_loop(), name="wfe.valkey.listen"))
        self._tasks.append(asyncio.create_task(self._send_loop(), name="wfe.valkey.publish"))

    async def close(self) -> None:
        if not self._tasks:
            return
        if self._outbox:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._send(), FLUSH_TIMEOUT)
        tasks, self._tasks = self._tasks, []
        await stop_tasks(tasks, "background task", log=log, attempts=STOP_ATTEMPTS)
        await self._unsubscribe()

    async def publish(self, message: str) -> None:
        """Send ``message`` to every host; returns at once (sent in the background)."""
        if len(self._outbox) >= BUFFER:
            self._outbox.popleft()
            self._dropped += 1
            if self._dropped == 1:
                log.warning("Valkey is unreachable and %d lifecycle events are waiting; the "
                            "oldest are dropped", BUFFER)
        self._outbox.append(message)
        self._pending.set()

    # -- sending ---------------------------------------------------------------------------

    async def _send(self) -> None:
        while self._outbox:
            batch = list(self._outbox)
            pipe = self.client.redis.pipeline(transaction=False)
            for message in batch:
                pipe.publish(self.channel, message)
            await self.client.run("publishing lifecycle events", pipe.execute)
            for _ in batch:
                self._outbox.popleft()
            self._dropped = 0

    async def _send_loop(self) -> None:
        attempt = 0
        while self._tasks:  # close() empties it: ends even if a cancel were lost
            await self._pending.wait()
            self._pending.clear()
            try:
                await self._send()
                attempt = 0
            except Exception as exc:
                if not isinstance(exc, ProviderUnavailableError):
                    log.exception("publishing lifecycle events failed; trying again")
                attempt += 1
                await asyncio.sleep(min(5.0, 0.05 * 2**attempt))
                self._pending.set()

    # -- receiving -------------------------------------------------------------------------

    async def _subscribe(self) -> None:
        pubsub = self.client.redis.pubsub(ignore_subscribe_messages=False)
        try:
            await self.client.run("subscribing to lifecycle events", pubsub.subscribe, self.channel)
            while True:  # wait for the server's confirmation
                message = await self.client.run(
                    "subscribing to lifecycle events", pubsub.get_message, timeout=5.0
                )
                if message is None:
                    raise ProviderUnavailableError(
                        f"Valkey at {self.client.options.display} did not confirm a subscription"
                    )
                if message.get("type") == "subscribe":
                    break
        except BaseException:
            await _close(pubsub)
            raise
        self._pubsub = pubsub

    async def _unsubscribe(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await _close(pubsub)

    async def _listen_loop(self) -> None:
        assert self._receive is not None
        attempt = 0
        while self._tasks:
            try:
                if self._pubsub is None:
                    await self._subscribe()
                    log.info("lifecycle events from other hosts are received again")
                    attempt = 0
                message = await self.client.run(
                    "receiving lifecycle events", self._pubsub.get_message,
                    ignore_subscribe_messages=True, timeout=1.0,
                )
            except ProviderUnavailableError as exc:
                if attempt == 0:
                    log.warning("lifecycle events from other hosts are not received until "
                                "Valkey is back: %s", exc)
                attempt += 1
                await self._unsubscribe()
                await asyncio.sleep(min(5.0, 0.05 * 2**attempt))
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                await self._receive(message["data"])
            except Exception:
                log.exception("delivering a lifecycle event from another host failed")
