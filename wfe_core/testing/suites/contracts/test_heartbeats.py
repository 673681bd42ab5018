"""The heartbeat contract suite, run against every installed provider offering it (see conftest.py)."""

from wfe_core.testing.contracts import HeartbeatContract


class TestHeartbeats(HeartbeatContract):
    """``HeartbeatContract`` on each installed scheme; the test id is the scheme."""
