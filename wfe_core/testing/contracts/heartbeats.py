"""The heartbeat contract: :class:`HeartbeatContract`, run against every heartbeat store.

A provider author subclasses the suite and supplies a ``heartbeats`` fixture that yields a
started :class:`~wfe_core.providers.HeartbeatStore` holding no records, and closes it afterwards.
What it pins: a record comes back equal (times exact, in UTC, whatever zone they were given
in), a new heartbeat of a host replaces its record, removing forgets one host only, and
removing or listing nothing is no error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from ...models import HostRecord
from ...providers import HeartbeatStore

__all__ = ["HeartbeatContract"]

T0 = datetime(2026, 12, 7, 10, 0, 0, 123456, tzinfo=UTC)


def record(host_id: str = "host-a", **changes: object) -> HostRecord:
    fields: dict[str, object] = {
        "id": host_id,
        "hostname": "worker-1.example",
        "pid": 4242,
        "wfe_version": "0.1.0",
        "started": T0,
        "last_seen": T0 + timedelta(seconds=30),
        "interval": 10.0,
        "in_flight": 3,
        "definitions": {"pizza": [1, 2], "été": [7]},
    }
    fields.update(changes)
    return HostRecord(**fields)  # type: ignore[arg-type]


class HeartbeatContract:
    """What every heartbeat store does. Needs a ``heartbeats`` fixture (started, no records)."""

    async def test_an_empty_store_lists_no_host(self, heartbeats: HeartbeatStore) -> None:
        assert await heartbeats.list_hosts() == []

    async def test_a_record_comes_back_equal(self, heartbeats: HeartbeatStore) -> None:
        written = record()
        await heartbeats.record_heartbeat(written)
        (read,) = await heartbeats.list_hosts()
        assert read == written
        assert read.last_seen.tzinfo is not None and read.last_seen.utcoffset() == timedelta(0)
        assert read is not written

    async def test_times_in_another_zone_come_back_as_the_same_instant(
        self, heartbeats: HeartbeatStore
    ) -> None:
        zone = timezone(timedelta(hours=-5))
        await heartbeats.record_heartbeat(record(last_seen=(T0 + timedelta(seconds=5)).astimezone(zone)))
        (read,) = await heartbeats.list_hosts()
        assert read.last_seen == T0 + timedelta(seconds=5)

    async def test_a_new_heartbeat_replaces_the_record(self, heartbeats: HeartbeatStore) -> None:
        await heartbeats.record_heartbeat(record())
        later = record(last_seen=T0 + timedelta(minutes=1), in_flight=0, draining=True)
        await heartbeats.record_heartbeat(later)
        assert await heartbeats.list_hosts() == [later]

    async def test_hosts_are_kept_apart(self, heartbeats: HeartbeatStore) -> None:
        a, b = record("host-a"), record("host-b", pid=7, definitions={})
        await heartbeats.record_heartbeat(a)
        await heartbeats.record_heartbeat(b)
        assert sorted(await heartbeats.list_hosts(), key=lambda r: r.id) == [a, b]
        await heartbeats.remove_host("host-a")
        assert await heartbeats.list_hosts() == [b]

    async def test_removing_an_unknown_host_is_a_no_op(self, heartbeats: HeartbeatStore) -> None:
        await heartbeats.record_heartbeat(record())
        await heartbeats.remove_host("never-seen")
        assert [r.id for r in await heartbeats.list_hosts()] == ["host-a"]

    async def test_a_record_does_not_change_with_the_callers_copy(
        self, heartbeats: HeartbeatStore
    ) -> None:
        written = record()
        await heartbeats.record_heartbeat(written)
        written.definitions["pizza"].append(3)
        written.in_flight = 99
        (read,) = await heartbeats.list_hosts()
        assert read.definitions["pizza"] == [1, 2] and read.in_flight == 3
