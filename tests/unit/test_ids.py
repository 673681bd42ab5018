"""Ids: UUIDv7 layout (time first, so stores' indexes take new rows side by side), never repeated."""

from __future__ import annotations

import time
import uuid

from wfe_core._models import WorkflowInstance, new_id, random_hex


def test_an_id_is_a_uuid7_hex_with_the_current_millisecond_first() -> None:
    before = time.time_ns() // 1_000_000
    wid = new_id()
    after = time.time_ns() // 1_000_000
    assert len(wid) == 32 and wid == wid.lower()
    parsed = uuid.UUID(hex=wid)
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert before <= parsed.int >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_after_earlier_ones() -> None:
    first = new_id()
    time.sleep(0.002)
    later = [new_id() for _ in range(100)]
    assert all(first < wid for wid in later)


def test_ids_made_in_one_burst_never_repeat_and_keep_random_bits() -> None:
    ids = [new_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    # The 74 random bits vary within one millisecond: the tails are all different too.
    assert len({wid[-16:] for wid in ids}) == len(ids)


def test_new_instances_get_time_ordered_ids() -> None:
    a = WorkflowInstance(definition_id="d", version=1)
    time.sleep(0.002)
    b = WorkflowInstance(definition_id="d", version=1)
    assert uuid.UUID(hex=a.id).version == 7
    assert a.id < b.id


def test_random_hex_has_the_digits_asked_for_and_differs_each_time() -> None:
    names = {random_hex(8) for _ in range(1000)}
    assert all(len(n) == 8 and int(n, 16) >= 0 for n in names)
    assert len(names) > 990  # 32 random bits: a repeat among 1,000 is one in ~8,600
