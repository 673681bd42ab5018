"""Parsing of ``sqlite://`` provider URLs into a path and connection options.

``SqliteDatabase.from_url`` and the plugin's factories call :func:`parse_url`.

Forms::

    sqlite:///wfe.db                    relative path "wfe.db" (to the working directory)
    sqlite:////var/lib/app/wfe.db       absolute path "/var/lib/app/wfe.db"
    sqlite:///:memory:                  one in-memory database, private to the host
    sqlite:///wfe.db?synchronous=FULL&busy_timeout=10000
    sqlite:///wfe.db?mode=ro            read an existing database; never create or change it

``mode`` is SQLite's own: ``rwc`` (the default) creates the file when it is missing, ``rw``
opens an existing file for reading and writing, ``ro`` opens an existing file read-only (no
WAL switch, no migration: its schema must be one this wfe can read). The ``wfe`` command
opens stores with ``ro`` or ``rw``, so that a mistyped path is an error, not a new database.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from wfe_core.errors import ConfigurationError

__all__ = ["MEMORY", "SqliteOptions", "parse_url"]

MEMORY = ":memory:"

#: ``PRAGMA synchronous`` levels that keep committed transactions; OFF is left out on purpose
#: because it can corrupt the file on power loss, which a workflow store must never do.
SYNCHRONOUS_LEVELS = ("NORMAL", "FULL", "EXTRA")

#: How a database is opened: SQLite's URI ``mode`` values.
MODES = ("rwc", "rw", "ro")

#: The shortest busy timeout accepted, in seconds. A shorter one does not make wfe faster, it
#: makes it stall. With a few processes committing back to back the write lock is taken most
#: of the time, and SQLite's busy handler waits by polling (1, 2, 5, 10 ... then 100 ms apart,
#: first come is not first served), so a short wait fails instead of getting its turn; and a
#: failed write is not retried soon (a failed start is the caller's error, a failed pass waits
#: for the poller, a lease that could not be released for its expiry). Four processes sharing
#: 1,200 workflows: 5 s at the default of 5,000 ms; at 5 ms three of them died on SQLITE_BUSY.
MIN_BUSY_TIMEOUT = 1.0


@attrs.frozen
class SqliteOptions:
    """Where the database lives and how its connection is set up.

    Attributes:
        path: the file path as written in the URL, or ``":memory:"``.
        synchronous: ``PRAGMA synchronous`` level, one of NORMAL, FULL, EXTRA.
        busy_timeout: seconds a write waits for another process's write lock; at least
            :data:`MIN_BUSY_TIMEOUT`.
        mode: ``"rwc"`` (create if missing), ``"rw"`` (must exist) or ``"ro"`` (must exist,
            read-only).
    """

    path: str
    synchronous: str = "FULL"
    busy_timeout: float = 5.0
    mode: str = "rwc"

    def __attrs_post_init__(self) -> None:
        if self.synchronous not in SYNCHRONOUS_LEVELS:
            raise ConfigurationError(
                f"synchronous={self.synchronous!r} is not supported; use one of "
                f"{', '.join(SYNCHRONOUS_LEVELS)}"
            )
        if not self.busy_timeout >= MIN_BUSY_TIMEOUT:
            raise ConfigurationError(
                f"busy_timeout={self.busy_timeout * 1000:g} ms is below the minimum of "
                f"{MIN_BUSY_TIMEOUT * 1000:g} ms: under contention a shorter wait fails writes "
                "instead of slowing them down; leave it out (the default is 5000 ms) or give "
                f"busy_timeout={MIN_BUSY_TIMEOUT * 1000:g} or more"
            )
        if self.mode not in MODES:
            raise ConfigurationError(
                f"mode={self.mode!r} is not supported; use one of {', '.join(MODES)}"
            )
        if self.mode != "rwc" and self.path == MEMORY:
            raise ConfigurationError(
                f"mode={self.mode} needs a database file; an in-memory database always starts empty"
            )


def parse_url(url: str) -> SqliteOptions:
    """Read a ``sqlite://`` URL.

    Raises:
        ConfigurationError: not a sqlite URL, a host part, no path, or an unknown option.
    """
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise ConfigurationError(f"{url!r} is not a sqlite:// URL")
    if parts.netloc:
        raise ConfigurationError(
            f"{url!r} names a host ({parts.netloc!r}); SQLite URLs have three slashes before "
            "the path: sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    # urlsplit keeps the slash that separates the (empty) host from the path; drop exactly that
    # one, so four slashes give an absolute path and three a relative one.
    path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not path:
        raise ConfigurationError(
            f"{url!r} has no database path; write sqlite:///wfe.db or sqlite:///:memory:"
        )
    synchronous = "FULL"
    busy_timeout = 5.0
    mode = "rwc"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "synchronous":
            synchronous = value.upper()
        elif name == "mode":
            mode = value.lower()
        elif name == "busy_timeout":
            try:
                busy_timeout = int(value) / 1000
            except ValueError:
                raise ConfigurationError(
                    f"busy_timeout={value!r} in {url!r} is not a whole number of milliseconds"
                ) from None
        else:
            raise ConfigurationError(
                f"unknown option {name!r} in {url!r}; sqlite:// understands synchronous, "
                "busy_timeout (milliseconds) and mode"
            )
    return SqliteOptions(path=path, synchronous=synchronous, busy_timeout=busy_timeout, mode=mode)
