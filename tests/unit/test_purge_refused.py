"""A persistence provider without ``WorkflowPurging`` (a third party's) cannot be purged: the
host says so with a ``ConfigurationError``, at construction for ``retention=`` and when
``purge_workflows`` is called; bad purge arguments are refused before anything is deleted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from wfe import WorkflowHost
from wfe.errors import ConfigurationError
from wfe_core._memory import MemoryLock, MemoryPersistence, MemoryQueue

_PURGE_METHODS = {"count_purgeable", "purge_workflows", "purge_events"}


class ThirdPartyStore:
    """Every persistence method of a memory store, and none of the purge ones."""

    def __init__(self) -> None:
        self._inner = MemoryPersistence()

    def __getattr__(self, name: str) -> Any:
        if name in _PURGE_METHODS:
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_retention_on_a_store_that_cannot_purge_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="cannot purge workflows.*leave retention unset"):
        WorkflowHost(ThirdPartyStore(), MemoryLock(), MemoryQueue(), retention=timedelta(days=1))  # type: ignore[arg-type]


async def test_purging_a_store_that_cannot_purge_is_refused() -> None:
    async with WorkflowHost(ThirdPartyStore(), MemoryLock(), MemoryQueue()).open_stores() as host:  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="cannot purge workflows"):
            await host.purge_workflows(older_than=timedelta(days=1))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"older_than": timedelta(days=-1)}, "timedelta of 0 or more"),
        ({"older_than": datetime(2020, 1, 1)}, "needs a time zone"),
        ({"older_than": timedelta(days=1), "status": "suspended"}, "only finished workflows"),
        ({"older_than": timedelta(days=1), "status": []}, "at least one status"),
    ],
)
async def test_bad_purge_arguments_are_refused(options: dict[str, Any], message: str) -> None:
    async with WorkflowHost().open_stores() as host:
        with pytest.raises(ValueError, match=message):
            await host.purge_workflows(**options)


def test_retention_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="retention must be more than 0"):
        WorkflowHost(retention=0)
