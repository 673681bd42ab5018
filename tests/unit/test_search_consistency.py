"""The search index never stays wrong, and one search gives one answer (design, semantics 11).

* Where the index lives in the store (``memory://`` with its memory index, ``sqlite://`` with
  its FTS tables) every workflow write carries its search entry: searchable at once, with no
  host running (the ``wfe`` command's case) and no indexer.
* An index elsewhere is fed from the store's durable outbox: an index that was down while
  workflows ran catches up when a fresh host starts, and an entry re-dirtied while it was
  being indexed is not lost.
* Search terms follow one rule on every provider (``wfe_core.providers.search_words``).
* SQLite and the command line: read-only commands create no database, a foreign
  ``workflows`` table is refused before anything changes, a too-short busy timeout is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe._cli import main as wfe_command
from wfe.errors import ConfigurationError
from wfe_core import WorkflowInstance
from wfe_core._memory import MemoryPersistence, MemorySearchIndex
from wfe_core.providers import SearchFilter
from wfe_core.serialization import encode_data
from wfe_core.testing.contracts._targets import open_provider
from wfe_sqlite import SqlitePersistence, _schema
from wfe_sqlite._rows import INSTANCE_COLUMNS, instance_row
from wfe_sqlite._url import parse_url

PROVIDERS = ["memory", "sqlite"]

#: Waits on an event that is never published: the workflow stays runnable where it is.
waits = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .wait_for("never", lambda d: "key")
    .end_workflow()
    .build("waits", 1)
)
one_step = WorkflowBuilder(dict).start_with(lambda ctx: None).build("one-step", 1)


def store_url(provider: str, tmp_path: Path) -> str:
    return "memory://" if provider == "memory" else f"sqlite:///{tmp_path / 'wfe.db'}"


def idle_host(url: str) -> contextlib.AbstractAsyncContextManager[WorkflowHost]:
    """A host whose providers are open but that runs nothing, as the ``wfe`` command uses it."""
    host = WorkflowHost(url)
    host.register(waits)
    return host.open_stores()


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


# -- an index in the same store is written with the state ---------------------------------------


@pytest.mark.wfe_stores(capability=("persistence", "search"))
async def test_control_calls_without_a_running_host_are_searchable_at_once(
    wfe_store_url: str
) -> None:
    async with idle_host(wfe_store_url) as host:
        wid = await host.start_workflow("waits", {})
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == [wid]
        assert await host.suspend_workflow(wid)
        assert await ids_with(host, WorkflowStatus.SUSPENDED) == [wid]
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == []
        assert await host.resume_workflow(wid)
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == [wid]
        assert await host.terminate_workflow(wid)
        assert await ids_with(host, WorkflowStatus.TERMINATED) == [wid]
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == []
        assert await host.persistence.get_index_outbox() == []  # nothing left for an indexer


@pytest.mark.wfe_stores(capability=("persistence", "search"))
async def test_a_running_host_writes_each_state_with_its_entry(
    wfe_store_url: str
) -> None:
    async with WorkflowHost(wfe_store_url) as host:
        host.register(one_step)
        wids = []
        for n in range(3):
            wid = await host.start_workflow("one-step", {}, reference=f"r{n}")
            # Read from the index at once, without host.search's flush: no indexer involved.
            assert wid in await ids_with(host, WorkflowStatus.RUNNABLE, f"r{n}") + await ids_with(
                host, WorkflowStatus.COMPLETE, f"r{n}"
            )
            assert (await host.wait_for_workflow(wid, timeout=20)).status is WorkflowStatus.COMPLETE
            assert await ids_with(host, WorkflowStatus.COMPLETE, f"r{n}") == [wid]
            wids.append(wid)
        assert sorted(await ids_with(host, WorkflowStatus.COMPLETE)) == sorted(wids)
        assert await ids_with(host, WorkflowStatus.RUNNABLE) == []
        assert await host.persistence.get_index_outbox() == []


def _set_word(word: str) -> Callable[[Any], None]:
    def step(ctx: Any) -> None:
        ctx.data["word"] = word

    return step


renames = (
    WorkflowBuilder(dict)
    .start_with(_set_word("alpha"))
    .wait_for("go", lambda d: "key")
    .then(_set_word("beta"))
    .end_workflow()
    .build("renames", 1)
)


@pytest.mark.wfe_stores(capability=("persistence", "search"))
async def test_every_pass_keeps_the_entry_of_its_data(wfe_store_url: str) -> None:
    async with WorkflowHost(wfe_store_url) as host:
        host.register(renames)
        wid = await host.start_workflow("renames", {})

        async def waiting() -> bool:
            return bool(await host.persistence.get_subscriptions("go", "key", host.clock.now()))

        await wait_until(waiting, "the workflow waits for its event")
        assert await ids_with(host, WorkflowStatus.RUNNABLE, "alpha") == [wid]
        await host.publish_event("go", "key")
        assert (await host.wait_for_workflow(wid, timeout=20)).status is WorkflowStatus.COMPLETE
        assert await ids_with(host, WorkflowStatus.COMPLETE, "beta") == [wid]
        assert await ids_with(host, WorkflowStatus.COMPLETE, "alpha") == []


@pytest.mark.wfe_stores(capability="search")
async def test_an_entry_never_goes_back_to_an_older_state(wfe_store_url: str) -> None:
    # An indexer that read revision 2 and writes after revision 3's entry landed.
    async with open_provider("search", wfe_store_url) as index:
        newer = WorkflowInstance(
            id="w1",
            definition_id="d",
            version=1,
            status=WorkflowStatus.COMPLETE,
            data=encode_data({"word": "newer"}),
            revision=3,
        )
        older = WorkflowInstance(
            id="w1", definition_id="d", version=1, data=encode_data({"word": "older"}), revision=2
        )
        await index.index_workflow(newer)
        await index.index_workflow(older)
        page = await index.search("", SearchFilter(), 0, 10)
        assert [(item.id, item.status) for item in page.items] == [("w1", WorkflowStatus.COMPLETE)]
        assert (await index.search("older", SearchFilter(), 0, 10)).total == 0
        assert (await index.search("newer", SearchFilter(), 0, 10)).total == 1


# -- an index elsewhere is fed from the durable outbox ------------------------------------------


class OutageIndex(MemorySearchIndex):
    """A search index in another store, which fails every write while it is down."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def index_workflow(self, instance: WorkflowInstance) -> None:
        if self.down:
            raise OSError("the search index is unreachable")
        await super().index_workflow(instance)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_index_that_was_down_catches_up_when_a_fresh_host_starts(
    provider: str, tmp_path: Path
) -> None:
    # memory: one store object that outlives its hosts stands in for a durable file.
    persistence: Any = MemoryPersistence() if provider == "memory" else store_url(provider, tmp_path)
    index = OutageIndex()
    index.down = True
    async with WorkflowHost(persistence, search=index) as host:
        host.register(one_step)
        wids = [await host.start_workflow("one-step", {}) for _ in range(6)]
        for wid in wids:
            await host.wait_for_workflow(wid, timeout=20)
        states = {wid: (await host.get_workflow(wid)).status for wid in wids}
    assert set(states.values()) == {WorkflowStatus.COMPLETE}
    assert await index.search("", SearchFilter(), 0, 100) == await MemorySearchIndex().search(
        "", SearchFilter(), 0, 100
    )  # the outage kept every entry out

    index.down = False
    async with WorkflowHost(persistence, search=index):  # left idle: nobody searches

        async def caught_up() -> bool:
            page = await index.search("", SearchFilter(), 0, 100)
            return {item.id: item.status for item in page.items} == states

        await wait_until(caught_up, "the index matches the stored states")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_outbox_entry_written_again_while_indexed_stays(
    provider: str, tmp_path: Path
) -> None:
    # No search index of the store is attached: writes go to the outbox.
    persistence: Any = (
        MemoryPersistence() if provider == "memory" else SqlitePersistence(store_url(provider, tmp_path))
    )
    await persistence.start()
    try:
        instance = WorkflowInstance(
            id="w1", definition_id="d", version=1, data=encode_data({}), next_execution=None
        )
        await persistence.create_workflow(instance)
        assert await persistence.get_index_outbox() == [("w1", 1)]
        instance.reference = "renamed"  # written again, changed, after the indexer read 1
        await persistence.persist_workflow(instance)
        await persistence.remove_index_outbox([("w1", 1)])
        assert await persistence.get_index_outbox() == [("w1", 2)]
        await persistence.remove_index_outbox([("w1", 2), ("unknown", 5)])
        assert await persistence.get_index_outbox() == []
        # A write that changes nothing searchable (most passes) needs no row on SQLite: the
        # entry the index made from revision 2 shows revision 3 as well.
        await persistence.persist_workflow(instance)
        expected = [("w1", 3)] if provider == "memory" else []
        assert await persistence.get_index_outbox() == expected
    finally:
        await persistence.close()


