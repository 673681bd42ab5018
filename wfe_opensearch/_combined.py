"""The test combination ``sqlite+opensearch://``: SQLite for everything but search, which is OpenSearch.

Declared by the entry point ``wfe.opensearch-combined``; the plugin host loads it.

**Why.** wfe's suites (scenarios, bad input, crash tests) run once per installed scheme that
offers persistence, each on one URL from the scheme's test store. An OpenSearch store offers
search only, so the suites would never run a host whose index is OpenSearch, fed from the
store's outbox. As ``sqlite+valkey://`` does for Valkey (see :mod:`wfe_valkey._plugin`), the
combination is a scheme of its own, so every suite takes it up with no change to wfe_core::

    sqlite+opensearch:///path/wfe.db?opensearch=<an opensearch:// URL, quoted>

is a SQLite store for persistence, lock and queue with that OpenSearch index for search. Its
test store makes both: a file in the test's directory and a fresh index prefix on the test
node, whose index and template are deleted afterwards.

The SQLite search index is never made on such a store (only the backend's ``SEARCH`` is
OpenSearch), so SQLite writes each workflow to its index outbox and the host's indexer drains
it into OpenSearch: the path a production ``WorkflowHost("sqlite:///app.db",
search="opensearch://...")`` takes, which is how users should spell it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

from wfe_core.backends import Capability, CombinedBackend
from wfe_core.errors import ConfigurationError
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

__all__ = ["SearchElsewhereBackend", "combined", "join_combined", "split_combined"]

#: The option of a combined URL that holds the OpenSearch URL.
OPTION = "opensearch"


def split_combined(url: str) -> tuple[str, str]:
    """``(base URL, OpenSearch URL)`` of a ``<base>+opensearch://...?opensearch=...`` URL.

    Raises:
        ConfigurationError: no single ``opensearch=`` option, or a scheme that is not
            ``<base>+opensearch``.
    """
    # By hand: urlsplit/urlunsplit would drop the empty host of sqlite:///path.
    head, _, query = url.partition("?")
    scheme, _, after = head.partition("://")
    base_scheme, _, tail = scheme.partition("+")
    params = [p for p in query.split("&") if p]
    ours = [unquote(p[len(OPTION) + 1 :]) for p in params if p.startswith(f"{OPTION}=")]
    if tail.lower() != OPTION or not base_scheme or len(ours) != 1:
        raise ConfigurationError(
            f"write a combined URL as {base_scheme or 'sqlite'}+opensearch://<the rest of the "
            "persistence URL>?opensearch=<an opensearch:// URL, quoted>; outside the test "
            "suites, prefer WorkflowHost('sqlite:///app.db', search='opensearch://...')"
        )
    rest = "&".join(p for p in params if not p.startswith(f"{OPTION}="))
    return f"{base_scheme}://{after}" + (f"?{rest}" if rest else ""), ours[0]


def join_combined(base_url: str, search_url: str) -> str:
    """The combined URL of a persistence URL and an OpenSearch URL (see :func:`split_combined`)."""
    scheme, _, after = base_url.partition("://")
    separator = "&" if "?" in after else "?"
    return f"{scheme}+{OPTION}://{after}{separator}{OPTION}={quote(search_url, safe='')}"


class SearchElsewhereBackend(CombinedBackend):
    """A persistence store (SQLite) whose search index is an OpenSearch index.

    Raises:
        ConfigurationError: a malformed URL, or an ``opensearch=`` option that is not an
            ``opensearch://`` URL.
    """

    def __init__(self, url: str) -> None:
        from wfe_core._plugins import PluginHost

        from ._plugin import OpenSearchBackend

        base_url, search_url = split_combined(url)
        plugins = PluginHost()
        if plugins.spec_for(search_url).backend is not OpenSearchBackend:
            raise ConfigurationError(
                f"the opensearch= option of a {plugins.spec_for(base_url).scheme}+opensearch "
                "URL must be an opensearch:// or opensearch+https:// URL"
            )
        super().__init__(url, plugins.backend(base_url), OpenSearchBackend(search_url))
        self.index = self.other

    def make(self, capability: Capability) -> object | None:
        if capability is Capability.SEARCH:
            # Never the base store's own index: a SQLite index, once made, would take the
            # search writes into each transaction and leave the outbox empty.
            return self.index.provider(capability)
        return self.base.provider(capability)


@contextlib.contextmanager
def _combined_test_store(directory: Path) -> Iterator[str]:
    from wfe_core.testing._stores import empty_store

    from ._plugin import _test_store

    with empty_store("sqlite", directory) as base_url, _test_store(directory) as search_url:
        yield join_combined(base_url, search_url)


class _Combined:
    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        """``sqlite+opensearch://``."""
        return [
            ProviderSpec(
                scheme="sqlite+opensearch",
                capabilities={
                    Capability.PERSISTENCE,
                    Capability.LOCK,
                    Capability.QUEUE,
                    Capability.SEARCH,
                },
                backend=SearchElsewhereBackend,
                test_store=TestStore(_combined_test_store, shared_across_processes=True),
                extra="opensearch",
                driver="opensearchpy",
                description="SQLite persistence with an OpenSearch search index in one URL "
                "(for the test suites)",
            )
        ]


#: The plugin object of the ``opensearch-combined`` entry point.
combined = _Combined()
