"""Contract suites: the executable spec of the provider Protocols in :mod:`wfe_core.providers`.

One suite per capability, written once and run against every provider. A provider passes its
capability's suite, or it is not a provider. Subclass a suite and supply its fixture, which
yields a started, empty provider and closes it afterwards:

- :class:`PersistenceContract` needs ``persistence``, a
  :class:`~wfe_core.providers.PersistenceProvider`;
- :class:`LockContract` needs ``lock``, a :class:`~wfe_core.providers.LockProvider`;
- :class:`QueueContract` needs ``queue``, a :class:`~wfe_core.providers.QueueProvider`;
- :class:`SearchContract` needs ``search_index``, a :class:`~wfe_core.providers.SearchIndex`;
- :class:`HeartbeatContract` needs ``heartbeats``, a :class:`~wfe_core.providers.HeartbeatStore`;
- :class:`PurgeContract` needs ``persistence`` too, and pins the optional
  :class:`~wfe_core.providers.WorkflowPurging` (skipped for a provider without it);
- :class:`LeasedCreationContract` needs ``store_and_lock``, a persistence provider and a lock
  provider on one database, and pins the optional
  :class:`~wfe_core.providers.LeasedCreation` (skipped for a store without it).

For example, in a third-party provider's tests::

    import pytest
    from wfe_core.testing.contracts import LockContract


    class TestMyLock(LockContract):
        @pytest.fixture
        async def lock(self):
            provider = MyLock("mine://localhost")
            await provider.start()
            yield provider
            await provider.close()

The async test methods need pytest-asyncio in auto mode (``asyncio_mode = "auto"``). wfe's own
tests bind the suites in ``tests/contracts/`` to every installed scheme, with the helpers in
:mod:`wfe_core.testing.contracts._targets`.
"""

import pytest

# The suites live outside the test tree, where pytest does not rewrite asserts by itself; without
# this a failing case says only "AssertionError".
pytest.register_assert_rewrite(
    f"{__name__}.heartbeats", f"{__name__}.leased_creation", f"{__name__}.lock", f"{__name__}.persistence",
    f"{__name__}.purge", f"{__name__}.queue", f"{__name__}.search",
)

from .heartbeats import HeartbeatContract
from .leased_creation import LeasedCreationContract
from .lock import LockContract
from .persistence import PersistenceContract
from .purge import PurgeContract
from .queue import QueueContract
from .search import SearchContract

__all__ = [
    "HeartbeatContract",
    "LeasedCreationContract",
    "LockContract",
    "PersistenceContract",
    "PurgeContract",
    "QueueContract",
    "SearchContract",
]
