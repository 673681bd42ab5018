"""pytest fixtures for testing workflows: a ``FakeClock`` and a started in-memory host.

Loaded automatically (entry point ``pytest11: wfe``) wherever wfe is installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._clock import FakeClock


@pytest.fixture
def wfe_fake_clock() -> FakeClock:
    """A ``FakeClock`` that jumps to the next timer whenever the host is idle."""
    return FakeClock(auto_advance=True)


try:
    import pytest_asyncio
except ImportError:  # the host fixture needs an async test runner
    pass
else:

    @pytest_asyncio.fixture
    async def wfe_host(wfe_fake_clock: FakeClock) -> AsyncIterator[object]:
        """A started ``WorkflowHost`` on ``memory://`` with ``wfe_fake_clock``; stopped after."""
        from wfe_core._host import WorkflowHost

        async with WorkflowHost("memory://", clock=wfe_fake_clock) as host:
            yield host
