"""A PostgreSQL cluster of a test's own, to stop and start: the PostgreSQL outage tests use it.

``cluster_or_skip()`` makes a Debian cluster on a free port (``pg_createcluster``, which
``scripts/services.sh`` installs) with the test role and database, and drops it afterwards, so
stopping it disturbs no other test of the parallel run. That needs root (or passwordless
sudo); without it the test is skipped, and failed under ``WFE_REQUIRE_SERVICES=1`` where
PostgreSQL is configured.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from wfe_core.testing._stores import REQUIRE_SERVICES_VARIABLE
from wfe_postgres._url import parse_url

__all__ = ["BACK_WITHIN", "VERSION", "Cluster", "cluster_or_skip"]

VERSION = "15"
#: Seconds the cluster gets to be back and accepting connections after a (re)start.
BACK_WITHIN = 60.0


@dataclass
class Cluster:
    """A Debian PostgreSQL cluster of this test's own, and how to drive it."""

    as_root: list[str]  # [] when this process is root, else ["sudo", "-n"]
    name: str
    port: int
    log_file: str
    conninfo: str

    def ctl(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_root, "pg_ctlcluster", VERSION, self.name, action],
            capture_output=True, text=True, timeout=120, check=False,
        )

    def accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.conninfo, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def ensure_up(self) -> None:
        """Start the cluster if it is down and wait until it accepts connections."""
        if self.ctl("status").returncode != 0:
            started = self.ctl("start")
            if started.returncode != 0 and self.ctl("status").returncode != 0:
                raise AssertionError(
                    f"pg_ctlcluster {VERSION} {self.name} start failed "
                    f"({started.stderr.strip()}); see {self.log_file}"
                )
        deadline = time.monotonic() + BACK_WITHIN
        while not self.accepts_connections():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"cluster {VERSION}/{self.name} accepts no connections {BACK_WITHIN:g} s "
                    f"after a start; see {self.log_file}"
                )
            time.sleep(0.2)


def _root_prefix() -> list[str] | None:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(
        ["sudo", "-n", "true"], capture_output=True, check=False
    ).returncode == 0:
        return ["sudo", "-n"]
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cannot_make_cluster() -> str | None:
    """Why this machine cannot make a cluster of its own, or ``None``."""
    if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
        return "pg_createcluster is not installed (Debian's postgresql-common): cannot restart PostgreSQL"
    if _root_prefix() is None:
        return "making and restarting a PostgreSQL cluster needs root or passwordless sudo"
    return None


@contextlib.contextmanager
def _own_cluster() -> Iterator[Cluster]:
    """A new cluster on a free port with the test role and database, dropped afterwards, so
    that restarting it disturbs no other test (the suite runs tests in parallel)."""
    as_root = _root_prefix()
    assert as_root is not None
    name, port = f"wfe_restart_{uuid.uuid4().hex[:8]}", _free_port()
    try:
        made = subprocess.run(
            [*as_root, "pg_createcluster", VERSION, name, "-p", str(port), "--start",
             "-o", "fsync=off"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert made.returncode == 0, f"pg_createcluster {VERSION} {name} failed: {made.stderr}"
        for sql in ("CREATE ROLE wfe LOGIN SUPERUSER PASSWORD 'wfe'", "CREATE DATABASE wfe_test OWNER wfe"):
            done = subprocess.run(
                [*as_root, "runuser", "-u", "postgres", "--", "psql", "-p", str(port), "-qAtc", sql],
                capture_output=True, text=True, timeout=60, check=False, cwd="/",
            )
            assert done.returncode == 0, f"{sql}: {done.stderr}"
        url = f"postgresql://wfe:wfe@127.0.0.1:{port}/wfe_test?schema=wfe_restart"
        log_file = f"/var/log/postgresql/postgresql-{VERSION}-{name}.log"
        cluster = Cluster(as_root, name, port, log_file, parse_url(url).conninfo)
        cluster.ensure_up()
        yield cluster
    finally:
        subprocess.run(
            [*as_root, "pg_dropcluster", VERSION, name, "--stop"],
            capture_output=True, text=True, timeout=120, check=False,
        )


@contextlib.contextmanager
def cluster_or_skip() -> Iterator[Cluster]:
    """A cluster of the calling test's own (see :func:`_own_cluster`); the test is skipped
    where none can be made, and failed for it under ``WFE_REQUIRE_SERVICES=1``."""
    why = _cannot_make_cluster()
    if why is not None:
        if os.environ.get("WFE_TEST_POSTGRES_URL") and os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1":
            pytest.fail(
                f"{why}; PostgreSQL is configured and {REQUIRE_SERVICES_VARIABLE}=1, so the "
                "tests that stop PostgreSQL must run: run the suite as root (or with passwordless sudo) on a "
                "machine with Debian's PostgreSQL (scripts/services.sh installs it)",
                pytrace=False,
            )
        pytest.skip(why)
    with _own_cluster() as made:
        yield made
