"""An OpenSearch node of the outage test's own: started, stopped and started again.

For the outage test: a real node goes away and comes back, as in production. It is a second
node from the distribution ``scripts/services.sh`` unpacked, on free ports, with its data and
logs in a directory of its own (kept across its restart, as a real node's are), so stopping it
disturbs no other test of the parallel run.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

#: Where the services script unpacks the distribution (as root, and as another user), and
#: the user it runs nodes as when this process is root (OpenSearch refuses root).
HOMES = [
    "/var/lib/wfe-opensearch/opensearch-*",
    os.path.join(
        os.environ.get("WFE_SERVICES_DIR", os.path.expanduser("~/.cache/wfe-services")),
        "opensearch-*",
    ),
]
RUN_AS = "wfe-opensearch"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def distribution() -> Path | str:
    """The unpacked distribution to run a node from, or why there is none."""
    for pattern in HOMES:
        for home in sorted(glob.glob(pattern)):
            if os.access(os.path.join(home, "bin", "opensearch"), os.X_OK):
                return Path(home)
    return "no OpenSearch distribution unpacked here (scripts/services.sh unpacks one)"


class PrivateNode:
    """A single-node cluster on free ports; ``url`` names it for ``opensearch://``."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = _free_port()
        self.transport = _free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="wfe-opensearch-node-"))
        (self.directory / "data").mkdir()
        (self.directory / "logs").mkdir()
        self.run_as = RUN_AS if os.geteuid() == 0 else None
        if self.run_as is not None:
            shutil.chown(self.directory, self.run_as)
            for sub in ("data", "logs"):
                shutil.chown(self.directory / sub, self.run_as)
            os.chmod(self.directory, 0o755)
        self.pid_file = self.directory / "logs" / "node.pid"
        self.url = f"opensearch://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/_cluster/health?wait_for_status=yellow&timeout=1s",
                timeout=3,
            ) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, timeout: float = 240) -> None:
        """Start the node and wait until it is healthy."""
        java = os.path.realpath(shutil.which("java") or "java")
        command = [
            "env", f"OPENSEARCH_JAVA_HOME={os.path.dirname(os.path.dirname(java))}",
            "OPENSEARCH_JAVA_OPTS=-Xms256m -Xmx256m",
            str(self.home / "bin" / "opensearch"), "-p", str(self.pid_file),
            "-Ediscovery.type=single-node", "-Enetwork.host=127.0.0.1",
            f"-Ehttp.port={self.port}", f"-Etransport.port={self.transport}",
            f"-Epath.data={self.directory / 'data'}", f"-Epath.logs={self.directory / 'logs'}",
            "-Ecluster.name=wfe-outage-test", "-Ecluster.routing.allocation.disk.threshold_enabled=false",
        ]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as, "--", *command]
        self.pid_file.unlink(missing_ok=True)
        with open(self.directory / "console.log", "ab") as log:  # the node keeps its own copy
            subprocess.Popen(command, cwd="/", stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the test's OpenSearch node is not healthy after {timeout:g} s; see "
                    f"{self.directory / 'console.log'}"
                )
            time.sleep(0.5)

    def stop(self, timeout: float = 60) -> None:
        """Stop the node (SIGTERM, its own shutdown) and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"OpenSearch (pid {pid}) did not stop in {timeout} s")
            time.sleep(0.2)

    def remove(self) -> None:
        """Stop the node if it runs and delete its data."""
        pid = self.pid()
        if pid is not None and _alive(pid):
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
