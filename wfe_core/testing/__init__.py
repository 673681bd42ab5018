"""The offline test kit: ``FakeClock``, provider contract suites and pytest fixtures.

The pytest plugin (``wfe_core.testing._pytest_plugin``, loaded automatically through the
``pytest11`` entry point) gives tests ``wfe_fake_clock`` and ``wfe_host`` fixtures.
"""

from ._clock import FakeClock

__all__ = ["FakeClock"]
