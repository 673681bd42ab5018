"""Translation of ``sqlite3`` errors into :class:`~wfe_core.errors.ProviderError`.

``SqliteDatabase`` calls :func:`provider_error` at its boundary, so no ``sqlite3`` exception ever
reaches the host; the driver's error stays reachable as ``__cause__``.

Transient failures become :class:`~wfe_core.errors.ProviderUnavailableError`, which the host
retries with backoff: a write lock another process held past the busy timeout
(``SQLITE_BUSY``, ``SQLITE_LOCKED``, "database is locked") and the I/O errors that a retry can
clear (``SQLITE_IOERR`` of a lock, a short read or write, an fsync). A full disk, a read-only
or corrupt file and a missing table are permanent: retrying changes nothing, so they surface
at once as a plain ``ProviderError``.
"""

from __future__ import annotations

import sqlite3

from wfe_core.errors import ProviderError, ProviderUnavailableError

__all__ = ["provider_error"]


def provider_error(exc: sqlite3.Error, path: str, busy_timeout: float) -> ProviderError:
    """A ProviderError whose message says what went wrong with ``path`` and what to do.

    Args:
        exc: the driver's error.
        path: the database file, for the message.
        busy_timeout: the configured busy timeout in seconds, for the message.
    """
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    lowered = text.lower()
    transient = False
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in lowered:
        transient = True
        hint = (
            f"another process held the write lock on {path} for longer than the busy timeout "
            f"({busy_timeout:g} s); keep other writers' transactions short, or raise the timeout "
            "with ?busy_timeout=<milliseconds> in the sqlite:// URL"
        )
    elif name.startswith("SQLITE_READONLY") or "readonly" in lowered:
        hint = f"{path} cannot be written: check the permissions of the file and its directory"
    elif name.startswith("SQLITE_CANTOPEN") or "unable to open" in lowered:
        hint = f"cannot open {path}: check that its directory exists and is writable"
    elif name.startswith("SQLITE_FULL") or "is full" in lowered:
        hint = f"the disk holding {path} is full; free some space"
    elif name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "not a database" in lowered:
        hint = f"{path} is corrupt or is not an SQLite database; restore it from a backup"
    elif name.startswith("SQLITE_IOERR"):
        transient = True
        hint = f"the operating system failed to read or write {path}; check the disk"
    elif "no such table" in lowered or "no such column" in lowered:
        hint = (
            f"{path} lacks wfe's tables: it was changed by another program, or made by another "
            "version of wfe"
        )
    else:
        hint = f"SQLite failed on {path}"
    error = ProviderUnavailableError if transient else ProviderError
    return error(f"{hint} ({name or type(exc).__name__}: {text})")
