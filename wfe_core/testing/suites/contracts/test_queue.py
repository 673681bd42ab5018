"""The queue contract suite, run against every installed provider offering it (see conftest.py)."""

from wfe_core.testing.contracts import QueueContract


class TestQueue(QueueContract):
    """``QueueContract`` on each installed scheme; the test id is the scheme."""
