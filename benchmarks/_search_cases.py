"""Search in OpenSearch: how fast a finished workflow becomes searchable, and what indexing costs.

``benchmarks.run`` runs each case in a fresh process, on a SQLite file, with a fresh index
prefix on the node ``WFE_TEST_OPENSEARCH_URL`` names (``scripts/services.sh`` starts one); the
index and its template are deleted after the case::

    python -m benchmarks._search_cases CASE --url sqlite:///dir/wfe.db --params '{...}'

* ``search_latency``: workflows of one async step, started ``spacing_ms`` apart, each awaited
  by ``wait_for_workflow``; a watcher asks the index itself (``host.search_index.search``,
  not ``host.search``, which drains the outbox first and so is always current) every
  ``poll_ms`` for the complete ones. Completion to searchable is when the watcher first saw a
  workflow minus when ``wait_for_workflow`` returned it complete: what another process
  reading the index sees. It is the indexer's batching (``INDEX_BATCH_SECONDS``) plus one
  ``_bulk`` that waits for the index's next refresh (``refresh_interval``, 1 s by default).
* ``chain_search``: the chain of ``_wfe_cases`` (N workflows x S no-op steps, started at once)
  on SQLite, alternately without a search option (SQLite's own index, written in each
  pass's transaction) and with ``search=opensearch://...`` (the outbox, drained into
  OpenSearch in the background), ``pairs`` times in one process; the medians and their ratio.

The index exists before each measurement (its creation is a one-time cost of a deployment,
not of a workflow). Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

from wfe import WorkflowBuilder, WorkflowStatus
from wfe_core.providers import SearchFilter

from . import _wfe_cases
from ._wfe_cases import AsyncNoop, Case, make_host, ms, percentile, run_case

#: The variable naming the node: ``opensearch://127.0.0.1:9200``.
NODE_VARIABLE = "WFE_TEST_OPENSEARCH_URL"


@contextlib.contextmanager
def fresh_index(params: dict[str, Any]) -> Iterator[str]:
    """The URL of a new index prefix on the node (``refresh_interval`` from params, if any)."""
    import attrs

    from wfe_opensearch._plugin import _drop
    from wfe_opensearch._url import parse_url

    base = os.environ.get(NODE_VARIABLE)
    if not base:
        raise SystemExit(f"set {NODE_VARIABLE} (eval \"$(bash scripts/services.sh)\" sets it)")
    prefix = f"wfe-bench-{uuid.uuid4().hex[:12]}"
    url = f"{base}{'&' if '?' in base else '?'}index={prefix}"
    if params.get("refresh_interval"):
        url += f"&refresh_interval={params['refresh_interval']}"
    try:
        yield url
    finally:
        _drop(attrs.evolve(parse_url(base), index=prefix))


async def make_the_index(search_url: str) -> None:
    """Create the index and its template now, as a deployment has them before its workflows."""
    from wfe_opensearch import OpenSearchSearchIndex

    index = OpenSearchSearchIndex(search_url)
    await index.start()
    try:
        await index.search("", SearchFilter(), 0, 0)
    finally:
        await index.close()


def node_cpu_s() -> float:
    """CPU seconds the OpenSearch node's process has used so far (its ``_nodes/stats``)."""
    from urllib.request import urlopen

    from wfe_opensearch._url import parse_url

    options = parse_url(os.environ[NODE_VARIABLE])
    scheme = "https" if options.use_ssl else "http"
    address = f"{scheme}://{options.host}:{options.port}/_nodes/_local/stats/process"
    with urlopen(address, timeout=30) as response:
        stats = json.load(response)
    return float(sum(n["process"]["cpu"]["total_in_millis"] for n in stats["nodes"].values())) / 1000


def sibling(url: str, name: str) -> str:
    """Another SQLite file in the directory of ``url`` (a ``sqlite:///dir/wfe.db`` URL)."""
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


# -- completion to searchable -------------------------------------------------------------------


async def search_latency(url: str, params: dict[str, Any]) -> dict[str, Any]:
    n, spacing = params.get("workflows", 200), params.get("spacing_ms", 20) / 1000
    poll = params.get("poll_ms", 20) / 1000
    definition = WorkflowBuilder(dict).start_with(AsyncNoop).build("bench-search", 1)
    completed: dict[str, float] = {}
    seen: dict[str, float] = {}
    with fresh_index(params) as search_url:
        await make_the_index(search_url)
        async with make_host(url, {**params, "host": {"search": search_url}}) as host:
            host.register(definition)
            done = asyncio.Event()

            async def run_one() -> None:
                wid = await host.start_workflow("bench-search")
                instance = await host.wait_for_workflow(wid, timeout=120)
                completed[wid] = time.perf_counter()
                if instance.status is not WorkflowStatus.COMPLETE:
                    raise RuntimeError(f"workflow {wid} is {instance.status}, not complete")

            async def watch() -> None:
                wanted = SearchFilter(status=WorkflowStatus.COMPLETE, definition_id="bench-search")
                while not (done.is_set() and completed.keys() <= seen.keys()):
                    page = await host.search_index.search("", wanted, 0, n + 10)
                    now = time.perf_counter()
                    for item in page.items:
                        seen.setdefault(item.id, now)
                    await asyncio.sleep(poll)

            watcher = asyncio.create_task(watch())
            runs = []
            for _ in range(n):
                runs.append(asyncio.create_task(run_one()))
                await asyncio.sleep(spacing)
            await asyncio.gather(*runs)
            done.set()
            await asyncio.wait_for(watcher, timeout=120)
    latencies = [max(0.0, seen[wid] - at) for wid, at in completed.items()]
    return {
        "workflows": n,
        "spacing_ms": spacing * 1000,
        "poll_ms": poll * 1000,
        "refresh_interval": params.get("refresh_interval", "1s (the default)"),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies)),
    }


