"""Datetimes as INTEGER microseconds since the Unix epoch, the way every wfe table stores them.

The persistence provider and the search index call these. Integers keep every microsecond (a
REAL does not) and compare in index order; values come back timezone-aware in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["from_micros", "from_micros_or_none", "to_micros", "to_micros_or_none"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken to be UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // _MICROSECOND


def to_micros_or_none(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def from_micros(value: int) -> datetime:
    """Reverse :func:`to_micros`, as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=value)


def from_micros_or_none(value: int | None) -> datetime | None:
    return None if value is None else from_micros(value)
