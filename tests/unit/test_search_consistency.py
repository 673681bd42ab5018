"""SQLite and the command line: read-only commands create no database, a foreign
``workflows`` table is refused before anything changes, a too-short busy timeout is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe._cli import idle
from wfe._cli import main as wfe_command
from wfe.errors import ConfigurationError
from wfe_core.providers import SearchFilter
from wfe_sqlite._url import parse_url

#: Waits on an event that is never published: the workflow stays runnable where it is.
waits = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .wait_for("never", lambda d: "key")
    .end_workflow()
    .build("waits", 1)
)


def store_url(provider: str, tmp_path: Path) -> str:
    return "memory://" if provider == "memory" else f"sqlite:///{tmp_path / 'wfe.db'}"


def idle_host(url: str) -> contextlib.AbstractAsyncContextManager[WorkflowHost]:
    """A host whose providers are open but that runs nothing, as the ``wfe`` command uses it."""
    host = WorkflowHost(url)
    host.register(waits)
    return idle(host)


async def ids_with(host: WorkflowHost, status: WorkflowStatus, terms: str = "") -> list[str]:
    """What the index itself holds: no flush, no indexer."""
    page = await host.search_index.search(terms, SearchFilter(status=status), 0, 100)
    return [item.id for item in page.items]


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout} s")
        await asyncio.sleep(0.02)


# -- SQLite and the command line -------------------------------------------------------------


async def _stored_waiting_workflow(url: str) -> str:
    async with WorkflowHost(url) as host:
        host.register(waits)
        wid = await host.start_workflow("waits", {})

        async def waiting() -> bool:
            return bool(await host.persistence.get_subscriptions("never", "key", host.clock.now()))

        await wait_until(waiting, "the workflow waits for its event")
    return wid


@pytest.mark.parametrize("command", [["search"], ["show", "some-id"], ["suspend", "some-id"]])
def test_the_command_line_never_creates_a_database(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "typo.db"
    assert wfe_command([*command, "--db", f"sqlite:///{typo}"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no SQLite database at '{typo}'" in captured.err
    assert "check the path" in captured.err
    assert list(tmp_path.iterdir()) == []


async def test_read_only_mode_opens_an_existing_store_and_changes_nothing(tmp_path: Path) -> None:
    url = store_url("sqlite", tmp_path)
    wid = await _stored_waiting_workflow(url)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix == ".db"}
    async with idle_host(f"{url}?mode=ro") as host:
        assert (await host.get_workflow(wid)).status is WorkflowStatus.RUNNABLE
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == [wid]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.suffix == ".db"} == before


def test_a_file_with_another_programs_workflows_table_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "theirs.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE workflows (name TEXT)")
        conn.execute("INSERT INTO workflows VALUES ('payroll')")
        conn.commit()
    before = path.read_bytes()

    async def open_it() -> None:
        async with WorkflowHost(f"sqlite:///{path}"):
            pass

    with pytest.raises(ConfigurationError, match="not made by wfe.*workflows.*of its own"):
        asyncio.run(open_it())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no -wal, no -shm
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


@pytest.mark.parametrize("milliseconds", [0, 5, 999])
def test_a_busy_timeout_too_short_to_wait_is_refused(milliseconds: int, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}?busy_timeout={milliseconds}"
    with pytest.raises(ConfigurationError, match="below the minimum of 1000 ms"):
        parse_url(url)
    with pytest.raises(ConfigurationError, match="busy_timeout=1000 or more"):
        WorkflowHost(url)
    assert parse_url(url.replace(f"={milliseconds}", "=1000")).busy_timeout == 1.0
