"""``Capacity``: which workflows run in this host, and which wait here for a slot.

A host runs up to ``max_concurrent_workflows`` at once. A workflow started, woken or due here
takes a free slot at once, skipping the shared queue; when every slot is taken it may wait
here in line (lease taken, instance in hand), up to four per slot, and takes the next slot
that frees, ahead of the queue. Beyond that, work goes to the shared queue for any host.

The line is served by priority rank (``wfe_core._priority``: arrival time plus the level's
aging), as the queues are. When it is full, a workflow of a higher level than the lowest one
waiting takes that one's place, and the one it displaced goes to the shared queue (``hand_back``),
so urgent work started on a busy host never waits behind a line of idle work.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable

from ._models import WorkflowInstance
from ._priority import DEFAULT_PRIORITY, LOWEST_PRIORITY, PRIORITY_AGING, queue_rank

__all__ = ["Capacity"]

#: Workflows held in hand per slot while they wait for one.
WAITING_PER_SLOT = 4

#: Starts processing a workflow in a task: ``spawn(wid, instance_or_None)``.
Spawn = Callable[[str, WorkflowInstance | None], None]
#: Gives a displaced waiting workflow (lease held) back to the shared queue: ``(wid, level)``.
HandBack = Callable[[str, int], None]


class _Slots:
    """How many workflows may run here at once; unlike a Semaphore, can be taken without waiting."""

    def __init__(self, capacity: int) -> None:
        self.free = capacity
        self.freed = asyncio.Event()

    def try_take(self) -> bool:
        if self.free <= 0:
            return False
        self.free -= 1
        return True

    async def take(self) -> None:
        while not self.try_take():
            await self.until_free()

    async def until_free(self) -> None:
        """Return once a slot is free (or :meth:`wake_all` was called), without taking it."""
        if self.free <= 0:
            self.freed.clear()
            await self.freed.wait()

    def give(self) -> None:
        self.free += 1
        self.freed.set()

    def wake_all(self) -> None:
        """Wake every waiter, to look again (at stop) whether to go on waiting."""
        self.freed.set()


class Capacity:
    """Slots, the line of workflows waiting here for one, and what is active here."""

    def __init__(self, slots: int, spawn: Spawn) -> None:
        self.slots = _Slots(slots)
        self.spawn = spawn
        self.stopping = False
        # Workflows this host holds but has no slot for yet; None while the start that
        # reserved the place is still storing it. Served from ``line`` by rank.
        self.waiting: dict[str, WorkflowInstance | None] = {}
        #: (rank, seq, wid) of each waiting workflow; entries of ones gone are skipped.
        self.line: list[tuple[float, int, str]] = []
        #: wid -> (seq, level) of each waiting workflow (seq: its live entry in ``line``).
        self.places: dict[str, tuple[int, int]] = {}
        #: How many waiting workflows each level has (to find the lowest level quickly).
        self.levels = [0] * (LOWEST_PRIORITY + 1)
        self.seq = 0
        #: Where a displaced waiting workflow goes (None: a full line displaces nobody).
        self.hand_back: HandBack | None = None
        self.waiting_places = WAITING_PER_SLOT * slots
        #: Workflows running, reserved or waiting here.
        self.active: set[str] = set()
        #: Workflows dequeued while active here: run once more when the current run ends.
        self.rerun: set[str] = set()
        self.released: dict[str, asyncio.Event] = {}
        #: Queue readers in a dequeue (each for a free slot; see ``take_for_queue``).
        self.dequeuing = 0

    async def take_for_queue(self) -> None:
        """Wait for a free slot no other queue reader is dequeuing for, without taking it (a
        queue reader, before it dequeues); :meth:`done_dequeuing` once the dequeue returns.

        So a host takes from the shared queue only as many items as it has slots for: a
        reader holding an item while it waits for a slot would run it ahead of a higher
        level queued after it (and keep it from the other hosts).
        """
        slots = self.slots
        while slots.free - self.dequeuing <= 0 and not self.stopping:
            slots.freed.clear()
            await slots.freed.wait()
        self.dequeuing += 1

    def done_dequeuing(self) -> None:
        """A reader's dequeue returned (with an item or not): its claim on a slot ends."""
        self.dequeuing -= 1
        if self.slots.free - self.dequeuing > 0:
            self.slots.freed.set()  # a reader waiting for a slot to dequeue for may go

    async def admit_dequeued(self, wid: str) -> bool | None:
        """A queue reader got ``wid``: take a slot for it. False when it runs here already;
        ``None`` when the host stops first (the reader hands it back to the queue)."""
        while not self.slots.try_take():
            if self.stopping:
                return None
            await self.slots.until_free()  # woken by a freed slot, or by stop (wake_all)
        if wid in self.active:
            self.rerun.add(wid)
            self.free_slot()
            return False
        self.active.add(wid)
        return True

    def try_reserve(
        self, wid: str, *, or_wait: bool = False, priority: int = DEFAULT_PRIORITY
    ) -> bool:
        """Reserve a slot to run ``wid`` in this host now, skipping the queue.

        With ``or_wait``, the caller takes its turn among the workflows already waiting here
        (by ``priority`` rank), or, when every slot is taken, gets a place among them (a full
        line gives it the place of a waiting workflow of a lower level); it must then hand
        ``run`` the instance with its lease held.
        """
        if self.stopping or wid in self.active:
            return False
        if (not or_wait or not self.waiting) and self.slots.try_take():
            self.active.add(wid)
            return True
        if not or_wait:
            return False
        if self.waiting_places <= 0 and not self._displace_below(priority):
            return False
        self.waiting_places -= 1
        self.waiting[wid] = None  # its place in line; the instance comes with run()
        self._place(wid, priority)
        self.active.add(wid)
        return True

    def _place(self, wid: str, priority: int) -> None:
        self.seq += 1
        rank = queue_rank(priority, time.monotonic(), PRIORITY_AGING)
        self.places[wid] = (self.seq, priority)
        self.levels[priority] += 1
        heapq.heappush(self.line, (rank, self.seq, wid))

    def _leave_line(self, wid: str) -> None:
        place = self.places.pop(wid, None)
        if place is not None:
            self.levels[place[1]] -= 1

    def _displace_below(self, priority: int) -> bool:
        """Free a place in the full line for a workflow of ``priority``: the waiting workflow
        of the lowest level below it (the newest of those), if any, goes to the shared queue."""
        if self.hand_back is None or not any(self.levels[priority + 1:]):
            return False  # the usual case (every level the same) costs no scan
        worst: tuple[int, int, str] | None = None
        for wid, (seq, level) in self.places.items():
            if level > priority and self.waiting.get(wid) is not None:
                if worst is None or (level, seq) > worst[:2]:
                    worst = (level, seq, wid)
        if worst is None:
            return False
        level, _, wid = worst
        del self.waiting[wid]
        self._leave_line(wid)
        self.waiting_places += 1
        self.active.discard(wid)
        released = self.released.pop(wid, None)
        if released is not None:
            released.set()
        self.hand_back(wid, level)
        return True

    def give_back(self, wid: str) -> None:
        """Give back a reservation made with ``try_reserve`` that will not be used."""
        self.active.discard(wid)
        if wid in self.waiting:
            del self.waiting[wid]
            self._leave_line(wid)
            self.waiting_places += 1
            self.run_waiting()
        else:
            self.free_slot()

    def run(self, wid: str, instance: WorkflowInstance | None = None) -> None:
        """Run a workflow reserved with ``try_reserve`` (with its lease, given ``instance``)."""
        if wid in self.waiting:
            assert instance is not None, "a place in line needs the instance in hand"
            self.waiting[wid] = instance
            self.run_waiting()
            return
        self.spawn(wid, instance)

    def replace_waiting(self, instance: WorkflowInstance) -> None:
        """A workflow waiting here changed in the store: it starts from the new state."""
        if self.waiting.get(instance.id) is not None:
            self.waiting[instance.id] = instance

    def finished(self, wid: str) -> None:
        """A workflow's processing here ended: free its slot, wake who waits for its lease."""
        self.active.discard(wid)
        released = self.released.pop(wid, None)
        if released is not None:
            released.set()
        self.free_slot()

    def take_rerun(self, wid: str) -> bool:
        """True (once) when ``wid`` was queued again while it ran here."""
        if wid in self.rerun and not self.stopping:
            self.rerun.discard(wid)
            return True
        return False

    def released_event(self, wid: str) -> asyncio.Event | None:
        """An event set when this host stops running ``wid``; None if it does not run here."""
        if wid not in self.active:
            return None
        return self.released.setdefault(wid, asyncio.Event())

    def free_slot(self) -> None:
        """A slot is free: the workflows waiting here get it first, else anyone may."""
        self.slots.give()
        self.run_waiting()

    def run_waiting(self) -> None:
        """Start waiting workflows, lowest rank first, while slots are free and they are ready."""
        line, places = self.line, self.places
        while self.waiting and not self.stopping:
            _, seq, wid = line[0]
            place = places.get(wid)
            if place is None or place[0] != seq:
                heapq.heappop(line)  # it left the line
                continue
            instance = self.waiting[wid]
            if instance is None or not self.slots.try_take():
                return  # the first is still being created; it starts when run() comes
            heapq.heappop(line)
            del self.waiting[wid]
            self._leave_line(wid)
            self.waiting_places += 1
            self.spawn(wid, instance)

    def take_waiting(self) -> list[str]:
        """At stop: take every waiting workflow whose instance is in hand out of the line."""
        taken = []
        for wid, instance in list(self.waiting.items()):
            if instance is None:
                continue  # still being created; the hand-back after the last work takes it
            del self.waiting[wid]
            self._leave_line(wid)
            self.waiting_places += 1
            self.active.discard(wid)
            taken.append(wid)
        return taken
