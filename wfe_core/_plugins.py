"""``PluginHost``: the one owner of the pluggy PluginManager; resolves provider URLs by scheme.

The host builds one per ``WorkflowHost``; nothing else calls ``pm.hook``.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from urllib.parse import urlsplit

import pluggy

from . import hookspecs
from .errors import ConfigurationError, MissingDependencyError
from .hookspecs import CAPABILITIES, ProviderSpec

__all__ = ["PluginHost", "scheme_of"]


def scheme_of(url: str) -> str:
    """The scheme of a provider URL, lower-cased (``sqlite:///x.db`` -> ``sqlite``)."""
    scheme = urlsplit(url).scheme.lower()
    if not scheme or "://" not in url:
        raise ConfigurationError(
            f"{url!r} is not a provider URL; write it as scheme://..., e.g. sqlite:///wfe.db"
        )
    return scheme


class PluginHost:
    """Loads ``wfe`` entry points and opens providers from URLs."""

    def __init__(self, *, load_entry_points: bool = True, plugins: tuple[object, ...] = ()) -> None:
        self._pm = pluggy.PluginManager("wfe")
        self._pm.add_hookspecs(hookspecs)
        for plugin in plugins:
            self._pm.register(plugin)
        if load_entry_points:
            self._pm.load_setuptools_entrypoints("wfe")
        self._specs: dict[str, ProviderSpec] | None = None

    def register(self, plugin: object) -> None:
        """Add a plugin object (for plugins that are not installed as entry points)."""
        self._pm.register(plugin)
        self._specs = None

    def specs(self) -> dict[str, ProviderSpec]:
        """Every declared scheme. Two plugins claiming one scheme is an error."""
        if self._specs is None:
            specs: dict[str, ProviderSpec] = {}
            owners: dict[str, str] = {}
            for impl in self._pm.hook.wfe_providers.get_hookimpls():
                declared: list[ProviderSpec] = impl.function() or []  # type: ignore[assignment]
                for spec in declared:
                    if spec.scheme in specs:
                        raise ConfigurationError(
                            f"two plugins claim the {spec.scheme}:// scheme: "
                            f"{owners[spec.scheme]} and {impl.plugin_name}; uninstall one of them"
                        )
                    unknown = set(spec.factories) - set(CAPABILITIES)
                    if unknown:
                        raise ConfigurationError(
                            f"plugin {impl.plugin_name} declares unknown capabilities {sorted(unknown)}"
                        )
                    specs[spec.scheme] = spec
                    owners[spec.scheme] = impl.plugin_name
            self._specs = specs
        return self._specs

    def spec_for(self, url: str) -> ProviderSpec:
        scheme = scheme_of(url)
        spec = self.specs().get(scheme)
        if spec is None:
            known = ", ".join(f"{s}://" for s in sorted(self.specs())) or "none"
            raise ConfigurationError(
                f"no provider is installed for {scheme}:// (installed: {known}); "
                f'install one, e.g. pip install "wfe[{_guess_extra(scheme)}]"'
            )
        return spec

    def supports(self, url: str, capability: str) -> bool:
        return capability in self.spec_for(url).factories

    def open(self, capability: str, url: str, shared: dict[str, Any] | None = None) -> Any:
        """Build the ``capability`` provider for ``url``.

        Raises:
            ConfigurationError: unknown scheme, or the scheme lacks the capability.
            MissingDependencyError: the provider's driver is not installed.
        """
        spec = self.spec_for(url)
        factory = spec.factories.get(capability)
        if factory is None:
            offers = ", ".join(sorted(spec.factories))
            raise ConfigurationError(
                f"{spec.scheme}:// provides {offers}, not {capability}; "
                f"pass another URL for {capability}"
            )
        if spec.driver and importlib.util.find_spec(spec.driver) is None:
            raise MissingDependencyError(spec.scheme, spec.extra or spec.scheme, spec.driver)
        return factory(url, shared if shared is not None else {})


def _guess_extra(scheme: str) -> str:
    return {"postgresql": "postgres", "postgres": "postgres", "redis": "valkey"}.get(scheme, scheme)
