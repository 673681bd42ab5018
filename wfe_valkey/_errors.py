"""Translation of redis-py errors into wfe's errors, at the provider's boundary.

Every call to the server goes through :func:`translate`, so no redis-py exception reaches the
host; the driver's error stays reachable as ``__cause__``. The split:

* what goes away by itself is :class:`~wfe_core.errors.ProviderUnavailableError`, retried by
  the host with backoff: a server that is down, restarting, loading its data set, read-only
  (a replica being promoted) or not answering in time;
* a login the server refuses is :class:`~wfe_core.errors.ConfigurationError`;
* anything else is a plain :class:`~wfe_core.errors.ProviderError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfe_core.errors import ConfigurationError, ProviderError, ProviderUnavailableError, WfeError

if TYPE_CHECKING:
    from ._url import ValkeyOptions

__all__ = ["translate"]


def translate(exc: BaseException, options: ValkeyOptions, doing: str) -> WfeError:
    """The wfe error for a redis-py error ``exc`` raised while ``doing`` something."""
    from redis import exceptions as rx

    text = options.scrub(str(exc).strip()) or type(exc).__name__
    where = options.display
    if isinstance(exc, rx.AuthenticationError) or (
        isinstance(exc, rx.ResponseError) and text.startswith(("NOAUTH", "WRONGPASS", "NOPERM"))
    ):
        return ConfigurationError(
            f"Valkey at {where} refused {doing}; check the user name and password in the URL ({text})"
        )
    if isinstance(exc, (rx.ConnectionError, rx.TimeoutError, rx.BusyLoadingError, rx.ReadOnlyError, OSError)):
        return ProviderUnavailableError(f"Valkey at {where} is unavailable ({doing}): {text}")
    if isinstance(exc, rx.ResponseError) and text.startswith(("LOADING", "MASTERDOWN", "TRYAGAIN")):
        return ProviderUnavailableError(f"Valkey at {where} is not ready ({doing}): {text}")
    return ProviderError(f"Valkey at {where} failed {doing}: {text}")
