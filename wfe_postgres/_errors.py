"""Translation of psycopg errors into wfe's errors, at the provider's boundary.

``PostgresDatabase`` calls :func:`translate` on every driver error, so no psycopg exception
reaches the host; the driver's error stays reachable as ``__cause__``. The split:

* what goes away by itself is :class:`~wfe_core.errors.ProviderUnavailableError`, which the
  host retries with backoff: a server that is down, restarting or unreachable (SQLSTATE class
  08, and an error with no SQLSTATE at all: libpq's own, a connection that broke), the server
  short of resources (class 53: too many connections, out of memory, disk full), an operator's
  intervention (class 57: shutdown, restart, a cancelled statement), a pool with no free
  connection in time, a serialization failure, deadlock or lock not available (40001, 40P01,
  55P03);
* what a retry cannot fix is :class:`~wfe_core.errors.ConfigurationError` (a wrong password, a
  missing database, a role without rights: 28xxx, 3D000, 42501) or a plain
  :class:`~wfe_core.errors.ProviderError`: every other SQLSTATE. psycopg raises
  ``OperationalError`` for some of those too (class 54, "program limit exceeded": an index
  entry over the btree limit, a query too deep for the stack), so the SQLSTATE decides, not
  the exception's class: a statement the server refuses for what it holds fails the same way
  each time, and retrying it would only loop.

Every message is scrubbed of the password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfe_core.errors import ConfigurationError, ProviderError, ProviderUnavailableError, WfeError

if TYPE_CHECKING:
    from ._url import PostgresOptions

__all__ = ["sqlstate", "translate"]

_TRANSIENT_STATES = {"40001", "40P01", "55P03"}
#: SQLSTATE classes that go away by themselves: connection exception, insufficient resources,
#: operator intervention.
_TRANSIENT_CLASSES = ("08", "53", "57")
_CONFIG_STATES = {"3D000", "42501", "3F000"}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a driver error; None for one the server did not send (a refused
    connection, a pool timeout)."""
    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or getattr(exc, "sqlstate", None)
    return state if isinstance(state, str) else None


def translate(exc: BaseException, options: PostgresOptions, doing: str) -> WfeError:
    """The wfe error for a driver error ``exc`` raised while ``doing`` something.

    Args:
        exc: a ``psycopg.Error`` or ``psycopg_pool.PoolTimeout``.
        options: the database's options (for its display URL and the password to scrub).
        doing: what was being done, e.g. ``"writing a workflow"``.
    """
    import psycopg

    where = options.display
    state = sqlstate(exc)
    text = options.scrub(str(exc).strip()) or type(exc).__name__
    lowered = text.lower()
    if state is not None and (state.startswith("28") or state in _CONFIG_STATES):
        hint = {
            "3D000": "the database does not exist; create it, or fix the database name",
            "42501": "the role lacks a privilege wfe needs (it creates tables in its schema)",
            "3F000": "the schema is missing",
        }.get(state, "the server refused the login; check the user name and password")
        return ConfigurationError(f"PostgreSQL at {where}: {hint} ({text})")
    if state is None and "certificate" in lowered:
        # libpq's TLS checks ('root certificate file ... does not exist'): a file or sslmode
        # to fix, not the login (the words "does not exist" below would blame the password).
        return ConfigurationError(
            f"PostgreSQL at {where}: the TLS setup refused the connection; give the server's "
            f"root certificate (sslrootcert=...), sslrootcert=system, or a weaker sslmode ({text})"
        )
    if state is None and (
        "password authentication failed" in lowered or "does not exist" in lowered
    ):
        # Connection failures carry no SQLSTATE in psycopg; their text is libpq's.
        return ConfigurationError(
            f"PostgreSQL at {where} refused the connection; check the user, password and "
            f"database name ({text})"
        )
    if state is None and (
        ("invalid" in lowered and ("value" in lowered or "connection option" in lowered))
        or "unrecognized" in lowered
    ):
        # libpq refusing a parameter's value before it connects ('invalid sslmode value',
        # 'invalid integer value ... for connection option'): no retry can help.
        return ConfigurationError(
            f"PostgreSQL at {where}: the URL has a connection parameter libpq refuses; fix "
            f"it ({text})"
        )
    if state is not None:
        transient = state.startswith(_TRANSIENT_CLASSES) or state in _TRANSIENT_STATES
    else:
        # No SQLSTATE: the server sent no error, so the connection or the pool failed.
        transient = (
            isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
            or type(exc).__name__ == "PoolTimeout"
        )
    if transient:
        return ProviderUnavailableError(
            f"PostgreSQL at {where} is unavailable while {doing}; try again once it is back "
            f"(a running host's own work waits for it) ({text})"
        )
    return ProviderError(f"PostgreSQL at {where} failed while {doing} ({state or '-'}: {text})")
