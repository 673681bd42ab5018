"""Parsing of ``postgresql://`` provider URLs into a libpq connection string and wfe's options.

The plugin (store keys), the backend and the error messages call these; nothing here imports
the driver. Forms::

    postgresql://user:secret@db.example:5432/app                    schema "wfe", pool of 10
    postgresql://user:secret@db.example/app?schema=orders&pool_size=20&call_timeout=5
    postgres://user@/app?host=/var/run/postgresql&sslmode=require    any libpq parameter

``schema``, ``pool_size``, ``call_timeout`` and ``existing`` are wfe's; every other query
parameter goes to libpq unchanged (the driver refuses one libpq does not know). A password is never shown: :func:`redact` is
what every message and log line prints instead of the URL.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import attrs

from wfe_core.errors import ConfigurationError

__all__ = ["PostgresOptions", "parse_url", "redact", "store_key"]

SCHEMES = ("postgresql", "postgres")

#: A schema name wfe accepts: a plain lower-case identifier, so it never needs quoting rules
#: beyond double quotes, and LISTEN channels derived from it stay valid identifiers.
_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,47}")

MAX_POOL_SIZE = 1000

#: libpq waits forever for an unreachable host by default; a host should fail and retry.
DEFAULT_CONNECT_TIMEOUT = "10"
#: Seconds a call waits for a connection before it raises ProviderUnavailableError.
DEFAULT_CALL_TIMEOUT = 10.0


@attrs.frozen(repr=False)
class PostgresOptions:
    """Where the database is and how wfe uses it.

    Attributes:
        conninfo: the libpq URL (with the password), without wfe's own parameters.
        schema: the schema holding wfe's tables (made on first use).
        pool_size: the most connections the pool holds.
        call_timeout: the longest a call waits for a pooled connection, in seconds (a server
            that is down makes calls fail after this at most; see ``PostgresDatabase.run``).
        existing: the store must exist already (``existing=1``): opening a schema without
            wfe's tables is an error instead of making them (the ``wfe`` command's reads).
        display: the URL with its password replaced by ``***``, for messages.
        password: the password, so that messages can be scrubbed of it (never printed).
    """

    conninfo: str
    schema: str = "wfe"
    pool_size: int = 10
    call_timeout: float = DEFAULT_CALL_TIMEOUT
    existing: bool = False
    display: str = ""
    password: str | None = None

    def __repr__(self) -> str:
        return f"PostgresOptions({self.display!r}, schema={self.schema!r}, pool_size={self.pool_size})"

    def scrub(self, text: str) -> str:
        """``text`` with the password (raw or URL-encoded) replaced by ``***``."""
        if self.password:
            text = text.replace(self.password, "***")
        return text


def redact(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unreadable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            user = user.split(":", 1)[0] + ":***"
        netloc = f"{user}@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query, True)]
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_url(url: str) -> PostgresOptions:
    """Read a ``postgresql://`` (or ``postgres://``) URL.

    Raises:
        ConfigurationError: not such a URL, no database name, a bad schema name or pool size.
    """
    shown = redact(url)
    try:
        parts = urlsplit(url)
        _ = parts.port  # validates the port
    except ValueError as exc:
        raise ConfigurationError(f"{shown!r} is not a valid PostgreSQL URL: {exc}") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigurationError(f"{shown!r} is not a postgresql:// URL")
    if not parts.path.strip("/"):
        raise ConfigurationError(
            f"{shown!r} names no database; write postgresql://user:password@host:5432/database"
        )
    schema, pool_size, call_timeout, existing = "wfe", 10, DEFAULT_CALL_TIMEOUT, False
    libpq: list[tuple[str, str]] = []
    password = parts.password
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "schema":
            schema = value
        elif name == "pool_size":
            try:
                pool_size = int(value)
            except ValueError:
                raise ConfigurationError(
                    f"pool_size={value!r} in {shown!r} is not a whole number"
                ) from None
        elif name == "call_timeout":
            call_timeout = _seconds(value, shown)
        elif name == "existing":
            if value.lower() not in ("1", "true", "0", "false"):
                raise ConfigurationError(f"existing={value!r} in {shown!r}: give existing=1 or existing=0")
            existing = value.lower() in ("1", "true")
        else:
            if name == "password":
                password = value
            libpq.append((name, value))
    if not _SCHEMA.fullmatch(schema):
        raise ConfigurationError(
            f"schema={schema!r} in {shown!r} is not a schema name wfe accepts: use lower-case "
            "letters, digits and underscores (at most 48, not starting with a digit), e.g. "
            "schema=wfe"
        )
    if schema.startswith("pg_"):
        raise ConfigurationError(
            f"schema={schema!r} in {shown!r} starts with pg_, which PostgreSQL reserves for "
            "its own schemas; choose another name, e.g. schema=wfe"
        )
    if not 1 <= pool_size <= MAX_POOL_SIZE:
        raise ConfigurationError(
            f"pool_size={pool_size} in {shown!r} is out of range; give 1 to {MAX_POOL_SIZE}"
        )
    for name, value in libpq:
        _check_value(name, value, shown)
    if not any(name == "connect_timeout" for name, _ in libpq):
        libpq.append(("connect_timeout", DEFAULT_CONNECT_TIMEOUT))
    # %20, not +, for a space: libpq reads a URI's query with percent-decoding only.
    query = urlencode(libpq, quote_via=quote)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, query, ""))
    _check_parameters(conninfo, shown, unquote(password) if password else None)
    return PostgresOptions(
        conninfo=conninfo,
        schema=schema,
        pool_size=pool_size,
        call_timeout=call_timeout,
        existing=existing,
        display=shown,
        password=unquote(password) if password else None,
    )


def _seconds(value: str, shown: str) -> float:
    """``call_timeout``'s value: a positive, finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ConfigurationError(
            f"call_timeout={value!r} in {shown!r} is not a positive number of seconds; give "
            f"e.g. call_timeout=5 (the default is {DEFAULT_CALL_TIMEOUT:g})"
        )
    return seconds


