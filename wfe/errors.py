"""The errors wfe raises; all derive from ``WfeError``. See ``wfe_core.errors`` for the tree."""

from wfe_core.errors import *  # noqa: F403
from wfe_core.errors import __all__ as __all__  # noqa: F401
