"""The ``wfe`` commands of the web dashboard: ui.

Called by :func:`wfe._cli.parser`, which hands over its ``command(name, text, run, store=True)``
helper; each command registered here gets ``--json`` and, with ``store=True``, the store options.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register this module's commands through ``command`` (see :func:`wfe._cli.parser`)."""
    del command  # none yet
