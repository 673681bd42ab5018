"""The persistence contract suite, run against every installed provider offering it (see conftest.py)."""

from wfe_core.testing.contracts import PersistenceContract


class TestPersistence(PersistenceContract):
    """``PersistenceContract`` on each installed scheme; the test id is the scheme."""
