"""The purge contract suite, run against every installed persistence provider (see conftest.py)."""

from wfe_core.testing.contracts import PurgeContract


class TestPurge(PurgeContract):
    """``PurgeContract`` on each installed scheme; the test id is the scheme."""
