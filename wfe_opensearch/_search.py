"""``OpenSearchSearchIndex``: the search index of workflows in an OpenSearch cluster.

Implements :class:`wfe_core.providers.SearchIndex`; the plugin's backend builds it for an
``opensearch://`` URL, and the host's indexer feeds it from the persistence store's durable
outbox (``wfe_core._indexer``), so a slow or absent cluster never slows or stops a workflow.

**The rule, exactly.** :mod:`wfe_core.search` owns the semantics; this index translates them
(see :mod:`wfe_opensearch._mapping` for the fields). The ``text`` field holds the rule's words
and is analysed by the built-in ``whitespace`` analyzer, which folds nothing, so its terms *are*
the rule's words.
A search splits its terms with :func:`~wfe_core.providers.search_words` and asks, for each word,
a ``prefix`` query on ``text``: a term-level query, never parsed, on terms that are exactly the
words, so "each word starts a word of the text" holds with nothing approximate (no stemming, no
scoring, no ``query_string`` syntax: ``fox*``, ``"lazy dog"``, ``a:b``, ``OR`` are words or
nothing). Filters are ``term`` and ``range`` queries; all clauses are in a ``bool`` filter, so
nothing is scored. Order is ``create_us`` descending, then ``id`` descending, the rule's.
``track_total_hits`` makes the total exact past 10,000.

**Newest state wins.** Writes go through ``_bulk`` with the workflow's revision as an external
version (``version_type=external_gte``): a state older than the one indexed is refused by the
node (a 409, which counts as done), an equal one is written again (a retry, or ``wfe
reindex``), whatever order writes arrive in, from any number of hosts.

**A search sees every write that returned before it.** Writes ask ``refresh=wait_for``: the
``_bulk`` call returns once the next scheduled refresh (every second, or the URL's
``refresh_interval``) has made it searchable.
That is the cheaper of the two correct choices: it adds no refresh of its own (an explicit
refresh per search would force one, and a new small segment, for every search after a write,
and cost every search a second round trip), and the wait falls on the indexer, which runs in
the background, not on workflows.

**Failures.** A request that cannot reach the node, or that the node pushes back (429, 5xx),
raises :class:`~wfe_core.errors.ProviderUnavailableError`; a document the node refuses raises a
``ProviderError`` naming it. Either way the indexer keeps the chunk in the outbox and writes it
again later.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import Any

from wfe_core.errors import ProviderError, ProviderUnavailableError
from wfe_core.models import WorkflowInstance, WorkflowStatus
from wfe_core.providers import SearchFilter, SearchPage, WorkflowSummary, search_words
from wfe_core.search import AT_LEAST, EQUALS, filter_conditions

from ._errors import TRANSIENT_STATUSES, bulk_item_error, provider_error
from ._mapping import (
    MAPPING_VERSION,
    SUMMARY_FIELDS,
    cut_word,
    document,
    micros,
    reference_filter,
    reference_properties,
    summary,
    template,
)
from ._url import OpenSearchOptions, parse_url

__all__ = ["OpenSearchSearchIndex"]

log = logging.getLogger("wfe.opensearch")

#: OpenSearch's default ``index.max_result_window``: ``from + size`` of one request at most.
#: Deeper pages are reached with ``search_after``.
RESULT_WINDOW = 10_000

_SORT = [{"create_us": "desc"}, {"id": "desc"}]


class _DriverNoise(logging.Filter):
    """Drops opensearch-py's own line (with a traceback) for each failed request to a node a
    started index uses: the index raises every failure, translated, and the host logs an
    outage once, so the driver's line would repeat it every poll while a node is down."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: dict[str, int] = {}  # "host:port" -> started indexes using it

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR or not self.nodes:
            return True
        text = record.getMessage()
        return not any(node in text for node in self.nodes)


_NOISE = _DriverNoise()
logging.getLogger("opensearch").addFilter(_NOISE)