def test_an_index_left_stale_by_schema_1_heals_after_the_upgrade(tmp_path: Path) -> None:
    # A store of the previous schema whose workflow completed while its entry still says
    # runnable: what a kill between the commit and the index write used to leave.
    path = tmp_path / "old.db"
    done = WorkflowInstance(
        id="w1",
        definition_id="waits",
        version=1,
        status=WorkflowStatus.COMPLETE,
        data=encode_data({}),
        reference="café",
        next_execution=None,
    )
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        _schema._migration_1(conn)
        conn.execute("CREATE TABLE wfe_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
        conn.execute("INSERT INTO wfe_migrations VALUES (1, 'then')")
        # The columns of schema 1 (trace_context came in schema 4).
        columns = INSTANCE_COLUMNS.replace(", trace_context", "")
        conn.execute(f"INSERT INTO workflows ({columns}) VALUES ({', '.join('?' * 12)})",
                     instance_row(done, revision=3)[:12])
        conn.execute(
            "INSERT INTO search_docs (doc, id, definition_id, version, status, reference, "
            "create_time) VALUES (1, 'w1', 'waits', 1, 'runnable', 'café', 0)"
        )
        conn.execute("INSERT INTO search_text (rowid, reference) VALUES (1, 'café')")
        conn.execute("COMMIT")

    async def upgrade_and_wait() -> None:
        async with WorkflowHost(f"sqlite:///{path}") as host:  # left idle

            async def healed() -> bool:
                return await ids_with(host, WorkflowStatus.COMPLETE) == ["w1"]

            await wait_until(healed, "the entry shows the stored state")
            assert await ids_with(host, WorkflowStatus.RUNNABLE) == []
            assert await ids_with(host, WorkflowStatus.COMPLETE, "café") == ["w1"]
            assert await ids_with(host, WorkflowStatus.COMPLETE, "cafe") == []
            assert await host.persistence.get_index_outbox() == []

    asyncio.run(upgrade_and_wait())


# -- one rule for search terms ---------------------------------------------------------------

# Searchable text sits in the reference and description, which every index takes as they are.
DOCS = {
    "fox": ("order-42", "Quick brown fox"),
    "cafe": ("O'Brien & sons", "café au lait"),
    "tokyo": ("x_y", "naïve 東京都"),
}
EVERYTHING = sorted(DOCS)
#: terms -> the documents they find, on every provider.
EXPECTED = {
    "": EVERYTHING,
    "--": EVERYTHING,  # no word characters: no words, so no condition
    "-": EVERYTHING,
    "*": EVERYTHING,
    '"': EVERYTHING,
    "\x00": EVERYTHING,
    "fox\x00": ["fox"],
    "QUICK": ["fox"],
    "qu": ["fox"],  # the start of a word
    "ick": [],  # not the start of one
    "quick-fox": ["fox"],
    "order-42": ["fox"],
    "42 -- order": ["fox"],
    "fox*": ["fox"],
    '"fox"': ["fox"],
    "fox OR zebra": [],  # every word must match; OR is a word like any other
    "NEAR(fox": [],
    "o'brien": ["cafe"],
    "café": ["cafe"],
    "cafe": [],  # accents are significant
    "x_y": ["tokyo"],
    "東京": ["tokyo"],
    "京": [],
    "naïve": ["tokyo"],
    "au": ["cafe"],
}


@pytest.mark.wfe_stores(capability="search")
async def test_terms_follow_one_rule_everywhere(wfe_store_url: str) -> None:
    async with open_provider("search", wfe_store_url) as index:
        for name, (reference, description) in DOCS.items():
            await index.index_workflow(
                WorkflowInstance(
                    id=name,
                    definition_id="rule",
                    version=1,
                    data=encode_data({}),
                    reference=reference,
                    description=description,
                )
            )
        found = {}
        for terms in EXPECTED:
            page = await index.search(terms, SearchFilter(), 0, 10)
            found[terms] = sorted(item.id for item in page.items)
            assert page.total == len(found[terms])
    assert found == EXPECTED


# -- SQLite and the command line -------------------------------------------------------------


async def _stored_waiting_workflow(url: str) -> str:
    async with WorkflowHost(url) as host:
        host.register(waits)
        wid = await host.start_workflow("waits", {})

        async def waiting() -> bool:
            return bool(await host.persistence.get_subscriptions("never", "key", host.clock.now()))

        await wait_until(waiting, "the workflow waits for its event")
    return wid


@pytest.mark.parametrize("command", ["suspend", "terminate"])
def test_the_command_line_changes_what_search_finds(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = store_url("sqlite", tmp_path)
    wid = asyncio.run(_stored_waiting_workflow(url))
    status = {"suspend": "suspended", "terminate": "terminated"}[command]

    assert wfe_command(["search", "--db", url, "--status", "runnable"]) == 0
    assert wid in capsys.readouterr().out
    assert wfe_command([command, "--db", url, wid]) == 0
    assert capsys.readouterr().out == f"{wid}: done\n"
    assert wfe_command(["search", "--db", url, "--status", status]) == 0
    out = capsys.readouterr().out
    assert wid in out and out.endswith("1 of 1\n")
    assert wfe_command(["search", "--db", url, "--status", "runnable"]) == 0
    assert capsys.readouterr().out == "0 of 0\n"


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


def test_the_indexers_snapshot_keeps_every_field_but_the_pointers() -> None:
    """``fields_only``: what ``attrs.evolve`` would give, read in one call (every start)."""
    from datetime import UTC, datetime

    import attrs as _attrs

    from wfe_core import ExecutionPointer
    from wfe_core import WorkflowStatus as Status
    from wfe_core._models import ExecutionPointers, fields_only

    when = datetime(2026, 12, 7, 23, 0, tzinfo=UTC)
    instance: WorkflowInstance[Any] = WorkflowInstance(
        definition_id="d", version=3, status=Status.SUSPENDED, data={"x": 1}, reference="r",
        description="about", create_time=when, complete_time=when, next_execution=when,
        execution_pointers=[ExecutionPointer(step_id=2)], revision=7, parent_workflow_id="p",
        trace_context="00-t", priority=1,
    )
    copy = fields_only(instance, '{"x":1}')
    assert copy == _attrs.evolve(instance, data='{"x":1}', execution_pointers=ExecutionPointers())
    assert len(instance.execution_pointers) == 1 and instance.data == {"x": 1}
