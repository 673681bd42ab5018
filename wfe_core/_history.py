"""The history of a durable function, and the errors its replay raises.

A durable function (``@orchestration``, see ``_orchestration``) keeps what it did in the
persistence data of its workflow's first pointer, as one ``History``: a list of small JSON
events, written with the pass that made them. ``_orchestration_context`` replays the function
against it. The events:

* ``{"op": kind, "name": name}``: the function issued its n-th operation (n: its place among
  the ``op`` events): a ``call``, ``timer``, ``event``, ``child`` (sub-orchestration), or a
  deterministic value (``now``, ``uuid``, ``random``, which carry their ``value``);
* ``{"done": n, "value": v}`` / ``{"done": n, "error": [type, message]}``: operation n
  finished; the order of these events is the order the function sees things finish in
  (``ctx.select`` is decided by it);
* ``{"attempt": n, "error": [type, message], "at": time}``: a failed attempt of call n,
  retried at ``at``.

The events are stored as one JSON text (``"log"``), each encoded once, when the pass that
made it first writes it: a pass then encodes and writes its new events, not the whole history
again (older stores kept an ``"events"`` list, still read).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import WfeError
from .serialization import dump_value, load_value

__all__ = [
    "DEFAULT_MAX_HISTORY",
    "ActivityFailed",
    "History",
    "HistoryLimitError",
    "NonDeterminismError",
    "OrchestrationFailedError",
]

#: Events one generation of a durable function may record (``@orchestration(max_history=)``).
DEFAULT_MAX_HISTORY = 10_000


class NonDeterminismError(WfeError):
    """A replay issued another operation than the history records at that position.

    The code changed under a running workflow (or depends on something other than its input,
    its history and the ``ctx`` helpers). The workflow is suspended, never corrupted: put the
    old code back, or register the new code as a new version.

    Attributes:
        position: the operation's place in the function's run, from 0.
        recorded: what the history records there (``kind name``), or None when it records
            nothing (the new code issues more than the old one did before it returned).
        new: what the code issues there now, or None when the code returned there.
    """

    def __init__(self, position: int, recorded: str | None, new: str | None) -> None:
        self.position = position
        self.recorded = recorded
        self.new = new
        super().__init__(
            f"non-deterministic replay at operation {position}: the history records "
            f"{recorded or 'nothing'}, the code now issues {new or 'nothing (it returned)'}; "
            "restore the code this workflow started with, or register the change as a new "
            "version (@orchestration(..., version=N+1)) so that running workflows keep theirs"
        )


class HistoryLimitError(WfeError):
    """A durable function recorded more events than its ``max_history`` allows."""


class ActivityFailed(WfeError):  # noqa: N818 - the issue's public name
    """An activity (``ctx.call``) or sub-orchestration failed for good; raised into the function.

    The original exception does not cross the history (only its type name and message are
    recorded), so a function catches this and looks at ``error_type``.

    Attributes:
        name: the activity's (or sub-orchestration's) name.
        error_type: the qualified name of the exception it raised.
        message: its message.
    """

    def __init__(self, name: str, error_type: str, message: str) -> None:
        self.name = name
        self.error_type = error_type
        self.message = message
        super().__init__(f"{name} failed: {error_type}: {message}")


class OrchestrationFailedError(WfeError):
    """A durable function raised: recorded for the workflow, which is then terminated."""


def op_text(event: dict[str, Any]) -> str:
    """An ``op`` event as people read it: ``call billing.charge``."""
    return f"{event['op']} {event['name']}"


class History:
    """One generation of a durable function's history, indexed for replay.

    Args:
        raw: what ``dump`` returned last (None: a function that has not run yet).
    """

    def __init__(self, raw: dict[str, Any] | None) -> None:
        raw = raw or {}
        self.generation: int = raw.get("gen", 0)
        log = raw.get("log")
        self.events: list[dict[str, Any]] = load_value(log) if log else list(raw.get("events", ()))
        #: The JSON text of ``events[:self._encoded]``, as the store has it.
        self._log: str = log or "[]"
        self._encoded = len(self.events) if log else 0  # an older list: encoded at the next dump
        #: operation number (as text) -> the id of the pointer that waits for it.
        self.waits: dict[str, str] = dict(raw.get("waits", {}))
        #: Set when the function is blocked on waits only: nothing to do until one ends.
        self.waiting: bool = bool(raw.get("waiting", False))
        self.retry_at: datetime | None = raw.get("retry_at")
        self.ops: list[dict[str, Any]] = []
        #: operation number -> (place among the finishing events, the event).
        self.done: dict[int, tuple[int, dict[str, Any]]] = {}
        #: operation number -> its failed attempts, oldest first.
        self.attempts: dict[int, list[dict[str, Any]]] = {}
        for event in self.events:
            self._index(event)

    def _index(self, event: dict[str, Any]) -> None:
        if "op" in event:
            self.ops.append(event)
        elif "done" in event:
            self.done[event["done"]] = (len(self.done), event)
        elif "attempt" in event:
            self.attempts.setdefault(event["attempt"], []).append(event)

    def append(self, event: dict[str, Any], limit: int) -> None:
        """Record one event.

        Raises:
            HistoryLimitError: the history holds ``limit`` events already.
        """
        if len(self.events) >= limit:
            raise HistoryLimitError(
                f"this durable function's history reached its cap of {limit} events; end each "
                "round of a long-running loop with ctx.continue_as_new(state), which starts "
                "a fresh history, or raise @orchestration(max_history=...)"
            )
        self.events.append(event)
        self._index(event)

    def dump(self) -> dict[str, Any]:
        """The history as stored (a new object: the pass sees that it changed)."""
        new = self.events[self._encoded:]  # complete by now (a timer's "at", a value)
        if new:
            texts = ",".join(dump_value(event) for event in new)
            self._log = f"[{texts}]" if self._log == "[]" else f"{self._log[:-1]},{texts}]"
            self._encoded = len(self.events)
        out: dict[str, Any] = {"gen": self.generation, "log": self._log}
        if self.waits:
            out["waits"] = dict(self.waits)
        if self.waiting:
            out["waiting"] = True
        if self.retry_at is not None:
            out["retry_at"] = self.retry_at
        return out
