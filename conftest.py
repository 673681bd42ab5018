"""Ordering for wfe's own parallel test run (``scripts/test.sh``, pytest-xdist).

At the root so that it covers both ``tests/`` and the shipped suites in
``wfe_core/testing/suites/`` when this repository runs them. Every test has stores of its own
(a schema, a key prefix, an index prefix, a file), and the tests that stop or restart a server
start a private one, so tests run side by side on the shared services in any order.

The slow tests (``@pytest.mark.slow``: crash, multi-process and service-restart tests, nested
suite runs, the benchmark smoke run) are dealt out first: pytest-xdist's work-stealing
scheduler gives each worker an equal, contiguous share of the collection at the start and
steals from the end of a share, so each share begins with its part of the slow tests. No worker
then ends the run with a long test alone.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    share = -(-len(items) // workers)  # each worker's first share, rounded up
    ordered: list[pytest.Item] = []
    taken = 0  # of the rest
    for n in range(workers):
        ordered.extend(slow[n::workers])
        more = max(0, share * (n + 1) - len(ordered))
        ordered.extend(rest[taken : taken + more])
        taken += more
    ordered.extend(rest[taken:])
    items[:] = ordered
