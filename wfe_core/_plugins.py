"""``PluginHost``: the one owner of the pluggy PluginManager; resolves provider URLs by scheme.

The host builds one per ``WorkflowHost`` and keeps its stores in a :class:`ProviderBackends`;
nothing else calls ``pm.hook``. Loading is defensive: a plugin that fails to import is logged
and skipped (and named when a URL needs a scheme nobody declares), a misspelled hook is a
``ConfigurationError`` naming the plugin, and any plugin can be blocked by its entry-point name
(``PluginHost(blocked=...)`` or ``WFE_BLOCK_PLUGINS=name1,name2``).
"""

from __future__ import annotations

import difflib
import importlib.metadata
import importlib.util
import logging
import os
from collections.abc import Hashable, Iterable, Iterator
from typing import cast
from urllib.parse import urlsplit

import pluggy

from . import hookspecs
from .backends import Capability, ProviderBackend
from .errors import ConfigurationError, MissingDependencyError
from .hookspecs import ProviderSpec

__all__ = ["BLOCK_PLUGINS_VARIABLE", "PluginHost", "ProviderBackends", "scheme_of"]

log = logging.getLogger("wfe.plugins")

#: Comma-separated entry-point names of ``wfe`` plugins not to load.
BLOCK_PLUGINS_VARIABLE = "WFE_BLOCK_PLUGINS"

# Entry points already reported broken in this process: every host would say it again.
_reported: set[str] = set()


