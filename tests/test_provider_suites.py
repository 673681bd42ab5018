"""``python -m wfe_core.testing``: a provider package outside this repository runs every suite.

Two provider packages are written into a temporary directory, as third parties would write
them from ``docs/providers.md``: ``partlock://`` offers only a lock and ``partstore://`` only
persistence (both keep their state in a SQLite file, through ``wfe_sqlite``'s backend, so that
they are real, shared-between-processes stores). Each is installed the way pip would leave it
for importlib (a ``.dist-info`` with its ``wfe`` entry point, on ``PYTHONPATH``), and the one
command runs every suite with it, from a directory that is not this repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROVIDER = '''
"""Two one-capability providers for wfe, kept in a SQLite file."""

import contextlib
from pathlib import Path

from wfe_core import PluginHost
from wfe_core.backends import Capability, ProviderBackend
from wfe_core.hookspecs import ProviderSpec, TestStore, hookimpl


class _OneCapability(ProviderBackend):
    capability: Capability

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.inner = PluginHost().backend("sqlite://" + url.partition("://")[2])

    def make(self, capability: Capability) -> object | None:
        return self.inner.provider(capability) if capability is self.capability else None

    async def connect(self) -> None:
        await self.inner.start()

    async def disconnect(self) -> None:
        await self.inner.close()


class LockBackend(_OneCapability):
    capability = Capability.LOCK


class StoreBackend(_OneCapability):
    capability = Capability.PERSISTENCE


@contextlib.contextmanager
def _store(scheme: str, directory: Path):
    yield f"{scheme}:///{directory / (scheme + '.db')}"


class Plugin:
    @hookimpl
    def wfe_providers(self) -> list[ProviderSpec]:
        return [
            ProviderSpec(
                scheme="partlock",
                capabilities={Capability.LOCK},
                backend=LockBackend,
                test_store=TestStore(lambda d: _store("partlock", d), shared_across_processes=True),
                description="a lock in a SQLite file",
            ),
            ProviderSpec(
                scheme="partstore",
                capabilities={Capability.PERSISTENCE},
                backend=StoreBackend,
                test_store=TestStore(lambda d: _store("partstore", d), shared_across_processes=True),
                description="workflows in a SQLite file",
            ),
        ]


plugin = Plugin()
'''


@pytest.fixture
def third_party(tmp_path: Path) -> dict[str, str]:
    """The environment of a process that has the two providers installed."""
    site = tmp_path / "site"
    (site / "partial_providers").mkdir(parents=True)
    (site / "partial_providers" / "__init__.py").write_text(PROVIDER)
    info = site / "partial_providers-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: partial-providers\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[wfe]\npartial = partial_providers:plugin\n")
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path}


def run_suites(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfe_core.testing", *args, "-q", "-n", "2"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
    )


def summary(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr


def test_providers_outside_the_repository_pass_every_suite(third_party: dict[str, str], tmp_path: Path) -> None:
    """One store set of both packages: the persistence-only store with the lock-only lock (and
    SQLite's queue), so each runs every suite, its contract suite included, in one run."""
    stores = ["--persistence", "partstore", "--lock", "partlock", "--queue", "sqlite"]
    result = run_suites(third_party, tmp_path, *stores)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    last = summary(result)
    assert " passed" in last and "failed" not in last and "error" not in last, last
    # The kill -9 and two-process tests ran on it (its stores are shared between processes).
    ran = subprocess.run(
        [sys.executable, "-m", "wfe_core.testing", *stores, "--collect-only", "-q"],
        cwd=tmp_path, env=third_party, capture_output=True, text=True, timeout=120,
    ).stdout
    crash = "test_crash_and_share.py::test_kill_9_mid_step_then_a_new_process_completes_the_workflow"
    assert f"{crash}[partstore+partlock+sqlite]" in ran
    assert "scenarios/test_basic.py::test_basic[partstore+partlock+sqlite]" in ran
    assert "contracts/test_lock.py::TestLock::test_acquire_succeeds[partlock]" in ran
    assert "contracts/test_persistence.py::TestPersistence::" in ran and "[partstore]" in ran


def test_a_failing_suite_exits_non_zero(third_party: dict[str, str], tmp_path: Path) -> None:
    broken = PROVIDER.replace(
        "return self.inner.provider(capability) if capability is self.capability else None",
        "return None",  # offers a lock it never makes
    )
    (tmp_path / "site" / "partial_providers" / "__init__.py").write_text(broken)
    result = run_suites(third_party, tmp_path, "--persistence", "sqlite", "--lock", "partlock", "-x")
    assert result.returncode not in (0, 5), summary(result)
    assert "failed" in summary(result) or "error" in summary(result)


@pytest.mark.parametrize(
    ("stores", "says"),
    [
        (["--persistence", "partlock"], "partlock:// offers no persistence"),
        (["--persistence", "partstore"], "partstore:// has no lock of its own: give one (--lock SCHEME)"),
        (["--persistence", "nosuch"], "no provider is installed for nosuch://"),
    ],
)
def test_a_store_set_that_cannot_run_is_refused_with_what_to_give(
    third_party: dict[str, str], tmp_path: Path, stores: list[str], says: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wfe_core.testing", *stores],
        cwd=tmp_path, env=third_party, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert says in result.stderr
    assert "installed schemes:" in result.stderr and "partlock" in result.stderr
    assert textwrap.dedent(result.stdout) == ""
