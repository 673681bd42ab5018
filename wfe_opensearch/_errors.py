"""Translation of opensearch-py errors into :class:`~wfe_core.errors.ProviderError`.

:class:`~wfe_opensearch.OpenSearchSearchIndex` calls :func:`provider_error` at its boundary, so
no driver exception reaches the host; the driver's error stays reachable as ``__cause__``.

Transient failures become :class:`~wfe_core.errors.ProviderUnavailableError`, which the
indexer and the host wait out: a node that is down, restarting or unreachable (connection
refused, reset, timed out), and a node that pushes back (429 Too Many Requests, 502, 503,
504). The rest are permanent and surface at once as a plain ``ProviderError``: a refused
certificate, a wrong user or password, a mapping that rejects a document. Messages name the
URL without its password, and any text from the driver is scrubbed of it too.
"""

from __future__ import annotations

from typing import Any

from wfe_core.errors import ProviderError, ProviderUnavailableError

from ._url import OpenSearchOptions

__all__ = ["TRANSIENT_STATUSES", "provider_error", "scrub"]

#: HTTP statuses that go away by themselves: the node is overloaded or (re)starting.
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def scrub(text: str, options: OpenSearchOptions) -> str:
    """``text`` without the password of ``options``."""
    if options.password:
        text = text.replace(options.password, "***")
    return text


def provider_error(exc: Exception, options: OpenSearchOptions, doing: str) -> ProviderError:
    """A ProviderError saying what failed while ``doing`` on the node, and what to do next.

    Args:
        exc: the driver's error (an ``opensearchpy`` exception, or an ``OSError``).
        options: the store, for the message.
        doing: what was being done, e.g. ``"indexing 12 workflows"``.
    """
    from opensearchpy import exceptions as os_errors

    where = options.display
    detail = scrub(f"{type(exc).__name__}: {exc}", options)
    if isinstance(exc, os_errors.SSLError):
        return ProviderError(
            f"{doing} failed: the TLS handshake with {where} failed; give the server's CA with "
            f"?ca_certs=<file>, or (for a test node only) ?verify_certs=false ({detail})"
        )
    if isinstance(exc, (os_errors.ConnectionError, OSError, TimeoutError)):
        return ProviderUnavailableError(
            f"{doing} failed: OpenSearch at {where} is unreachable; it is retried when the node "
            f"answers again ({detail})"
        )
    status = getattr(exc, "status_code", None)
    if isinstance(exc, os_errors.AuthenticationException) or status == 401:
        return ProviderError(
            f"{doing} failed: {where} refused the user and password; check them in the URL"
        )
    if isinstance(exc, os_errors.AuthorizationException) or status == 403:
        return ProviderError(
            f"{doing} failed: the user of {where} may not use index {options.index_name!r}; "
            f"grant it read and write on {options.index_name!r} and its index template ({detail})"
        )
    if status in TRANSIENT_STATUSES:
        return ProviderUnavailableError(
            f"{doing} failed: OpenSearch at {where} is overloaded or starting (HTTP {status}); "
            f"it is retried ({detail})"
        )
    return ProviderError(f"{doing} failed on {where} ({detail})")


def bulk_item_error(item: dict[str, Any]) -> tuple[int, str] | None:
    """The status and reason of a failed ``_bulk`` item, or ``None`` when it counts as written.

    A version conflict means the entry already shows this state or a newer one (external
    versions: the newest revision wins), which is what was asked.
    """
    (result,) = item.values()
    status = int(result.get("status", 500))
    if status < 300 or status == 409:
        return None
    error = result.get("error") or {}
    reason = error.get("reason") if isinstance(error, dict) else str(error)
    kind = error.get("type") if isinstance(error, dict) else None
    return status, f"{result.get('_id')}: {kind or 'error'}: {reason}"
