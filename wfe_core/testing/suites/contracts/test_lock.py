"""The lock contract suite, run against every installed provider offering it (see conftest.py)."""

from wfe_core.testing.contracts import LockContract


class TestLock(LockContract):
    """``LockContract`` on each installed scheme; the test id is the scheme."""
