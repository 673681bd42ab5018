"""The OpenSearch process that ``scripts/services.sh`` started: stop it, and start it again.

For the outage test: the real node goes away and comes back, as in production. It is started
again the way it was first started, by the services script, which waits until it is healthy.
"""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Where the services script keeps the node's pid file (as root, and as another user).
PID_FILES = [
    "/var/lib/wfe-opensearch/opensearch-*/opensearch.pid",
    os.path.join(
        os.environ.get("WFE_SERVICES_DIR", os.path.expanduser("~/.cache/wfe-services")),
        "opensearch-*/opensearch.pid",
    ),
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class NodeProcess:
    """One running node, by the pid file the services script gave it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    @classmethod
    def find(cls) -> NodeProcess | None:
        """The node the services script started, if one runs here."""
        for pattern in PID_FILES:
            for path in glob.glob(pattern):
                try:
                    pid = int(Path(path).read_text().strip())
                except (OSError, ValueError):
                    continue
                if _alive(pid):
                    return cls(pid)
        return None

    def stop(self, timeout: float = 60) -> None:
        """Stop the node (SIGTERM, as its own shutdown) and wait until it is gone."""
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(self.pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"OpenSearch (pid {self.pid}) did not stop in {timeout} s")
            time.sleep(0.2)

    @staticmethod
    def start(timeout: float = 240) -> None:
        """Start the node again with the services script; returns once it is healthy."""
        env = {k: v for k, v in os.environ.items() if k != "WFE_TEST_OPENSEARCH_URL"}
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "services.sh"), "--require"],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if "WFE_TEST_OPENSEARCH_URL" not in done.stdout:
            raise AssertionError(f"OpenSearch did not start again:\n{done.stderr[-2000:]}")
