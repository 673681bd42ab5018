"""The line of workflows waiting here for a slot: four per slot, served in order as slots free,
the rest left to the shared queue; a start of a higher level takes a lower one's place."""

from __future__ import annotations

from datetime import UTC, datetime

from wfe_core._capacity import WAITING_PER_SLOT, Capacity
from wfe_core._models import WorkflowInstance, WorkflowStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def instance(wid: str) -> WorkflowInstance:
    return WorkflowInstance(
        id=wid, definition_id="d", version=1, status=WorkflowStatus.RUNNABLE, data="{}",
        create_time=NOW, next_execution=NOW,
    )


class Host:
    """A capacity of two slots, recording what it starts and what it hands back."""

    def __init__(self) -> None:
        self.spawned: list[str] = []
        self.handed_back: list[tuple[str, int]] = []
        self.capacity = Capacity(2, lambda wid, _: self.spawned.append(wid))
        self.capacity.hand_back = lambda wid, level: self.handed_back.append((wid, level))

    def start(self, wid: str, priority: int = 4, in_hand: bool = True) -> bool:
        """A start that takes a slot or a place in line; its instance comes at once."""
        if not self.capacity.try_reserve(wid, or_wait=True, priority=priority):
            return False
        if in_hand:
            self.capacity.run(wid, instance(wid))
        return True


def test_a_host_holds_four_per_slot_runs_them_in_order_and_leaves_the_rest_to_the_queue() -> None:
    host = Host()
    n = 2 + 2 * WAITING_PER_SLOT
    started = [host.start(f"w{k}") for k in range(n + 3)]
    assert started == [True] * n + [False] * 3
    assert host.spawned == ["w0", "w1"] and len(host.capacity.waiting) == 2 * WAITING_PER_SLOT
    for k in range(n - 2):  # each slot that frees goes to the next in line
        host.capacity.finished(host.spawned[k])
    assert host.spawned == [f"w{k}" for k in range(n)]
    assert host.handed_back == [] and not host.capacity.waiting


def test_a_start_of_a_higher_level_takes_the_place_of_the_newest_of_the_lowest() -> None:
    host = Host()
    assert host.start("run0") and host.start("run1")
    for k in range(2 * WAITING_PER_SLOT):
        assert host.start(f"w{k}", priority=3 if k % 2 else 6)
    assert host.start("idle", priority=7) is False  # nobody below it: the queue
    assert host.start("urgent", priority=0) is True
    newest_of_six = f"w{2 * WAITING_PER_SLOT - 2}"
    assert host.handed_back == [(newest_of_six, 6)]
    assert newest_of_six not in host.capacity.active and "urgent" in host.capacity.waiting
    host.capacity.finished("run0")
    assert host.spawned == ["run0", "run1", "urgent"]
