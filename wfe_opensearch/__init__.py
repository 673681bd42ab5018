"""OpenSearch search index for wfe: find any workflow by text, status, definition, reference and time.

Install with ``pip install "wfe[opensearch]"`` (opensearch-py and its async client). A host
keeps its workflows in any store and searches them in OpenSearch::

    WorkflowHost(persistence="sqlite:///app.db", search="opensearch://search:9200?index=wfe")
    WorkflowHost(persistence="sqlite:///app.db",
                 search="opensearch+https://user:password@search:9200")

URL options: ``index=<prefix>`` (default ``wfe``: the index is ``<prefix>-workflows``),
``verify_certs=true|false`` and ``ca_certs=<file>`` (``opensearch+https://`` only; certificates
are verified by default), ``timeout=<seconds>`` (default 10). The password is never shown in
messages or logs.

The index follows the durable state through the persistence store's outbox: a slow or absent
cluster delays the index, never a workflow, and it catches up when the node is back. Rebuild
it from persistence with ``await host.rebuild_search_index()`` or ``wfe reindex --db URL
--search URL``, safe while hosts run. See :mod:`wfe_opensearch._search` for how the search rule
of :mod:`wfe_core.search` is kept exactly.
"""

from ._plugin import OpenSearchBackend
from ._search import OpenSearchSearchIndex
from ._url import OpenSearchOptions

__all__ = ["OpenSearchBackend", "OpenSearchOptions", "OpenSearchSearchIndex"]
