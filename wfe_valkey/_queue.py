"""``ValkeyQueue``: reliable, de-duplicated work queues of ids on Valkey.

**Design: a waiting sorted set, a taken hash with reclaim, and a wake-up list** -- not
Streams. Per queue kind:

* ``waiting`` is a sorted set scored by rank (``wfe_core.providers.queue_rank``, in
  microseconds: the server's clock at the enqueue, kept strictly growing in ``seq``, plus the
  priority level's aging), so it is ordered by priority with aging, FIFO within a level, and
  de-duplicated in one structure: an id already waiting is not added again and keeps its
  place, unless it comes again with a better rank.
  A Stream cannot refuse a duplicate, and a separate "queued" set beside it would have to be
  cleared after ``XREADGROUP`` in a second call: a host dying between the two would leave the
  id refused forever.
* Taking is one Lua script: pop the oldest id and note it in ``taken`` (id -> consumer) in the
  same step, so an id is never out of both. A consumer (one per provider, so one per host)
  keeps a heartbeat key alive; every consumer periodically moves the ids taken by consumers
  whose heartbeat has expired back to the front of ``waiting``. So an id taken by a host that
  dies comes back within a few seconds (``HEARTBEAT * 3``), as ``XAUTOCLAIM`` would do with a
  pending-entries list, but de-duplicated against ids waiting again.
* The Protocol has no acknowledgement: a taken id is acknowledged when the task that took it
  asks for the next one (the runtime's readers loop: by then the id was handed on and its
  workflow's lease, which the persistence store's revision backs, protects it), in the script
  of that next take, so acknowledging costs no round trip. At ``close()`` the ids this host's
  readers still hold are acknowledged and any other id it took goes back to ``waiting``.
* Blocking reads: ``enqueue`` pushes a token on a ``signal`` list; an idle ``dequeue`` waits
  in ``BLPOP`` on it and wakes the moment an id arrives, then takes with the script (so a
  token is only a wake-up, never the item: a lost token costs nothing, a spare one one
  empty take). The signal list is trimmed and emptied when ``waiting`` is.

Needs a standalone server (or a primary): the scripts touch keys they compute, which Redis
Cluster would refuse.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from typing import TYPE_CHECKING, Any

from wfe_core.errors import ProviderUnavailableError
from wfe_core.providers import DEFAULT_PRIORITY, PRIORITY_AGING, QueueKind
from wfe_core.tasks import stop_tasks

from ._client import STOP_ATTEMPTS

if TYPE_CHECKING:
    from ._client import ValkeyClient

__all__ = ["ValkeyQueue"]

log = logging.getLogger("wfe.valkey")

#: Seconds between heartbeats (and reclaims); a consumer silent for three is taken for dead.
HEARTBEAT = 1.0
#: The longest single BLPOP, so that a reply always comes well within the socket timeout.
MAX_BLOCK = 5.0

# KEYS: waiting, seq, signal; ARGV: id, priority, aging (microseconds a level). Numbers go
# to Redis as '%.0f' text: Lua's own tostring keeps 14 digits, a time in microseconds has 16.
_ENQUEUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if now <= last then now = last + 1 end
local rank = now + tonumber(ARGV[2]) * tonumber(ARGV[3])
local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
if held and tonumber(held) <= rank then return 0 end
redis.call('SET', KEYS[2], string.format('%.0f', now))
redis.call('ZADD', KEYS[1], string.format('%.0f', rank), ARGV[1])
redis.call('LPUSH', KEYS[3], '1')
redis.call('LTRIM', KEYS[3], 0, 63)
return 1
"""

# KEYS: waiting, signal, taken; ARGV: consumer, id to acknowledge ('' for none).
_TAKE = """
if ARGV[2] ~= '' and redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[3], ARGV[2])
end
local got = redis.call('ZPOPMIN', KEYS[1])
if #got == 0 then
  redis.call('DEL', KEYS[2])
  return false
end
redis.call('HSET', KEYS[3], got[1], ARGV[1])
return got[1]
"""

# KEYS: taken; ARGV: consumer, ids to acknowledge.
_ACK = """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 0
"""

# KEYS: waiting, seq, signal, taken; ARGV: heartbeat key prefix, consumer ('' = every dead one).
_RECLAIM = """
local taken = redis.call('HGETALL', KEYS[4])
local moved = 0
for i = 1, #taken, 2 do
  local id, owner = taken[i], taken[i + 1]
  local back
  if ARGV[2] ~= '' then back = owner == ARGV[2]
  else back = redis.call('EXISTS', ARGV[1] .. owner) == 0 end
  if back then
    redis.call('HDEL', KEYS[4], id)
    if not redis.call('ZSCORE', KEYS[1], id) then
      local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
      local score
      if #first == 0 then score = redis.call('INCR', KEYS[2]) else score = tonumber(first[2]) - 1 end
      redis.call('ZADD', KEYS[1], score, id)
      redis.call('LPUSH', KEYS[3], '1')
      moved = moved + 1
    end
  end
end
return moved
"""


