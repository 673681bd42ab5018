"""Parsing of ``sqlite://`` provider URLs into a path and connection options.

``SqliteDatabase.from_url`` and the plugin's factories call :func:`parse_url`.

Forms::

    sqlite:///wfe.db                    relative path "wfe.db" (to the working directory)
    sqlite:////var/lib/app/wfe.db       absolute path "/var/lib/app/wfe.db"
    sqlite:///:memory:                  one in-memory database, private to the host
    sqlite:///wfe.db?synchronous=FULL&busy_timeout=10000
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


@attrs.frozen
class SqliteOptions:
    """Where the database lives and how its connection is set up.

    Attributes:
        path: the file path as written in the URL, or ``":memory:"``.
        synchronous: ``PRAGMA synchronous`` level, one of NORMAL, FULL, EXTRA.
        busy_timeout: seconds a write waits for another process's write lock.
    """

    path: str
    synchronous: str = "FULL"
    busy_timeout: float = 5.0

    def __attrs_post_init__(self) -> None:
        if self.synchronous not in SYNCHRONOUS_LEVELS:
            raise ConfigurationError(
                f"synchronous={self.synchronous!r} is not supported; use one of "
                f"{', '.join(SYNCHRONOUS_LEVELS)}"
            )
        if self.busy_timeout < 0:
            raise ConfigurationError("busy_timeout must not be negative")


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
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "synchronous":
            synchronous = value.upper()
        elif name == "busy_timeout":
            try:
                busy_timeout = int(value) / 1000
            except ValueError:
                raise ConfigurationError(
                    f"busy_timeout={value!r} in {url!r} is not a whole number of milliseconds"
                ) from None
        else:
            raise ConfigurationError(
                f"unknown option {name!r} in {url!r}; sqlite:// understands synchronous and "
                "busy_timeout (milliseconds)"
            )
    return SqliteOptions(path=path, synchronous=synchronous, busy_timeout=busy_timeout)
