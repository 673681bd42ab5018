"""Parsing of ``opensearch://`` and ``opensearch+https://`` URLs into :class:`OpenSearchOptions`.

The backend parses its URL when the host is built, so a bad URL fails at once with a
:class:`~wfe_core.errors.ConfigurationError` that says how to write it. The password is kept
out of every ``repr``, message and log line: :attr:`OpenSearchOptions.display` is the URL
without it.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from wfe_core.errors import ConfigurationError

__all__ = ["DEFAULT_INDEX", "OpenSearchOptions", "parse_url"]

#: The index name prefix when the URL names none.
DEFAULT_INDEX = "wfe"

_SCHEMES = {"opensearch": False, "opensearch+https": True}
_FORM = (
    "write it as opensearch://host:9200?index=wfe or opensearch+https://user:password@host:9200 "
    "(options: index=<prefix>, refresh_interval=<1s|200ms>, verify_certs=true|false, "
    "ca_certs=<file>, timeout=<seconds>)"
)
# OpenSearch's rules for index names, narrowed to what a prefix may hold: lower case, no
# characters it forbids, not starting with -, _ or +.
_INDEX = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}")
_INTERVAL = re.compile(r"([1-9][0-9]{0,5})(ms|s|m)")
_TRUE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@attrs.frozen
class OpenSearchOptions:
    """What an ``opensearch://`` URL says.

    Attributes:
        host, port: where the node listens.
        use_ssl: ``opensearch+https://``.
        user: the basic-auth user, if any.
        password: its password (never shown: not in ``repr`` nor :attr:`display`).
        index: the prefix of the index name; the workflows live in ``<index>-workflows``.
        refresh_interval: how often the index makes new writes searchable (OpenSearch's
            setting of that name, given to the index when it is made). A write returns once
            it is searchable, so this is how long an index write takes at most: shorter is
            fresher, longer is cheaper for the cluster.
        verify_certs: check the server's TLS certificate (on by default).
        ca_certs: a CA bundle file to check it against, if not the system's.
        timeout: seconds one request may take.
    """

    host: str
    port: int
    use_ssl: bool = False
    user: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    index: str = DEFAULT_INDEX
    refresh_interval: str = "1s"
    verify_certs: bool = True
    ca_certs: str | None = None
    timeout: float = 10.0

    @property
    def index_name(self) -> str:
        """The index holding one document per workflow."""
        return f"{self.index}-workflows"

    @property
    def template_name(self) -> str:
        """The index template that gives :attr:`index_name` its mapping, even when re-created."""
        return f"{self.index}-workflows"

    @property
    def display(self) -> str:
        """The URL without its password, for messages and logs."""
        scheme = "opensearch+https" if self.use_ssl else "opensearch"
        auth = f"{self.user}:***@" if self.user else ""
        return f"{scheme}://{auth}{self.host}:{self.port}?index={self.index}"


def parse_url(url: str) -> OpenSearchOptions:
    """The options of an ``opensearch://`` or ``opensearch+https://`` URL.

    Raises:
        ConfigurationError: an unknown scheme or option, a bad value, or no host.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"{_redacted(url)} is not a valid URL ({exc}); {_FORM}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ConfigurationError(f"{_redacted(url)} is not an OpenSearch URL; {_FORM}")
    if not parts.hostname:
        raise ConfigurationError(f"{_redacted(url)} names no host; {_FORM}")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"{_redacted(url)} has a path; name the index with ?index=<prefix> instead; {_FORM}"
        )
    options: dict[str, object] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in options:
            raise ConfigurationError(f"{_redacted(url)} gives ?{name}= twice")
        if name == "index":
            if not _INDEX.fullmatch(value):
                raise ConfigurationError(
                    f"index={value!r} is not a usable index prefix: use lower-case letters, "
                    "digits, '.', '_' and '-', starting with a letter or digit"
                )
            options[name] = value
        elif name == "refresh_interval":
            if not _INTERVAL.fullmatch(value):
                raise ConfigurationError(
                    f"refresh_interval={value!r}: give a positive interval such as 1s or 200ms"
                )
            options[name] = value
        elif name == "verify_certs":
            if value.lower() not in _TRUE:
                raise ConfigurationError(f"verify_certs={value!r}: write true or false")
            options[name] = _TRUE[value.lower()]
        elif name == "ca_certs":
            options[name] = value
        elif name == "timeout":
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds <= 3600:
                raise ConfigurationError(f"timeout={value!r}: give seconds, above 0, at most 3600")
            options[name] = seconds
        else:
            raise ConfigurationError(f"{_redacted(url)}: unknown option {name!r}; {_FORM}")
    use_ssl = _SCHEMES[scheme]
    if not use_ssl and ("verify_certs" in options or "ca_certs" in options):
        raise ConfigurationError(
            f"{_redacted(url)}: TLS options need opensearch+https://; plain opensearch:// does "
            "not encrypt"
        )
    return OpenSearchOptions(
        host=parts.hostname,
        port=port if port is not None else 9200,
        use_ssl=use_ssl,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        **options,  # type: ignore[arg-type]
    )


def _redacted(url: str) -> str:
    """``url`` with any password replaced by ``***``, for a message about a URL that may not parse."""
    return re.sub(r"(//[^/:@?#]*:)[^@/?#]*@", r"\1***@", url)
