"""The offline test kit: ``FakeClock``, provider contract suites, composed test stores, and the
suites every provider runs.

The pytest plugin (``wfe_core.testing._pytest_plugin``, loaded automatically through the
``pytest11`` entry point) gives tests ``wfe_fake_clock``, ``wfe_host``, ``wfe_stores`` and
``wfe_store_url`` fixtures. Provider packages use :func:`service_url` and
:class:`StoreUnavailableError` in their test stores (see ``docs/providers.md``), and run every
suite (contracts, scenarios, failure paths, bad input, exact data, crash tests) with
``python -m wfe_core.testing --persistence SCHEME [--lock SCHEME] [--queue SCHEME]
[--search SCHEME] [pytest args]``.
"""

from ._clock import FakeClock
from ._compose import Stores, StoreSet, open_stores, store_sets
from ._stores import StoreUnavailableError, empty_store, service_url, store_schemes

__all__ = [
    "FakeClock",
    "StoreSet",
    "StoreUnavailableError",
    "Stores",
    "empty_store",
    "open_stores",
    "service_url",
    "store_schemes",
    "store_sets",
]
