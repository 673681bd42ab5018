"""The suites every provider runs, shipped with wfe so a provider package outside this repository
runs them too: ``python -m wfe_core.testing --persistence SCHEME ...`` (see
:mod:`wfe_core.testing.__main__`). wfe's own test run collects them from here as well.
"""

import pytest

# A helper module beside the tests: pytest rewrites the asserts of test modules only.
pytest.register_assert_rewrite(f"{__name__}._exact")
