"""``python -m wfe_core.testing``: every suite a provider must pass, against installed providers.

    python -m wfe_core.testing --persistence SCHEME [--lock SCHEME] [--queue SCHEME]
        [--search SCHEME] [pytest args]

Runs the suites shipped in :mod:`wfe_core.testing.suites` (the contract suite of each
capability given, the scenarios, failure paths, bad input, exact data, and the kill -9 and
two-process tests where the stores are shared between processes) on one store set: the given
persistence scheme, with lock, queue and search from the schemes given for them or else its own.
Each store is a fresh one from the test store its provider package declares. The rest of the
arguments go to pytest (``-x``, ``-k basic``, ``-n 4`` with pytest-xdist). Exits with pytest's
status: non-zero when a test fails, or when no test ran.

From anywhere: nothing of this repository's ``tests/`` is needed, only the installed packages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

SUITES = Path(__file__).resolve().parent / "suites"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wfe_core.testing",
        description="Run wfe's provider suites on one store set of installed schemes; "
        "other arguments go to pytest.",
    )
    parser.add_argument("--persistence", required=True, metavar="SCHEME", help="the persistence scheme")
    for capability in ("lock", "queue", "search"):
        parser.add_argument(
            f"--{capability}",
            metavar="SCHEME",
            help=f"the {capability} scheme (default: the persistence scheme's own)",
        )
    return parser


def _check(chosen: argparse.Namespace) -> str | None:
    """Why the set cannot run, naming what to do; ``None`` when it can."""
    from .._plugins import PluginHost
    from ..errors import ConfigurationError
    from ._compose import StoreSet

    plugins = PluginHost()
    store_set = StoreSet(chosen.persistence, chosen.lock, chosen.queue, chosen.search)
    try:
        store_set.check(plugins)
    except ConfigurationError as exc:
        installed = ", ".join(sorted(plugins.specs()))
        return f"{exc} (installed schemes: {installed})"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    chosen, rest = _parser().parse_known_args(argv)
    problem = _check(chosen)
    if problem is not None:
        print(f"python -m wfe_core.testing: {problem}", file=sys.stderr)
        return 2
    import pytest

    options = [f"--wfe-persistence={chosen.persistence}"]
    for capability in ("lock", "queue", "search"):
        if getattr(chosen, capability) is not None:
            options.append(f"--wfe-{capability}={getattr(chosen, capability)}")
    # Our own settings and root, so that a project's pytest configuration around the current
    # directory changes nothing here.
    return int(
        pytest.main(
            ["-c", str(SUITES / "pytest.ini"), "--rootdir", str(SUITES), "-p", "no:cacheprovider",
             *options, *rest, str(SUITES)]
        )
    )


if __name__ == "__main__":
    sys.exit(main())