# -- chain throughput with and without the OpenSearch index --------------------------------------


async def chain_search(url: str, params: dict[str, Any]) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    for pair in range(params.get("pairs", 3)):
        for mode in ("without", "with"):
            _wfe_cases.STAMPS.clear()
            gc.collect()
            db = sibling(url, f"{mode}-{pair}.db")
            if mode == "without":
                runs[mode].append(await _wfe_cases.chain(db, params))
                continue
            with fresh_index(params) as search_url:
                await make_the_index(search_url)
                host = {**params.get("host", {}), "search": search_url}
                node_before = node_cpu_s()
                result = await _wfe_cases.chain(db, {**params, "host": host})
                # Counted to the host's stop, which writes what the indexer had left.
                result["node_cpu_s"] = node_cpu_s() - node_before
                runs[mode].append(result)
    without = statistics.median(r["steps_per_s"] for r in runs["without"])
    with_index = statistics.median(r["steps_per_s"] for r in runs["with"])
    return {
        "workflows": params.get("workflows", 1000),
        "steps": params.get("steps", 10),
        "pairs": params.get("pairs", 3),
        "steps_per_s_without": without,
        "steps_per_s_with": with_index,
        "ratio": with_index / without,
        "runs_without": [r["steps_per_s"] for r in runs["without"]],
        "runs_with": [r["steps_per_s"] for r in runs["with"]],
        "cpu_per_step_us_without": statistics.median(r["cpu_per_step_us"] for r in runs["without"]),
        "cpu_per_step_us_with": statistics.median(r["cpu_per_step_us"] for r in runs["with"]),
        # The node shares this machine's cores with the host: its CPU is the host's loss.
        "node_cpu_per_step_us": statistics.median(
            r["node_cpu_s"] / (r["workflows"] * r["steps"]) * 1e6 for r in runs["with"]
        ),
        "elapsed_s_with": [r["elapsed_s"] for r in runs["with"]],
    }


# -- for benchmarks.run -------------------------------------------------------------------------

#: (section, figure, provider, value, unit, target, verdict): ``benchmarks.run.Figure``'s fields.
Row = tuple[str, str, str, float, str, str, str]


def figure_rows(cases: dict[str, Any]) -> list[Row]:
    """The figures of these cases in a run's results (``benchmarks.run.figures`` adds them)."""
    rows: list[Row] = []
    latency = cases.get("search_latency", {}).get("sqlite", {})
    if latency.get("status") == "ok":
        label = f"search: completion -> searchable ({latency['workflows']} paced)"
        rows.append((label, "p50", "sqlite+opensearch", latency["p50_ms"], "ms", "", ""))
        rows.append((label, "p99", "sqlite+opensearch", latency["p99_ms"], "ms", "", ""))
    chain = cases.get("chain_search", {}).get("sqlite", {})
    if chain.get("status") == "ok":
        label = f"chain {chain['workflows']}x{chain['steps']} sync, search index"
        rows.append((label, "steps/s, SQLite's own", "sqlite", chain["steps_per_s_without"],
                     "steps/s", "", ""))
        rows.append((label, "steps/s, OpenSearch", "sqlite+opensearch", chain["steps_per_s_with"],
                     "steps/s", "", ""))
        rows.append((label, "host CPU per step, SQLite's own", "sqlite",
                     chain["cpu_per_step_us_without"], "us", "", ""))
        rows.append((label, "host CPU per step, OpenSearch", "sqlite+opensearch",
                     chain["cpu_per_step_us_with"], "us", "", ""))
        rows.append((label, "node CPU per step", "sqlite+opensearch",
                     chain["node_cpu_per_step_us"], "us", "", ""))
        ok = chain["ratio"] >= 0.9
        rows.append((label, "OpenSearch x SQLite's own", "sqlite+opensearch", chain["ratio"], "x",
                     ">= 0.9x", "PASS" if ok else "MISS"))
    return rows


CASES: dict[str, Case] = {
    "search_latency": search_latency,
    "chain_search": chain_search,
}


def main(argv: list[str] | None = None) -> None:
    run_case(CASES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
