"""Declares the ``opensearch://`` and ``opensearch+https://`` search index (entry point ``wfe.opensearch``).

Imports no driver at import time: the index imports opensearch-py when the host starts it, so
a missing ``wfe[opensearch]`` extra is a clear ``MissingDependencyError``. The backend offers
search only; persistence, lock and queue come from another store, whose index outbox feeds it.

The test store gives each test its own index prefix on the node that ``WFE_TEST_OPENSEARCH_URL``
names (``scripts/services.sh`` starts one), and deletes its index and template afterwards.
wfe's suites run a host with this index beside every persistence scheme whose store processes
share (``sqlite+opensearch``: SQLite's outbox feeds it), from this test store alone.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any

import attrs

from wfe_core.backends import Capability, ProviderBackend
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl

from ._url import OpenSearchOptions, parse_url

__all__ = ["OpenSearchBackend", "wfe_providers"]

#: The variable naming the test node: ``opensearch://127.0.0.1:9200``.
TEST_URL_VARIABLE = "WFE_TEST_OPENSEARCH_URL"


def store_key(url: str) -> Hashable:
    """The node and index a URL names: URLs of one host that name both share one index.

    Raises:
        ConfigurationError: a malformed URL.
    """
    options = parse_url(url)
    return (options.use_ssl, options.host, options.port, options.index)


class OpenSearchBackend(ProviderBackend):
    """One index on one OpenSearch node: the search index of a host.

    The index owns its client (it is the only capability), so the backend has nothing to
    share: :meth:`connect` and :meth:`disconnect` are the index's ``start`` and ``close``.

    Raises:
        ConfigurationError: a malformed URL.
    """

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.options: OpenSearchOptions = parse_url(url)

    def make(self, capability: Capability) -> object | None:
        if capability is Capability.SEARCH:
            from ._search import OpenSearchSearchIndex

            return OpenSearchSearchIndex(self.options)
        return None

    def reuse_for(self, url: str) -> None:
        """Refuse a URL for this index with other credentials or TLS options.

        Raises:
            ConfigurationError: the options differ.
        """
        from wfe_core.errors import ConfigurationError

        if parse_url(url) != self.options:
            raise ConfigurationError(
                f"two URLs of this host name the index {self.options.index_name!r} on "
                f"{self.options.host}:{self.options.port} with different options; give them "
                "the same user, password and TLS options"
            )

    def __repr__(self) -> str:
        return f"OpenSearchBackend({self.options.display!r})"


@contextlib.contextmanager
def _test_store(directory: Path) -> Iterator[str]:
    from wfe_core.testing import service_url

    base = service_url(TEST_URL_VARIABLE, "opensearch")
    options = parse_url(base)
    prefix = f"wfe-test-{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in base else "?"
    try:
        # A short refresh interval: each index write waits for one, and the suites write often.
        yield f"{base}{separator}index={prefix}&refresh_interval=50ms"
    finally:
        _drop(attrs.evolve(options, index=prefix))


def _drop(options: OpenSearchOptions) -> None:
    """Delete the index and template of a test store (sync: a test store runs in any fixture)."""
    from opensearchpy import OpenSearch

    tls: dict[str, Any] = {}
    if options.use_ssl:
        tls = {"use_ssl": True, "verify_certs": options.verify_certs, "ca_certs": options.ca_certs}
    client = OpenSearch(
        hosts=[{"host": options.host, "port": options.port}],
        http_auth=(options.user, options.password or "") if options.user else None,
        timeout=30,
        **tls,
    )
    try:
        client.indices.delete(index=options.index_name, ignore_unavailable=True)
        client.indices.delete_index_template(name=options.template_name, ignore=[404])
    finally:
        client.close()


def _spec(scheme: str, description: str, tested_as: str | None = None) -> ProviderSpec:
    return ProviderSpec(
        scheme=scheme,
        capabilities={Capability.SEARCH},
        backend=OpenSearchBackend,
        store_key=store_key,
        test_store=TestStore(_test_store, shared_across_processes=True),
        extra="opensearch",
        driver="opensearchpy",
        description=description,
        tested_as=tested_as,
    )


@hookimpl
def wfe_providers() -> list[ProviderSpec]:
    """The ``opensearch://`` scheme and its TLS form ``opensearch+https://``: search only."""
    return [
        _spec("opensearch", "OpenSearch search index, fed from the store's outbox"),
        # Its test store is the plain node (no TLS node here), so its suites are opensearch's.
        _spec(
            "opensearch+https",
            "OpenSearch search index over TLS (certificates verified)",
            tested_as="opensearch",
        ),
    ]