#: libpq parameters whose value is a whole number, and those that take one of a few words: a
#: bad value is refused when the host is built, not met as a connection failure at start.
_WHOLE_NUMBERS = (
    "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout",
)
_WORDS = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
}


def _check_value(name: str, value: str, shown: str) -> None:
    if name in _WHOLE_NUMBERS and not value.strip().isdigit():
        raise ConfigurationError(f"{name}={value!r} in {shown!r} is not a whole number of seconds or a count")
    if name in _WORDS and value not in _WORDS[name]:
        raise ConfigurationError(
            f"{name}={value!r} in {shown!r} is not one of {', '.join(_WORDS[name])}"
        )


def _check_parameters(conninfo: str, shown: str, password: str | None) -> None:
    """Refuse a query parameter libpq does not know, as libpq's own parser reads the URL.

    Without the driver installed nothing is checked here: the plugin host then names the
    extra to install before anything connects.
    """
    try:
        from psycopg.conninfo import conninfo_to_dict
    except ImportError:
        return
    try:
        conninfo_to_dict(conninfo)
    except Exception as exc:
        text = str(exc).strip()
        if password:
            text = text.replace(password, "***")
        raise ConfigurationError(
            f"{shown!r} is not a URL libpq accepts ({text}); its query parameters must be "
            "wfe's (schema, pool_size, call_timeout, existing) or libpq connection parameters such "
            "as sslmode or connect_timeout"
        ) from None


def store_key(url: str) -> tuple[str, str]:
    """Which store a URL names: the server and database (without password) and the schema."""
    options = parse_url(url)
    parts = urlsplit(options.conninfo)
    host = parts.netloc.rpartition("@")[2]
    return (f"{parts.username or ''}@{host}{parts.path}", options.schema)