def scheme_of(url: str) -> str:
    """The scheme of a provider URL, lower-cased (``sqlite:///x.db`` -> ``sqlite``)."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:  # e.g. an unbalanced "[" in the host
        raise ConfigurationError(f"{url!r} is not a valid URL ({exc}); check its host part") from None
    if not scheme or "://" not in url:
        raise ConfigurationError(
            f"{url!r} is not a provider URL; write it as scheme://..., e.g. sqlite:///wfe.db"
        )
    return scheme


def _capability(value: Capability | str) -> Capability:
    try:
        return Capability(value)
    except ValueError:
        known = ", ".join(c.value for c in Capability)
        raise ConfigurationError(f"{value!r} is not a capability (one of: {known})") from None


class PluginHost:
    """Loads ``wfe`` entry points and makes provider backends from URLs.

    Args:
        load_entry_points: load the installed ``wfe`` entry points.
        plugins: plugin objects or modules to register as well.
        blocked: entry-point (or plugin) names never to load, added to those in
            ``WFE_BLOCK_PLUGINS``.

    Raises:
        ConfigurationError: a plugin implements a hook wfe does not have (a misspelling).
    """

    def __init__(
        self,
        *,
        load_entry_points: bool = True,
        plugins: tuple[object, ...] = (),
        blocked: Iterable[str] = (),
    ) -> None:
        self._pm = pluggy.PluginManager("wfe")
        self._pm.add_hookspecs(hookspecs)
        from_env = os.environ.get(BLOCK_PLUGINS_VARIABLE, "").split(",")
        self.blocked: frozenset[str] = frozenset(
            name.strip() for name in (*blocked, *from_env) if name.strip()
        )
        for name in self.blocked:
            self._pm.set_blocked(name)
        #: Entry-point name -> why it was skipped (it failed to load).
        self.broken: dict[str, str] = {}
        for plugin in plugins:
            self._pm.register(plugin)
        if load_entry_points:
            self._load_entry_points()
        self._check_hooks()
        self._specs: dict[str, ProviderSpec] | None = None

    def _load_entry_points(self) -> None:
        for entry_point in importlib.metadata.entry_points(group="wfe"):
            name = entry_point.name
            if self._pm.has_plugin(name) or self._pm.is_blocked(name):
                continue
            try:
                self._pm.register(entry_point.load(), name=name)
            except Exception as exc:  # one broken plugin must not stop every host
                reason = f"{type(exc).__name__}: {exc}"
                self.broken[name] = reason
                if name not in _reported:
                    _reported.add(name)
                    log.warning(
                        "the wfe plugin %r (%s) failed to load and is skipped: %s; reinstall "
                        "or fix its package, or block it with %s=%s",
                        name,
                        entry_point.value,
                        reason,
                        BLOCK_PLUGINS_VARIABLE,
                        name,
                    )

    def _check_hooks(self) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self._pm.get_name(exc.plugin) or repr(exc.plugin)
            known = ", ".join(n for n in dir(hookspecs) if n.startswith("wfe_"))
            raise ConfigurationError(
                f"the wfe plugin {name!r} implements a hook wfe does not have ({exc}); wfe's "
                f"hooks are: {known}. Fix the plugin's spelling, or block it with "
                f"{BLOCK_PLUGINS_VARIABLE}={name}"
            ) from exc

    def register(self, plugin: object) -> None:
        """Add a plugin object (for plugins that are not installed as entry points).

        Raises:
            ConfigurationError: the plugin implements a hook wfe does not have.
        """
        self._pm.register(plugin)
        self._check_hooks()
        self._specs = None

    def specs(self) -> dict[str, ProviderSpec]:
        """Every declared scheme. Two plugins claiming one scheme is an error."""
        if self._specs is None:
            specs: dict[str, ProviderSpec] = {}
            owners: dict[str, str] = {}
            for impl in self._pm.hook.wfe_providers.get_hookimpls():
                declared = cast(list[ProviderSpec], impl.function() or [])
                for spec in declared:
                    if spec.scheme in specs:
                        raise ConfigurationError(
                            f"two plugins claim the {spec.scheme}:// scheme: "
                            f"{owners[spec.scheme]} and {impl.plugin_name}; uninstall one of "
                            f"them, or block one with {BLOCK_PLUGINS_VARIABLE}=<name>"
                        )
                    unknown = [c for c in spec.capabilities if not isinstance(c, Capability)]
                    if unknown:
                        raise ConfigurationError(
                            f"plugin {impl.plugin_name} declares unknown capabilities "
                            f"{sorted(map(str, unknown))}; use wfe_core.backends.Capability"
                        )
                    specs[spec.scheme] = spec
                    owners[spec.scheme] = impl.plugin_name
            self._specs = specs
        return self._specs

    def spec_for(self, url: str) -> ProviderSpec:
        """The spec of ``url``'s scheme.

        Raises:
            ConfigurationError: no installed plugin declares the scheme.
        """
        scheme = scheme_of(url)
        spec = self.specs().get(scheme)
        if spec is None:
            known = ", ".join(f"{s}://" for s in sorted(self.specs())) or "none"
            message = f"no provider is installed for {scheme}:// (installed: {known}); " + _suggestion(
                scheme, self.specs()
            )
            if self.broken:
                failed = "; ".join(f"{n} ({why})" for n, why in sorted(self.broken.items()))
                message += f". These wfe plugins failed to load and may declare it: {failed}"
            if self.blocked:
                message += f". Blocked plugins: {', '.join(sorted(self.blocked))}"
            raise ConfigurationError(message)
        return spec

    def supports(self, url: str, capability: Capability | str) -> bool:
        """Whether ``url``'s scheme offers ``capability``."""
        return _capability(capability) in self.spec_for(url).capabilities

    def store_key(self, url: str) -> Hashable:
        """Which store ``url`` names: URLs with equal keys share one backend in a host."""
        return self.spec_for(url).key_of(url)

    def existing_url(self, url: str, *, read_only: bool = False) -> str:
        """``url`` spelled so that opening it creates no store, and changes nothing if ``read_only``.

        For tools that look at or edit the workflows of a store that must exist already (the
        ``wfe`` command): a mistyped path is then an error, not a new, empty store. Asks the
        scheme's :attr:`ProviderSpec.existing_url`; a scheme without one gets ``url`` back.

        Raises:
            ConfigurationError: unknown scheme or malformed URL.
        """
        existing = self.spec_for(url).existing_url
        return url if existing is None else existing(url, read_only)

    def backend(self, url: str) -> ProviderBackend:
        """A new, unstarted backend for the store at ``url``.

        Raises:
            ConfigurationError: unknown scheme or malformed URL.
            MissingDependencyError: the provider's driver is not installed.
        """
        spec = self.spec_for(url)
        if spec.driver and importlib.util.find_spec(spec.driver) is None:
            raise MissingDependencyError(spec.scheme, spec.extra or spec.scheme, spec.driver)
        return spec.backend(url)

    def check_offers(self, url: str, capability: Capability | str) -> Capability:
        """``capability`` as a :class:`Capability`, if ``url``'s scheme offers it.

        Raises:
            ConfigurationError: unknown scheme, or the scheme lacks the capability.
        """
        wanted = _capability(capability)
        spec = self.spec_for(url)
        if wanted not in spec.capabilities:
            offers = ", ".join(c.value for c in Capability if c in spec.capabilities)
            raise ConfigurationError(
                f"{spec.scheme}:// provides {offers}, not {wanted.value}; "
                f"pass another URL for {wanted.value}"
            )
        return wanted


