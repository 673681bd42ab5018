"""Turns on the shared test services when wfe's own suite runs in parallel (pytest-xdist).

At the root so that it covers both ``tests/`` and the shipped suites in
``wfe_core/testing/suites/`` when this repository runs them.

``scripts/test.sh`` runs the suite on several worker processes. Every test store is private to
its test (a schema, a key prefix, an index prefix, a file), so tests share the services safely,
except the few that stop or restart a service to show how the engine rides it out
(``@pytest.mark.exclusive``). Those run while no other test does: each test holds a shared
lock on a file of this run for its whole length, an exclusive test holds it exclusively, and
while an exclusive test waits for its turn no new test starts (a gate), so it never starves.

The locks are ``flock`` on files in the run's base temporary directory, which the workers of
one run share; a run without xdist takes no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "exclusive: stops or restarts a shared test service; runs while no other test runs",
    )


@contextlib.contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with open(path, "a+") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@contextlib.contextmanager
def _turn(directory: Path, exclusive: bool) -> Iterator[None]:
    gate, services = directory / "wfe-services.gate", directory / "wfe-services.lock"
    if exclusive:
        with _locked(gate, fcntl.LOCK_EX), _locked(services, fcntl.LOCK_EX):
            yield
        return
    with _locked(gate, fcntl.LOCK_EX):
        pass  # wait here while an exclusive test waits for, or has, its turn
    with _locked(services, fcntl.LOCK_SH):
        yield


@pytest.fixture(autouse=True)
def _service_turn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    exclusive = request.node.get_closest_marker("exclusive") is not None
    # Each worker's base temp is <run>/popen-gwN: the parent is the run's, shared by all.
    with _turn(tmp_path_factory.getbasetemp().parent, exclusive):
        yield
