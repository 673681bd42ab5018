"""How the ``wfe`` command writes: aligned tables and status colours for people, JSON for scripts.

:mod:`wfe._cli_commands` and :mod:`wfe._cli_tree` build what they print with :class:`Output`;
:mod:`wfe._cli` makes one per run. Colour is plain ANSI SGR codes, written only when stdout is
a terminal and ``NO_COLOR`` is unset (https://no-color.org), so piped output is plain text.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

import attrs

#: SGR codes by status value, workflow and pointer statuses alike: green for done, yellow for
#: waiting on something outside, red for what failed or was stopped, cyan for live work.
STATUS_COLOURS = {
    "complete": "32",
    "runnable": "36",
    "running": "36",
    "pending": "36",
    "suspended": "33",
    "sleeping": "33",
    "waiting_for_event": "33",
    "pending_predecessor": "2",
    "terminated": "31",
    "failed": "31",
    "runnable (no worker)": "33",
    "live": "32",
    "draining": "33",
    "stale": "31",
    "compensated": "35",
    "cancelled": "2",
}


def colour_wanted(stream: TextIO) -> bool:
    """Whether to colour ``stream``: a terminal, ``NO_COLOR`` unset or empty, ``TERM`` not dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: times in ISO 8601, enums by value, objects as dicts.

    Workflow data may hold what ``json`` cannot write (``Decimal``, ``datetime``, attrs classes);
    a script reading ``--json`` wants those as text or objects, not an error.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (date, uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if attrs.has(type(value)):
        return jsonable(attrs.asdict(value, recurse=False))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    return str(value)


def clock(when: datetime | None) -> str:
    """A time for a table: UTC to the second, ``-`` for none."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else "-"


class Output:
    """Where one run of the command writes, and how: JSON or text, coloured or plain."""

    def __init__(self, *, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream if stream is not None else sys.stdout
        self.colour = not as_json and colour_wanted(self.stream)

    def document(self, value: Any) -> None:
        """The one JSON document of a ``--json`` run."""
        self.stream.write(json.dumps(jsonable(value), indent=2, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def paint(self, text: str, code: str | None) -> str:
        """``text`` in the SGR ``code`` when colouring, else as it is."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour and code else text

    def status(self, value: str, width: int = 0) -> str:
        """A status padded to ``width`` and then coloured, so columns stay aligned."""
        return self.paint(value.ljust(width), STATUS_COLOURS.get(value))

    def bold(self, text: str) -> str:
        return self.paint(text, "1")

    def table(
        self, headers: Sequence[str], rows: Sequence[Sequence[str]], *, status_column: int = -1
    ) -> None:
        """Rows under a header, each column as wide as its widest cell, two spaces between.

        The cells of ``status_column`` are coloured by status; the last column is not padded.
        """
        widths = [max(len(r[i]) for r in (headers, *rows)) for i in range(len(headers))]
        last = len(headers) - 1

        def cells(row: Sequence[str], header: bool) -> str:
            out = []
            for i, cell in enumerate(row):
                width = 0 if i == last else widths[i]
                if header:
                    out.append(self.bold(cell.ljust(width)))
                elif i == status_column:
                    out.append(self.status(cell, width))
                else:
                    out.append(cell.ljust(width))
            return "  ".join(out).rstrip()

        self.line(cells(headers, True))
        for row in rows:
            self.line(cells(row, False))
