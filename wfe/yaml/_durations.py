"""Durations of the YAML format: ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h30m"`` or a number of seconds.

Used by :mod:`wfe.yaml._spec` for timeouts and retry intervals.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["DURATION_PATTERN", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
#: What the JSON Schema accepts as a duration string.
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$"


def parse_duration(value: Any) -> float:
    """Seconds in ``value``.

    Raises:
        ValueError: not a non-negative number nor text such as ``"1h30m"``; the message says
            what to write.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _PART.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise ValueError(
                f"{value!r} is not a duration; write a number of seconds or units such as "
                '"250ms", "30s", "5m", "1h30m"'
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError(f"{value!r} is not a duration; write e.g. \"30s\" or a number of seconds")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration of 0 or more seconds")
    return seconds