class ValkeyQueue:
    """The ``QueueProvider`` of a ``valkey://`` store.

    Attributes:
        aging: seconds of waiting worth one priority level (``PRIORITY_AGING``).
    """

    aging: float = PRIORITY_AGING

    def __init__(self, client: ValkeyClient) -> None:
        self.client = client
        self.consumer = uuid.uuid4().hex
        self._scripts: dict[str, Any] = {}
        #: task -> kind -> the id it took last, acknowledged at its next take.
        self._held: weakref.WeakKeyDictionary[asyncio.Task[Any], dict[QueueKind, str]] = (
            weakref.WeakKeyDictionary()
        )
        self._heartbeat: asyncio.Task[None] | None = None

    # -- keys ------------------------------------------------------------------------------

    def _keys(self, kind: QueueKind) -> dict[str, str]:
        base = ("queue", kind.value)
        return {
            name: self.client.key(*base, name) for name in ("waiting", "seq", "signal", "taken")
        }

    @property
    def _alive_prefix(self) -> str:
        return self.client.key("queue", "consumer", "")

    # -- start and close -------------------------------------------------------------------

    async def start(self) -> None:
        if self._heartbeat is not None:
            return
        redis = self.client.redis
        for name, text in (("enqueue", _ENQUEUE), ("take", _TAKE), ("ack", _ACK), ("reclaim", _RECLAIM)):
            self._scripts[name] = redis.register_script(text)
        await self._beat()
        self._heartbeat = asyncio.create_task(self._heartbeat_loop(), name="wfe.valkey.heartbeat")

    async def close(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is None:
            return
        await stop_tasks([task], "background task", log=log, attempts=STOP_ATTEMPTS)
        held: dict[QueueKind, list[str]] = {}
        for by_kind in list(self._held.values()):
            for kind, item in by_kind.items():
                held.setdefault(kind, []).append(item)
        self._held.clear()
        try:
            for kind in QueueKind:
                keys = self._keys(kind)
                if held.get(kind):
                    await self.client.run(
                        "acknowledging taken ids", self._scripts["ack"],
                        keys=[keys["taken"]], args=[self.consumer, *held[kind]],
                    )
                await self._reclaim(kind, self.consumer)
            await self.client.run("stopping the heartbeat", self.client.redis.delete,
                                  self._alive_prefix + self.consumer)
        except ProviderUnavailableError as exc:
            # What this host took comes back once its heartbeat has expired.
            log.warning("closing the Valkey queue: %s; other hosts reclaim its ids", exc)

    async def _beat(self) -> None:
        await self.client.run(
            "sending the queue heartbeat", self.client.redis.set,
            self._alive_prefix + self.consumer, "1", px=int(HEARTBEAT * 3000),
        )

    async def _reclaim(self, kind: QueueKind, consumer: str = "") -> int:
        keys = self._keys(kind)
        moved = await self.client.run(
            "reclaiming ids of stopped hosts", self._scripts["reclaim"],
            keys=[keys["waiting"], keys["seq"], keys["signal"], keys["taken"]],
            args=[self._alive_prefix, consumer],
        )
        return int(moved)

    async def _heartbeat_loop(self) -> None:
        me = asyncio.current_task()
        while self._heartbeat is me:  # close() clears it: ends even if a cancel were lost
            await asyncio.sleep(HEARTBEAT)
            try:
                await self._beat()
                for kind in QueueKind:
                    if moved := await self._reclaim(kind):
                        log.info("%d %s id(s) taken by a host that stopped were queued again",
                                 moved, kind.value)
            except ProviderUnavailableError:
                pass  # the runtime's own calls notice and log the outage
            except Exception:
                log.exception("the Valkey queue heartbeat failed; trying again")

    # -- the Protocol ----------------------------------------------------------------------

    async def enqueue(
        self, kind: QueueKind, item_id: str, priority: int = DEFAULT_PRIORITY
    ) -> None:
        keys = self._keys(kind)
        await self.client.run(
            f"queueing {item_id!r}", self._scripts["enqueue"],
            keys=[keys["waiting"], keys["seq"], keys["signal"]],
            args=[item_id, priority, round(self.aging * 1_000_000)],
        )

    async def dequeue(self, kind: QueueKind, timeout: float) -> str | None:
        keys = self._keys(kind)
        task = asyncio.current_task()
        held = self._held.setdefault(task, {}) if task is not None else {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        while True:
            previous = held.pop(kind, "")
            try:
                item = await self.client.run(
                    "taking from the queue", self._scripts["take"],
                    keys=[keys["waiting"], keys["signal"], keys["taken"]],
                    args=[self.consumer, previous],
                )
            except BaseException:
                if previous:
                    held[kind] = previous  # not acknowledged: try again next time
                raise
            if item is not None:
                held[kind] = item
                return str(item)
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            # A BLPOP timeout of 0 would wait forever: never ask for less than 10 ms.
            block = round(min(max(remaining, 0.01), MAX_BLOCK), 3)
            await self.client.run("waiting for the queue", self.client.redis.blpop,
                                  [keys["signal"]], timeout=block)
