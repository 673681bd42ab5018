"""The pluggy hooks wfe calls, and the declarations plugins return.

A plugin is a module or object with ``@hookimpl`` functions, found through the ``wfe`` entry-point
group (the in-repo providers use the same door). Hooks are sync and cheap: they *declare*
providers with lazy factories; no hook opens a connection. Only ``PluginHost`` calls them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pluggy

__all__ = ["CAPABILITIES", "ProviderSpec", "hookimpl", "hookspec", "wfe_providers"]

hookspec = pluggy.HookspecMarker("wfe")
hookimpl = pluggy.HookimplMarker("wfe")

#: What a provider can offer.
CAPABILITIES = ("persistence", "lock", "queue", "search")

#: ``factory(url, shared)`` builds a provider; ``shared`` is one dict per host, so the
#: factories of one scheme can share a connection (SQLite's lock and queue use its database).
Factory = Callable[[str, dict[str, Any]], Any]


@attrs.frozen
class ProviderSpec:
    """One URL scheme and what it provides.

    Attributes:
        scheme: the URL scheme, e.g. ``"sqlite"``.
        factories: capability name -> factory. Factories import their driver lazily.
        extra: the ``pip install "wfe[extra]"`` that brings the driver, if any.
        driver: the module whose absence means the extra is missing.
        description: one line for ``wfe providers`` and error messages.
    """

    scheme: str
    factories: dict[str, Factory]
    extra: str | None = None
    driver: str | None = None
    description: str = ""


@hookspec
def wfe_providers() -> list[ProviderSpec]:  # type: ignore[empty-body]
    """Declare the providers this plugin offers."""
