"""The leased-creation contract suite, run against every scheme offering a store and a lock
(see conftest.py)."""

from wfe_core.testing.contracts import LeasedCreationContract


class TestLeasedCreation(LeasedCreationContract):
    """``LeasedCreationContract`` on each installed scheme; the test id is the scheme."""
