"""Stores composed per capability: which schemes serve a host in a test, and their empty stores.

A host takes persistence, lock, queue and search from up to four stores. wfe's suites
(scenarios, failure paths, bad input, exact data, crash tests) run on a :class:`StoreSet`: a
persistence scheme and, for each other capability, the scheme that serves it (``None``: the
persistence scheme's own). Every scheme's test store is declared by its provider package
(:class:`~wfe_core.hookspecs.TestStore`), so a lock-only, queue-only or search-only provider is
run through every scenario by declaring its own test store, with no scheme made up for it.

:func:`store_sets` lists the sets a run covers: every installed persistence scheme with its own
lock, queue and search, and every scheme that offers a lock, queue or search but no
persistence, with each persistence scheme whose store processes share (not ``memory``), or
those its test store names (``TestStore.compose_with``). One set
is chosen with the pytest options ``--wfe-persistence``, ``--wfe-lock``, ``--wfe-queue`` and
``--wfe-search`` (``python -m wfe_core.testing`` passes them). :func:`open_stores` makes the
empty stores of one set and yields their URLs as :class:`Stores`.

Imports no pytest and no engine module.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..backends import Capability
from ._stores import StoreUnavailableError

if TYPE_CHECKING:
    from .._plugins import PluginHost

__all__ = ["StoreSet", "Stores", "open_stores", "store_sets"]

#: The capabilities a host takes from a store, in the order of its constructor.
HOST_CAPABILITIES = (Capability.PERSISTENCE, Capability.LOCK, Capability.QUEUE, Capability.SEARCH)
_OTHERS = HOST_CAPABILITIES[1:]


def _plugins(plugin_host: PluginHost | None) -> PluginHost:
    if plugin_host is not None:
        return plugin_host
    from .._plugins import PluginHost

    return PluginHost()


@attrs.frozen
class StoreSet:
    """The schemes that serve a host's capabilities in one test run.

    Attributes:
        persistence: the persistence scheme.
        lock, queue, search: the scheme serving each; ``None`` is the persistence scheme's
            own (for search: an in-process index when the persistence scheme has none).
    """

    persistence: str
    lock: str | None = None
    queue: str | None = None
    search: str | None = None

    @property
    def id(self) -> str:
        """The test id: the distinct schemes joined by ``+`` (``sqlite+valkey``)."""
        return "+".join(self.schemes())

    def __str__(self) -> str:
        return self.id

    def schemes(self) -> list[str]:
        """Every distinct scheme of the set, persistence first."""
        names = [self.persistence]
        for scheme in (self.lock, self.queue, self.search):
            if scheme is not None and scheme not in names:
                names.append(scheme)
        return names

    def check(self, plugin_host: PluginHost | None = None) -> None:
        """Raise ``ConfigurationError`` naming what is wrong when a scheme cannot serve its part.

        Each given scheme must be installed and offer what it is given for; a persistence
        scheme without its own lock or queue needs one given.
        """
        from ..errors import ConfigurationError

        plugins = _plugins(plugin_host)
        problems: list[str] = []
        for capability in HOST_CAPABILITIES:
            scheme: str | None = getattr(self, capability.value)
            if scheme is None:
                continue
            spec = plugins.specs().get(scheme)
            if spec is None:
                problems.append(f"no provider is installed for {scheme}://")
            elif capability not in spec.capabilities:
                offered = ", ".join(sorted(c.value for c in spec.capabilities)) or "nothing"
                problems.append(f"{scheme}:// offers no {capability.value} (it offers {offered})")
        own = plugins.specs().get(self.persistence)
        for capability in (Capability.LOCK, Capability.QUEUE):
            if own is not None and getattr(self, capability.value) is None:
                if capability not in own.capabilities:
                    problems.append(
                        f"{self.persistence}:// has no {capability.value} of its own: give one "
                        f"(--{capability.value} SCHEME)"
                    )
        if problems:
            raise ConfigurationError(f"stores {self.id}: " + "; ".join(problems))

    def has(self, capability: Capability | str, plugin_host: PluginHost | None = None) -> bool:
        """Whether a store of the set serves ``capability`` (not an in-process stand-in)."""
        capability = Capability(capability)
        scheme = getattr(self, capability.value) if capability in _OTHERS else None
        spec = _plugins(plugin_host).specs().get(scheme or self.persistence)
        return spec is not None and capability in spec.capabilities


@attrs.frozen
class Stores:
    """The URLs of one :class:`StoreSet`'s empty stores, as a host takes them.

    Attributes:
        set: the schemes.
        persistence: the persistence URL.
        lock, queue, search: the URL given for each, ``None`` where the persistence store's own
            is used.
    """

    set: StoreSet
    persistence: str
    lock: str | None = None
    queue: str | None = None
    search: str | None = None

    @property
    def id(self) -> str:
        return self.set.id

    def host_options(self) -> dict[str, Any]:
        """Keyword arguments for ``WorkflowHost``: ``WorkflowHost(**stores.host_options())``."""
        options: dict[str, Any] = {"persistence": self.persistence}
        for capability in _OTHERS:
            url = getattr(self, capability.value)
            if url is not None:
                options[capability.value] = url
        return options

    def host(self, **settings: Any) -> Any:
        """A new (unstarted) ``WorkflowHost`` on these stores, with ``settings``."""
        from .._host import WorkflowHost

        return WorkflowHost(**self.host_options(), **settings)

    def to_json(self) -> str:
        """The stores as one string, for a process started by a test (:meth:`from_json`)."""
        return json.dumps({"set": attrs.asdict(self.set), **self.host_options()})

    @classmethod
    def from_json(cls, text: str) -> Stores:
        fields = json.loads(text)
        return cls(set=StoreSet(**fields.pop("set")), **fields)


def store_sets(
    plugin_host: PluginHost | None = None,
    *,
    chosen: StoreSet | None = None,
    capability: Capability | str | Iterable[Capability | str] | None = None,
    shared_across_processes: bool = False,
) -> list[StoreSet]:
    """The store sets a suite runs on, sorted by id.

    Args:
        plugin_host: where to look; one loading the ``wfe`` entry points by default.
        chosen: run on this set only (the ``--wfe-*`` options).
        capability: only sets whose stores serve it, or all of several (persistence by default).
        shared_across_processes: only sets whose every store two processes share (the kill -9
            and multi-process tests), or whose schemes declare no test store (they are then
            skipped with the reason).
    """
    plugins = _plugins(plugin_host)
    specs = {s: spec for s, spec in plugins.specs().items() if spec.tested_as is None}
    if chosen is not None:
        candidates = [chosen]
    else:
        candidates = []
        persistent = sorted(s for s, spec in specs.items() if Capability.PERSISTENCE in spec.capabilities)
        shared = [s for s in persistent if _shared(specs[s]) and s != "memory"]
        for scheme in persistent:
            spec = specs[scheme]
            if {Capability.LOCK, Capability.QUEUE} <= spec.capabilities:
                candidates.append(StoreSet(scheme))
        for scheme, spec in sorted(specs.items()):
            if Capability.PERSISTENCE in spec.capabilities:
                continue
            offers = {c: scheme if c in spec.capabilities else None for c in _OTHERS}
            if not any(offers.values()):
                continue
            partners = spec.test_store.compose_with if spec.test_store is not None else None
            for base in shared if partners is None else [b for b in shared if b in partners]:
                candidates.append(
                    StoreSet(
                        base,
                        lock=offers[Capability.LOCK],
                        queue=offers[Capability.QUEUE],
                        search=offers[Capability.SEARCH],
                    )
                )
    if capability is None:
        wanted: set[Capability] = {Capability.PERSISTENCE}
    elif isinstance(capability, (Capability, str)):
        wanted = {Capability(capability)}
    else:
        wanted = {Capability(c) for c in capability}
    result = []
    for store_set in candidates:
        if not all(store_set.has(c, plugins) for c in wanted):
            continue
        if shared_across_processes and not all(
            scheme not in specs or _shared(specs[scheme]) for scheme in store_set.schemes()
        ):
            continue
        result.append(store_set)
    return sorted(result, key=lambda s: s.id)


def _shared(spec: Any) -> bool:
    return spec.test_store is None or bool(spec.test_store.shared_across_processes)


@contextlib.contextmanager
def open_stores(
    store_set: StoreSet, directory: Path, plugin_host: PluginHost | None = None
) -> Iterator[Stores]:
    """Fresh, empty stores of every scheme in ``store_set``, removed on exit.

    A scheme serving several capabilities gets one store (Valkey's lock and queue share a key
    prefix). Each file-based store gets a directory of its own under ``directory``.

    Raises:
        StoreUnavailableError: a scheme declares no test store, or its service is absent.
        ConfigurationError: the set cannot serve a host (see :meth:`StoreSet.check`).
    """
    from ._stores import empty_store

    plugins = _plugins(plugin_host)
    if any(scheme not in plugins.specs() for scheme in store_set.schemes()):
        missing = [s for s in store_set.schemes() if s not in plugins.specs()]
        raise StoreUnavailableError(f"no provider is installed for {', '.join(f'{s}://' for s in missing)}")
    store_set.check(plugins)
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for n, scheme in enumerate(store_set.schemes()):
            place = directory if n == 0 else directory / f"store-{n}-{scheme}"
            place.mkdir(parents=True, exist_ok=True)
            urls[scheme] = stack.enter_context(empty_store(scheme, place, plugins))

        def url(scheme: str | None) -> str | None:
            return None if scheme is None else urls[scheme]

        yield Stores(
            set=store_set,
            persistence=urls[store_set.persistence],
            lock=url(store_set.lock),
            queue=url(store_set.queue),
            search=url(store_set.search),
        )
