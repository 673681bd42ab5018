"""The search contract suite, run against every installed provider offering it (see conftest.py)."""

from wfe_core.testing.contracts import SearchContract


class TestSearch(SearchContract):
    """``SearchContract`` on each installed scheme; the test id is the scheme."""
