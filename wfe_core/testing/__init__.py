"""The offline test kit: ``FakeClock``, provider contract suites, empty stores and pytest fixtures.

The pytest plugin (``wfe_core.testing._pytest_plugin``, loaded automatically through the
``pytest11`` entry point) gives tests ``wfe_fake_clock``, ``wfe_host`` and ``wfe_store_url``
fixtures. Provider packages use :func:`service_url` and :class:`StoreUnavailableError` in
their test stores (see ``docs/providers.md``).
"""

from ._clock import FakeClock
from ._stores import StoreUnavailableError, empty_store, service_url, store_schemes

__all__ = ["FakeClock", "StoreUnavailableError", "empty_store", "service_url", "store_schemes"]
