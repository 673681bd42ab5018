"""Parsing ``valkey://`` URLs (and ``valkeys://``, ``redis://``, ``rediss://``) into options.

``valkey://[user:password@]host[:port][/db][?prefix=app]``. ``valkeys://`` and ``rediss://``
speak TLS. ``prefix`` starts every key and channel name, so several applications (or test
runs) share one server without seeing each other's leases, queues or events.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlsplit

import attrs

from wfe_core.errors import ConfigurationError

__all__ = ["ValkeyOptions", "parse_url", "store_key"]

DEFAULT_PORT = 6379
DEFAULT_PREFIX = "wfe"
_TLS = {"valkeys", "rediss"}
_SCHEMES = {"valkey", "redis"} | _TLS
#: Options passed on to redis-py as they are (TLS settings of ``valkeys://``).
_PASSED_ON = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_check_hostname"}
_USAGE = "write it as valkey://[user:password@]host[:port][/db][?prefix=app]"


@attrs.frozen
class ValkeyOptions:
    """What a ``valkey://`` URL says.

    Attributes:
        tls: connect with TLS (``valkeys://``, ``rediss://``).
        host, port, db: the server and its database number.
        username, password: credentials, if any (never shown: see :attr:`display`).
        prefix: the start of every key and channel name.
        passed_on: other options handed to redis-py as they are (TLS settings).
    """

    tls: bool
    host: str
    port: int
    db: int
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    prefix: str = DEFAULT_PREFIX
    passed_on: tuple[tuple[str, str], ...] = ()

    @property
    def client_url(self) -> str:
        """The URL redis-py's ``from_url`` takes (credentials included)."""
        auth = ""
        if self.username or self.password:
            auth = f"{quote(self.username or '', safe='')}:{quote(self.password or '', safe='')}@"
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.passed_on)
        url = f"{'rediss' if self.tls else 'redis'}://{auth}{self.host}:{self.port}/{self.db}"
        return f"{url}?{query}" if query else url

    @property
    def display(self) -> str:
        """The server for messages and logs: no credentials."""
        return f"{'valkeys' if self.tls else 'valkey'}://{self.host}:{self.port}/{self.db}?prefix={self.prefix}"

    def scrub(self, text: str) -> str:
        """``text`` without the password."""
        return text.replace(self.password, "***") if self.password else text


def parse_url(url: str) -> ValkeyOptions:
    """The options of a ``valkey://`` URL.

    Raises:
        ConfigurationError: a malformed URL, an unknown option or an empty prefix.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"{url.split('://')[0]}:// is not a Valkey URL; {_USAGE}")
    try:
        host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ConfigurationError(f"bad port in a Valkey URL ({exc}); {_USAGE}") from None
    path = parts.path.strip("/")
    if path and not re.fullmatch(r"\d+", path):
        raise ConfigurationError(f"the database of a Valkey URL is a number, not {path!r}; {_USAGE}")
    prefix = DEFAULT_PREFIX
    passed_on: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "prefix":
            if not value:
                raise ConfigurationError(f"prefix= of a Valkey URL must not be empty; {_USAGE}")
            prefix = value
        elif name in _PASSED_ON:
            passed_on.append((name, value))
        else:
            known = ", ".join(sorted({"prefix", *_PASSED_ON}))
            raise ConfigurationError(f"unknown option {name!r} in a Valkey URL (known: {known})")
    return ValkeyOptions(
        tls=scheme in _TLS,
        host=host,
        port=port,
        db=int(path or 0),
        username=parts.username,
        password=parts.password,
        prefix=prefix,
        passed_on=tuple(passed_on),
    )


def store_key(url: str) -> tuple[object, ...]:
    """One store per server, database and prefix: ``valkey://`` and ``redis://`` for the same
    server share one client in a host."""
    o = parse_url(url)
    return (o.tls, o.host.lower(), o.port, o.db, o.username, o.prefix)