class ProviderBackends:
    """The stores of one host: one backend per store, started and closed once each.

    ``sqlite:///a.db`` given for persistence and for search is one backend (one connection);
    ``memory://`` given twice is one in-process store.

    Args:
        plugins: where the schemes come from.
    """

    def __init__(self, plugins: PluginHost) -> None:
        self._plugins = plugins
        self._backends: dict[Hashable, ProviderBackend] = {}

    def __iter__(self) -> Iterator[ProviderBackend]:
        return iter(list(self._backends.values()))

    def backend(self, url: str) -> ProviderBackend:
        """The backend of the store at ``url``, made on first use.

        Raises:
            ConfigurationError: unknown scheme, malformed URL, or a URL the store's
                backend refuses (another URL of this host opened it with other options).
            MissingDependencyError: the provider's driver is not installed.
        """
        key = self._plugins.store_key(url)
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = self._plugins.backend(url)
        elif url != backend.url:
            backend.reuse_for(url)
        return backend

    def provider(self, capability: Capability | str, url: str) -> object:
        """The ``capability`` provider of the store at ``url``.

        Raises:
            ConfigurationError: unknown scheme, or the scheme lacks the capability.
            MissingDependencyError: the provider's driver is not installed.
        """
        wanted = self._plugins.check_offers(url, capability)
        provider = self.backend(url).provider(wanted)
        if provider is None:
            raise ConfigurationError(
                f"{scheme_of(url)}:// declares {wanted.value} but its backend made none; "
                "this is a bug in its plugin"
            )
        return provider

    async def start(self) -> None:
        """Start every backend, in the order they were made; on failure, close the started."""
        started: list[ProviderBackend] = []
        try:
            for backend in self:
                await backend.start()
                started.append(backend)
        except BaseException:
            for backend in reversed(started):
                try:
                    await backend.close()
                except Exception:
                    log.exception("closing %r failed", backend)
            raise

    async def close(self) -> None:
        """Close every backend, newest first; a failure is logged and the rest still close."""
        for backend in reversed(list(self)):
            try:
                await backend.close()
            except Exception:  # closing must not hide the reason we are stopping
                log.exception("closing %r failed", backend)


#: wfe's own extras, by the schemes their providers declare.
_EXTRAS = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "valkey": "valkey",
    "valkeys": "valkey",
    "redis": "valkey",
    "rediss": "valkey",
    "opensearch": "opensearch",
    "opensearch+https": "opensearch",
}


def _suggestion(scheme: str, installed: dict[str, ProviderSpec]) -> str:
    """What to do about an unknown scheme: install wfe's extra for it, or fix a misspelling."""
    extra = _EXTRAS.get(scheme)
    if extra is not None:
        return f'install it with pip install "wfe[{extra}]"'
    close = difflib.get_close_matches(scheme, [*installed, *_EXTRAS], n=2, cutoff=0.6)
    if close:
        return f"did you mean {' or '.join(f'{c}://' for c in close)}?"
    return "check the scheme's spelling, or install the package that provides it"
