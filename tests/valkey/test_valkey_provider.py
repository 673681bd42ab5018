"""The Valkey provider on its own: URLs, errors, odd keys, and ids of a dead host coming back.

The lock and queue contracts run on ``valkey://`` (and the TLS schemes) from
``tests/contracts``; these are the cases only a Valkey store has.
"""

from __future__ import annotations

import asyncio

import pytest

from wfe_core.errors import ConfigurationError, ProviderUnavailableError
from wfe_core.providers import QueueKind
from wfe_core.testing.contracts._targets import open_provider
from wfe_valkey import ValkeyBackend, _queue, parse_url

ODD = ["a{b}c", "*", "with space", "new\nline", "ünïcødé ✓", "{}", "k:1", "?prefix=x"]


def test_urls() -> None:
    o = parse_url("valkeys://user:s3cret@cache:6380/2?prefix=app")
    assert (o.tls, o.host, o.port, o.db, o.prefix) == (True, "cache", 6380, 2, "app")
    assert "s3cret" not in o.display and "s3cret" not in repr(o)
    assert parse_url("redis://h").client_url == "redis://h:6379/0"
    assert parse_url("rediss://h").tls
    for bad in ("valkey://h/x", "valkey://h?prefix=", "valkey://h?colour=red", "valkey://h:99999"):
        with pytest.raises(ConfigurationError):
            parse_url(bad)


def test_the_extra_is_named() -> None:
    from wfe_core._plugins import PluginHost

    spec = PluginHost().spec_for("valkey://h")
    assert (spec.extra, spec.driver) == ("valkey", "redis")


async def test_an_unreachable_server_is_unavailable_not_a_crash() -> None:
    backend = ValkeyBackend("valkey://127.0.0.1:1/0")
    with pytest.raises(ProviderUnavailableError, match="127.0.0.1:1"):
        await backend.start()


async def test_odd_keys_stay_data(valkey_url: str) -> None:
    async with open_provider("lock", valkey_url) as lock, open_provider("queue", valkey_url) as queue:
        for key in ODD:
            assert await lock.acquire(key, "owner-a", 30) is True
        for key in ODD:
            assert await lock.acquire(key, "owner-b", 30) is False
            assert await lock.renew(key, "owner-a", 30) is True
            await lock.release(key, "owner-a")
            assert await lock.acquire(key, "owner-b", 30) is True
        for key in ODD + ODD:
            await queue.enqueue(QueueKind.EVENT, key)
        taken = [await queue.dequeue(QueueKind.EVENT, 0.05) for _ in range(len(ODD) + 1)]
        assert taken == [*ODD, None]


async def test_an_id_taken_by_a_host_that_dies_comes_back(
    valkey_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_queue, "HEARTBEAT", 0.1)
    async with open_provider("queue", valkey_url) as survivor:
        dying = ValkeyBackend(valkey_url)
        queue = dying.queue
        await dying.start()
        await queue.enqueue(QueueKind.WORKFLOW, "w1")
        assert await queue.dequeue(QueueKind.WORKFLOW, 0.05) == "w1"
        # Dies: its heartbeat stops and nothing is closed.
        queue._heartbeat.cancel()
        await asyncio.sleep(0.05)
        assert await survivor.dequeue(QueueKind.WORKFLOW, 0.05) is None  # not before it expires
        assert await survivor.dequeue(QueueKind.WORKFLOW, 2.0) == "w1"
        await dying.client.close()


async def test_an_id_handed_on_is_not_given_again(valkey_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_queue, "HEARTBEAT", 0.1)
    async with open_provider("queue", valkey_url) as queue:
        await queue.enqueue(QueueKind.WORKFLOW, "w1")
        assert await queue.dequeue(QueueKind.WORKFLOW, 0.05) == "w1"
        await asyncio.sleep(0.5)  # several reclaims by a live consumer
        assert await queue.dequeue(QueueKind.WORKFLOW, 0.05) is None


async def test_lifecycle_messages_reach_every_listener(valkey_url: str) -> None:
    got: list[str] = []

    async def receive(message: str) -> None:
        got.append(message)

    a, b = ValkeyBackend(valkey_url), ValkeyBackend(valkey_url)
    from wfe_core.backends import Capability

    sender = a.provider(Capability.LIFECYCLE_EVENTS)
    listener = b.provider(Capability.LIFECYCLE_EVENTS)
    listener.listen(receive)
    await a.start()
    await b.start()
    try:
        for text in ODD:
            await sender.publish(text)
        for _ in range(200):
            if len(got) == len(ODD):
                break
            await asyncio.sleep(0.01)
        assert got == ODD
    finally:
        await a.close()
        await b.close()


async def test_a_burst_of_calls_waits_for_connections_instead_of_failing(valkey_url: str) -> None:
    """Far more calls at once than the pool holds connections (a burst of starts, each taking
    and giving back a lease): each waits its turn; none is refused as if Valkey were down."""
    from wfe_valkey._client import MAX_CONNECTIONS

    async with open_provider("lock", valkey_url) as lock:
        keys = [f"burst:{n}" for n in range(4 * MAX_CONNECTIONS)]
        taken = await asyncio.gather(*(lock.acquire(key, "owner-a", 30) for key in keys))
        assert taken == [True] * len(keys)
        await asyncio.gather(*(lock.release(key, "owner-a") for key in keys))
        assert await asyncio.gather(*(lock.acquire(key, "owner-b", 30) for key in keys)) == taken
