"""Fixtures of the Valkey tests: a fresh key prefix on the test server, and the URL of a
fresh SQLite file beside it. Skipped without a server; failed under WFE_REQUIRE_SERVICES=1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wfe_core.testing._pytest_plugin import store_or_skip


@pytest.fixture
def valkey_url(tmp_path: Path) -> Iterator[str]:
    """``valkey://...?prefix=<fresh>``; its keys are deleted afterwards."""
    with store_or_skip("valkey", tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'wfe.db'}"
