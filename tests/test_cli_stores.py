"""The ``wfe`` command takes the hosts' store options and keeps every index they keep true.

Hosts here keep their workflows in one SQLite file and their search index in another (an index
outside the store, fed through the store's outbox, as OpenSearch is). A command given the same
``--search`` (or ``WFE_SEARCH``) writes its change to the outbox, so the index follows once a
host drains it; ``wfe search`` reads that index.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core.testing._pytest_plugin import store_or_skip

waits = WorkflowBuilder(dict).start_with(lambda ctx: None).wait_for("go", "k").build("waits", 1)


def wfe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfe._cli", *args],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})},
    )


async def _indexed(host: WorkflowHost, status: WorkflowStatus, count: int) -> None:
    for _ in range(500):
        if (await host.search(status=status)).total == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the index never showed {count} {status.value} workflow(s)")


async def test_control_commands_with_the_hosts_search_keep_that_index_true(tmp_path: Path) -> None:
    store, index = f"sqlite:///{tmp_path / 'wfe.db'}", f"sqlite:///{tmp_path / 'index.db'}"
    async with WorkflowHost(store, search=index) as host:
        host.register(waits)
        first, second = [await host.start_workflow("waits", {}) for _ in range(2)]
        await _indexed(host, WorkflowStatus.RUNNABLE, 2)

    suspended = wfe("suspend", "--db", store, "--search", index, first)
    assert suspended.returncode == 0, suspended.stderr
    terminated = wfe("terminate", second, env={"WFE_PERSISTENCE": store, "WFE_SEARCH": index})
    assert terminated.returncode == 0, terminated.stderr

    async with WorkflowHost(store, search=index) as host:  # drains the outbox into the index
        host.register(waits)
        await _indexed(host, WorkflowStatus.SUSPENDED, 1)
        await _indexed(host, WorkflowStatus.TERMINATED, 1)
        assert (await host.search(status=WorkflowStatus.RUNNABLE)).total == 0

    found = wfe("search", "--persistence", store, "--search", index, "--status", "suspended")
    assert found.returncode == 0, found.stderr
    assert first in found.stdout and "1 of 1" in found.stdout


def test_a_command_without_a_store_says_which_option_or_variable_to_give() -> None:
    missing = wfe("show", "some-id")
    assert missing.returncode == 2
    assert "--db" in missing.stderr
    assert "WFE_PERSISTENCE" in wfe("show", "--help").stdout


def test_reading_commands_create_no_postgresql_schema(tmp_path: Path) -> None:
    """A mistyped ``?schema=`` is an error naming it, and the schema is not made."""
    psycopg = pytest.importorskip("psycopg")
    with store_or_skip("postgresql", tmp_path) as url:
        base, _, query = url.partition("?")
        typo = f"{base}?schema=wfe_typo_{uuid.uuid4().hex[:10]}"
        for args in (["show", "some-id"], ["search", "x"], ["suspend", "some-id"]):
            refused = wfe(*args, "--db", typo)
            assert refused.returncode == 2, refused.stderr
            assert "no wfe store in schema" in refused.stderr and "?schema=" in refused.stderr
        from wfe_postgres._url import parse_url

        with psycopg.connect(parse_url(url).conninfo) as conn:
            schema = typo.rpartition("schema=")[2]
            row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
        assert row is None, f"the command made schema {schema}"