class OpenSearchSearchIndex:
    """Search by words and filters, newest first, in one OpenSearch index.

    Args:
        url: an ``opensearch://`` or ``opensearch+https://`` URL, or its parsed options.

    Raises:
        ConfigurationError: a malformed URL.
    """

    def __init__(self, url: str | OpenSearchOptions) -> None:
        self.options = parse_url(url) if isinstance(url, str) else url
        self._client: Any = None
        self._ready = False  # the template and index exist, checked once per opening
        self._ensure_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        return f"OpenSearchSearchIndex({self.options.display!r})"

    async def start(self) -> None:
        """Make the client. Idempotent.

        Contacts no node: a cluster that is down must not stop a host from starting; the
        template and index are made on first use.
        """
        if self._client is not None:
            return
        from opensearchpy import AsyncOpenSearch

        o = self.options
        tls: dict[str, Any] = {}
        if o.use_ssl:
            tls = {"use_ssl": True, "verify_certs": o.verify_certs, "ssl_show_warn": False}
            if o.ca_certs:
                tls["ca_certs"] = o.ca_certs
        self._client = AsyncOpenSearch(
            hosts=[{"host": o.host, "port": o.port}],
            http_auth=(o.user, o.password or "") if o.user else None,
            timeout=o.timeout,
            # The indexer and the host retry with their own backoff; a retry in here would
            # only hold up a search while the node is down.
            max_retries=0,
            retry_on_timeout=False,
            **tls,
        )
        self._ready = False
        self._ensure_lock = asyncio.Lock()
        node = f"{o.host}:{o.port}"
        _NOISE.nodes[node] = _NOISE.nodes.get(node, 0) + 1

    async def close(self) -> None:
        """Close the client's connections. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            node = f"{self.options.host}:{self.options.port}"
            if _NOISE.nodes.get(node, 0) <= 1:
                _NOISE.nodes.pop(node, None)
            else:
                _NOISE.nodes[node] -= 1
            await client.close()

    # -- writes ------------------------------------------------------------------------------

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        """Add or replace one instance's entry, unless it shows a newer revision already."""
        await self.index_workflows([instance])

    async def index_workflows(self, instances: Sequence[WorkflowInstance]) -> None:
        """Add or replace many instances' entries in one ``_bulk`` request.

        Raises:
            ProviderUnavailableError: the node is unreachable or pushed back; retry later.
            ProviderError: the node refused some documents (named in the message).
        """
        if not instances:
            return
        client = await self._ready_client()
        index = self.options.index_name
        lines: list[str] = []
        for instance in instances:
            action = {
                "_index": index,
                "_id": instance.id,
                "version": instance.revision,
                "version_type": "external_gte",
            }
            lines.append(json.dumps({"index": action}))
            lines.append(json.dumps(document(instance), ensure_ascii=False))
        body = "\n".join(lines) + "\n"
        doing = f"indexing {len(instances)} workflow(s)"
        try:
            response = await client.bulk(body=body, refresh="wait_for")
        except Exception as exc:
            raise provider_error(exc, self.options, doing) from exc
        if not response.get("errors"):
            return
        failures = [e for e in map(bulk_item_error, response.get("items", [])) if e is not None]
        if not failures:
            return  # only version conflicts: those entries show a newer state already
        statuses = {status for status, _ in failures}
        shown = "; ".join(reason for _, reason in failures[:3])
        more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
        message = (
            f"{doing} on {self.options.display}: the node refused {len(failures)}: {shown}{more}"
        )
        if statuses <= TRANSIENT_STATUSES:
            raise ProviderUnavailableError(message + "; they are written again later")
        raise ProviderError(message)

    async def remove_workflows(self, workflow_ids: Sequence[str]) -> None:
        """Delete these workflows' entries (purged ones) in one ``_bulk`` request.

        An entry that is not there counts as removed (a 404 item).

        Raises:
            ProviderUnavailableError: the node is unreachable or pushed back; retry later.
            ProviderError: the node refused some deletions.
        """
        if not workflow_ids:
            return
        client = await self._ready_client()
        index = self.options.index_name
        body = "".join(
            json.dumps({"delete": {"_index": index, "_id": wid}}) + "\n" for wid in workflow_ids
        )
        doing = f"removing {len(workflow_ids)} purged workflow(s)"
        try:
            response = await client.bulk(body=body, refresh="wait_for")
        except Exception as exc:
            raise provider_error(exc, self.options, doing) from exc
        items = [i for i in response.get("items", []) if int(next(iter(i.values())).get("status", 500)) != 404]
        failures = [e for e in map(bulk_item_error, items) if e is not None]
        if failures:
            message = f"{doing} on {self.options.display}: the node refused {len(failures)}: {failures[0][1]}"
            if {status for status, _ in failures} <= TRANSIENT_STATUSES:
                raise ProviderUnavailableError(message + "; they are removed later")
            raise ProviderError(message)

    # -- reads -------------------------------------------------------------------------------

    async def search(
        self, terms: str, filters: SearchFilter, skip: int = 0, take: int = 20
    ) -> SearchPage:
        """Instances matching every term (none: all) and the filters, newest first, one page."""
        client = await self._ready_client()
        skip, take = max(skip, 0), max(take, 0)
        query = _query(search_words(terms), filters)
        if skip + take <= RESULT_WINDOW:
            response = await self._search(
                client, query, **{"from": skip, "size": take, "track_total_hits": True}
            )
            return _page(response)
        # Past the window: walk to the page with search_after, reading sort keys only.
        first = await self._search(client, query, size=0, track_total_hits=True)
        total = int(first["hits"]["total"]["value"])
        after: list[Any] | None = None
        left = skip
        while left > 0:
            step = min(left, RESULT_WINDOW)
            extra = {"search_after": after} if after is not None else {}
            hits = (await self._search(client, query, size=step, _source=False, **extra))["hits"]
            if len(hits["hits"]) < step:
                return SearchPage(items=[], total=total)
            after = hits["hits"][-1]["sort"]
            left -= step
        items: list[WorkflowSummary] = []
        while take > 0:
            step = min(take, RESULT_WINDOW)
            extra = {"search_after": after} if after is not None else {}
            hits = (await self._search(client, query, size=step, **extra))["hits"]["hits"]
            items.extend(summary(hit["_source"]) for hit in hits)
            if len(hits) < step:
                break
            after = hits[-1]["sort"]
            take -= step
        return SearchPage(items=items, total=total)

    async def _search(self, client: Any, query: dict[str, Any], **body: Any) -> dict[str, Any]:
        request = {"query": query, "sort": _SORT, "_source": SUMMARY_FIELDS, **body}
        try:
            # ignore_unavailable: an index deleted since first use finds nothing, not an error.
            response: dict[str, Any] = await client.search(
                index=self.options.index_name, body=request, ignore_unavailable=True
            )
        except Exception as exc:
            raise provider_error(exc, self.options, "searching workflows") from exc
        return response

    # -- the template and the index ----------------------------------------------------------

    async def _ready_client(self) -> Any:
        """The client, once the index template and the index exist (made on first use)."""
        client = self._client
        if client is None:
            raise ProviderError(
                f"{self!r} is not started; call start() (a host does), or use it in a host"
            )
        if self._ready:
            return client
        assert self._ensure_lock is not None
        async with self._ensure_lock:
            if not self._ready:
                try:
                    await self._ensure(client)
                except ProviderError:
                    raise
                except Exception as exc:
                    raise provider_error(exc, self.options, "preparing the index") from exc
                self._ready = True
        return client

    async def _ensure(self, client: Any) -> None:
        from opensearchpy.exceptions import RequestError

        name = self.options.index_name
        # Written every time a store is first used: cheap, and a changed template takes.
        await client.indices.put_index_template(
            name=self.options.template_name,
            body=template(name, self.options.refresh_interval),
        )
        try:
            await client.indices.create(index=name)
            log.info("created the search index %s on %s", name, self.options.display)
            return
        except RequestError as exc:
            if getattr(exc, "error", "") != "resource_already_exists_exception":
                raise
        mapping = await client.indices.get_mapping(index=name)
        index_info: dict[str, Any] = next(iter(mapping.values()), {})
        found = index_info.get("mappings", {}).get("_meta", {})
        if found.get("wfe_mapping") == 1:
            # Adding a field and ignore_above are changes an existing index takes in place.
            await client.indices.put_mapping(
                index=name,
                body={"_meta": {"wfe_mapping": MAPPING_VERSION}, "properties": reference_properties()},
            )
            log.info("brought the search index %s on %s to mapping %d", name,
                     self.options.display, MAPPING_VERSION)
            return
        if found.get("wfe_mapping") != MAPPING_VERSION:
            raise ProviderError(
                f"the index {name!r} on {self.options.display} was not made by this version of "
                f"wfe (mapping {found.get('wfe_mapping')!r}, expected {MAPPING_VERSION}); "
                "delete it, or name another with ?index=<prefix>, then run `wfe reindex`"
            )


def _query(words: list[str], filters: SearchFilter) -> dict[str, Any]:
    """The ``bool`` filter of the rule: every word a word-start, every filter equal."""
    # A word asked twice is one clause: a query holds 1,024 clauses at most.
    clauses: list[dict[str, Any]] = [
        {"prefix": {"text": {"value": word}}} for word in dict.fromkeys(map(cut_word, words))
    ]
    bounds: dict[str, int] = {}
    for name, comparison, value in filter_conditions(filters):
        if name == "reference":
            clauses.append(reference_filter(value))
        elif comparison == EQUALS:
            term = value.value if isinstance(value, WorkflowStatus) else value
            clauses.append({"term": {name: term}})
        else:  # create_time, kept in the document as microseconds
            bounds["gte" if comparison == AT_LEAST else "lt"] = micros(value)
    if bounds:
        clauses.append({"range": {"create_us": bounds}})
    return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


def _page(response: dict[str, Any]) -> SearchPage:
    hits = response["hits"]
    return SearchPage(
        items=[summary(hit["_source"]) for hit in hits["hits"]],
        total=int(hits["total"]["value"]),
    )
