"""Fixtures of the OpenSearch tests: a fresh index URL, a sync client on it, and waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from wfe_core.testing._pytest_plugin import store_or_skip

pytest.importorskip("opensearchpy")

from wfe_opensearch._url import OpenSearchOptions, parse_url  # noqa: E402


@pytest.fixture
def search_url(tmp_path: Path) -> Iterator[str]:
    """An ``opensearch://`` URL naming a fresh index, deleted after the test."""
    with store_or_skip("opensearch", tmp_path) as made:
        yield made


@pytest.fixture
def node(search_url: str) -> Iterator[Any]:
    """A sync opensearch-py client on the test node (to look at or break the index)."""
    from opensearchpy import OpenSearch

    options = parse_url(search_url)
    client = OpenSearch(hosts=[{"host": options.host, "port": options.port}], timeout=30)
    yield client
    client.close()


@pytest.fixture
def options(search_url: str) -> OpenSearchOptions:
    return parse_url(search_url)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60
) -> None:
    """Poll ``condition`` until it holds; fail saying ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout} s")
        await asyncio.sleep(0.1)
