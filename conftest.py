"""Ordering for wfe's own parallel test run (``scripts/test.sh``, pytest-xdist).

At the root so that it covers both ``tests/`` and the shipped suites in
``wfe_core/testing/suites/`` when this repository runs them. Every test has stores of its own
(a schema, a key prefix, an index prefix, a file), and the tests that stop or restart a server
start a private one, so tests run side by side on the shared services in any order.

The slow tests (``@pytest.mark.slow``: crash, multi-process and service-restart tests, the
benchmark smoke run) go first, so the workers share them out at the start instead of one
worker finishing a long test alone at the end.
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first
