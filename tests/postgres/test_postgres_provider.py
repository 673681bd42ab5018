"""What only the PostgreSQL provider has: its URL, its schema and migrations, its failure
messages, group commit on a real server, wake-ups across hosts, and search terms as data.

The contract, scenario, bad-input and crash suites run on ``postgresql://`` by themselves (the
provider declares its test store); these cases need a server too, from the same test store: a
fresh schema per test, dropped afterwards. Without ``WFE_TEST_POSTGRES_URL`` they are skipped,
or failed under ``WFE_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from wfe import WorkflowHost
from wfe.errors import (
    ConcurrencyError,
    ConfigurationError,
    MissingDependencyError,
    ProviderError,
    ProviderUnavailableError,
    WorkflowNotFoundError,
)
from wfe_core._models import WorkflowInstance, WorkflowStatus
from wfe_core._plugins import PluginHost
from wfe_core.providers import QueueKind, SearchFilter, WorkflowWrite
from wfe_core.serialization import encode_data
from wfe_core.testing._pytest_plugin import store_or_skip
from wfe_core.testing.contracts.persistence import sample_instance

pytest.importorskip("psycopg")

from wfe_postgres import (  # noqa: E402
    PostgresDatabase,
    PostgresPersistence,
    PostgresQueue,
    PostgresSearchIndex,
)
from wfe_postgres._schema import SCHEMA_VERSION  # noqa: E402
from wfe_postgres._url import parse_url, redact  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """A ``postgresql://`` URL naming a fresh schema, dropped after the test."""
    with store_or_skip("postgresql", tmp_path) as made:
        yield made


def schema_of(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["schema"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return parts._replace(query="&".join(f"{k}={v}" for k, v in query.items())).geturl()


async def schemas(url: str) -> set[str]:
    import psycopg

    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo) as conn:
        rows = await (await conn.execute("SELECT nspname FROM pg_namespace")).fetchall()
    return {r[0] for r in rows}


@pytest.fixture
async def database(url: str) -> AsyncIterator[PostgresDatabase]:
    db = PostgresDatabase.from_url(url)
    await db.open()
    yield db
    await db.close()


# -- URLs and bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "postgresql://u:s3cr3t@localhost/db?schema=wfe%22%3B%20DROP%20TABLE%20x",
        'postgresql://u:s3cr3t@localhost/db?schema=we"ird',
        "postgresql://u:s3cr3t@localhost/db?schema=Upper",
        "postgresql://u:s3cr3t@localhost/db?schema=",
        "postgresql://u:s3cr3t@localhost/db?pool_size=0",
        "postgresql://u:s3cr3t@localhost/db?pool_size=ten",
        "postgresql://u:s3cr3t@localhost",
        "postgresql://u:s3cr3t@localhost:99999/db",
        "postgresql://u:s3cr3t@localhost/db?connect_timeout=abc",
        "postgresql://u:s3cr3t@localhost/db?sslmode=verify_full",
        "postgresql://u:s3cr3t@localhost/db?existing=maybe",
    ],
)
def test_a_bad_url_is_a_configuration_error_without_the_password(bad: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        WorkflowHost(bad)
    assert "s3cr3t" not in str(caught.value)


def test_redact_hides_the_password_in_both_places() -> None:
    shown = redact("postgresql://app:pa%40ss@db:5432/app?password=other&schema=wfe")
    assert "pa%40ss" not in shown and "other" not in shown
    assert shown.startswith("postgresql://app:***@db:5432/app")


def test_postgres_is_an_alias_and_options_reach_the_backend() -> None:
    options = parse_url(
        "postgres://u:pw-secret-9@h:6543/d?schema=orders&pool_size=3&sslmode=disable"
    )
    assert (options.schema, options.pool_size) == ("orders", 3)
    assert "sslmode=disable" in options.conninfo and "schema" not in options.conninfo
    assert "connect_timeout=" in options.conninfo
    assert "pw-secret-9" not in repr(options)


def test_a_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "psycopg" else real(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r'pip install "wfe\[postgres\]"'):
        PluginHost().backend("postgresql://u:p@localhost/db")


def test_the_plugin_module_imports_no_driver() -> None:
    code = (
        "import sys, wfe_postgres._plugin, wfe_postgres\n"
        "from wfe_core._plugins import PluginHost\n"
        "PluginHost().specs()\n"
        "assert not any(m.startswith(('psycopg', 'psycopg_pool')) for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('psycopg'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


async def test_a_wrong_password_is_a_configuration_error_and_creates_nothing(url: str) -> None:
    parts = urlsplit(url)
    wrong = parts._replace(netloc=f"{parts.username}:n0t-the-pa55word@{parts.hostname}:{parts.port or 5432}").geturl()
    host = WorkflowHost(wrong)
    with pytest.raises(ConfigurationError) as caught:
        await host.start()
    assert "n0t-the-pa55word" not in str(caught.value)
    assert "password" in str(caught.value)
    assert schema_of(url) not in await schemas(url)


async def test_a_missing_database_is_a_configuration_error(url: str) -> None:
    missing = urlsplit(url)._replace(path="/wfe_no_such_database").geturl()
    with pytest.raises(ConfigurationError, match="does not exist"):
        await WorkflowHost(missing).start()
    assert schema_of(url) not in await schemas(url)


#: Bad input on a URL that otherwise names the real test server: what to change in it.
_BAD_ON_THE_SERVER = [
    pytest.param({"schema": "we%22ird"}, id="quoted-schema"),
    pytest.param(
        {"schema": "wfe%22%3B%20DROP%20SCHEMA%20public%20CASCADE%3B%20--"}, id="injection-schema"
    ),
    pytest.param({"schema": "o%27brien"}, id="single-quote-schema"),
    pytest.param({"user": "wfe_no_such_user"}, id="no-such-user"),
    pytest.param({"schema": "pg_wfe"}, id="reserved-schema"),
    pytest.param({"colour": "red"}, id="unknown-parameter"),
    pytest.param({"sslmode": "bogus"}, id="bad-libpq-value"),
]


@pytest.mark.parametrize("change", _BAD_ON_THE_SERVER)
async def test_bad_input_on_the_real_server_is_a_configuration_error_and_creates_nothing(
    url: str, change: dict[str, str]
) -> None:
    """Each a ``ConfigurationError`` (at construction or at start, never an outage to wait
    out, never later), without the password, and no schema made on the server."""
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qsl(parts.query) if k not in change}
    query.update((k, v) for k, v in change.items() if k != "user")
    user = change.get("user", parts.username)
    bad = parts._replace(
        netloc=f"{user}:{parts.password}@{parts.hostname}:{parts.port or 5432}",
        query="&".join(f"{k}={v}" for k, v in query.items()),
    ).geturl()
    before = await schemas(url)
    with pytest.raises(ConfigurationError) as caught:
        host = WorkflowHost(bad)
        await host.start()
        await host.stop()
    assert f":{parts.password}@" not in str(caught.value)
    # Other tests make their own wfe_test_ schemas on this server meanwhile.
    made = {s for s in (await schemas(url)) - before if not s.startswith("wfe_test_")}
    assert made == set()


async def test_an_unreachable_server_is_unavailable_not_a_hang(url: str) -> None:
    parts = urlsplit(url)
    # A port nothing listens on: refused at once.
    closed = parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:1").geturl()
    with pytest.raises(ProviderUnavailableError) as caught:
        await WorkflowHost(closed).start()
    assert f":{parts.password}@" not in str(caught.value)
    assert ":***@" in str(caught.value)


async def test_a_statement_the_server_refuses_for_good_is_not_an_outage(
    database: PostgresDatabase,
) -> None:
    """psycopg raises OperationalError for SQLSTATE class 54 ("program limit exceeded": an
    index entry over the btree limit, a query too deep for the stack), which was reported as
    ProviderUnavailableError, "retries by itself", and retried for ever."""
    with pytest.raises(ProviderError) as caught:
        await database.fetchone("testing", "SELECT '{{{{{{{1}}}}}}}'::int[]", read=True)
    assert not isinstance(caught.value, ProviderUnavailableError)
    assert "54000" in str(caught.value)
    assert "retries by itself" not in str(caught.value)


# -- schema ------------------------------------------------------------------------------------


async def test_the_schema_is_made_on_first_use_and_only_inside_it(url: str) -> None:
    import psycopg

    before = await schemas(url)
    async with WorkflowHost(url):
        pass
    made = (await schemas(url)) - before
    assert schema_of(url) in made
    # Other tests on the server make their own test schemas meanwhile; nothing else is new.
    assert {s for s in made if not s.startswith("wfe_test_")} == set()
    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo) as conn:
        rows = await (
            await conn.execute(
                "SELECT max(version) FROM " + f'"{schema_of(url)}".wfe_migrations'
            )
        ).fetchall()
    assert rows == [(SCHEMA_VERSION,)]


async def test_hosts_starting_together_migrate_once(url: str) -> None:
    databases = [PostgresDatabase.from_url(url) for _ in range(6)]
    await asyncio.gather(*(db.open() for db in databases))
    await asyncio.gather(*(db.close() for db in databases))
    async with WorkflowHost(url) as host:
        assert await host.persistence.get_workflows([]) == []


async def test_a_database_opens_with_its_pool_full(url: str) -> None:
    """The first burst of calls after open finds every pooled connection made: none of them
    waits for a login."""
    database = PostgresDatabase.from_url(with_query(url, pool_size="5"))
    await database.open()
    try:
        assert database._pool is not None
        stats = database._pool.get_stats()
        assert stats["pool_size"] == 5
        assert stats["pool_available"] == 5
    finally:
        await database.close()


async def test_a_newer_schema_refuses_to_start(url: str) -> None:
    import psycopg

    async with WorkflowHost(url):
        pass
    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo, autocommit=True) as conn:
        await conn.execute(
            f'INSERT INTO "{schema_of(url)}".wfe_migrations (version) VALUES (%s)',
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(ConfigurationError, match="newer than this wfe"):
        await WorkflowHost(url).start()


async def test_a_version_2_store_is_migrated_to_take_any_name_key_and_reference(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Version 3 indexes digests of event names, keys and references (a btree entry holds
    ~2.7 KB) and escapes SOH, the escape of NUL, in what was stored before."""
    import psycopg

    from wfe_postgres import _schema

    with monkeypatch.context() as patch:
        patch.setattr(_schema, "_MIGRATIONS", _schema._MIGRATIONS[:2])
        patch.setattr(_schema, "SCHEMA_VERSION", 2)
        async with PostgresDatabase.from_url(url):
            pass
    schema = schema_of(url)
    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo, autocommit=True) as conn:
        await conn.execute(
            f'INSERT INTO "{schema}".events (id, name, key, data, event_time) '
            "VALUES ('e1', 'n', 'soh\x010', 'null', now())"
        )
    async with PostgresDatabase.from_url(url) as db:
        persistence = PostgresPersistence(db)
        (event,) = await persistence.get_events("n", "soh\x010", datetime(2000, 1, 1, tzinfo=UTC))
        assert event.event_key == "soh\x010"
        long_key = "".join(str(n) for n in range(5_000))
        event.id, event.event_key = "e2", long_key
        await persistence.create_event(event)
        found = await persistence.get_events("n", long_key, datetime(2000, 1, 1, tzinfo=UTC))
        assert [e.id for e in found] == ["e2"]
    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo) as conn:
        rows = await (
            await conn.execute(f'SELECT max(version) FROM "{schema}".wfe_migrations')
        ).fetchall()
    assert rows == [(SCHEMA_VERSION,)] and SCHEMA_VERSION == 6


async def test_a_foreign_schema_is_refused_untouched(url: str) -> None:
    import psycopg

    schema = schema_of(url)
    async with await psycopg.AsyncConnection.connect(parse_url(url).conninfo, autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        await conn.execute(f'CREATE TABLE "{schema}".workflows (x int)')
    with pytest.raises(ConfigurationError, match="did not make"):
        await WorkflowHost(url).start()


# -- persistence ---------------------------------------------------------------------------------


async def test_group_commit_fails_each_write_alone(database: PostgresDatabase) -> None:
    persistence = PostgresPersistence(database)
    instances = [sample_instance(reference=f"r{i}") for i in range(4)]
    for instance in instances:
        await persistence.create_workflow(instance)
    stale = await persistence.get_workflow(instances[1].id)
    stale.revision = 7
    broken = await persistence.get_workflow(instances[2].id)
    broken.version = 2**40  # over the version column's integer: the server refuses it
    ghost = sample_instance()
    for instance in (instances[0], instances[3]):
        instance.description = "written"
    writes = [WorkflowWrite(i) for i in (instances[0], stale, broken, ghost, instances[3])]
    outcomes = await persistence.persist_workflows(writes)
    assert outcomes[0] is None and outcomes[4] is None
    assert isinstance(outcomes[1], ConcurrencyError)
    assert isinstance(outcomes[2], ProviderError)
    assert not isinstance(outcomes[2], ProviderUnavailableError)
    assert isinstance(outcomes[3], WorkflowNotFoundError)
    for n in (0, 3):
        loaded = await persistence.get_workflow(instances[n].id)
        assert (loaded.description, loaded.revision) == ("written", 2)
        assert loaded == instances[n]
    assert (await persistence.get_workflow(instances[2].id)).revision == 1


async def test_a_persist_writes_only_the_changed_pointers(database: PostgresDatabase) -> None:
    persistence = PostgresPersistence(database)
    instance = sample_instance()
    await persistence.create_workflow(instance)
    first, second = instance.execution_pointers
    first.step_name = "changed, not written"
    second.step_name = "changed and written"
    await persistence.persist_workflow(instance, changed_pointers=[second.id])
    loaded = list((await persistence.get_workflow(instance.id)).execution_pointers)
    assert loaded[0].step_name != first.step_name
    assert loaded[1].step_name == "changed and written"


async def test_loads_asked_for_together_each_get_their_own_answer(database: PostgresDatabase) -> None:
    persistence = PostgresPersistence(database)
    a, b = sample_instance(reference="a"), sample_instance(reference="b")
    for instance in (a, b):
        await persistence.create_workflow(instance)
    asks = [a.id, "missing", b.id, a.id]
    got = await asyncio.gather(*(persistence.get_workflow(w) for w in asks),
                               return_exceptions=True)
    assert [getattr(g, "reference", None) for g in got] == ["a", None, "b", "a"]
    assert isinstance(got[1], WorkflowNotFoundError)
    assert got[0] == a and got[3] == a
    assert got[0] is not got[3]  # an id asked for twice: two instances, each caller its own


# -- queue ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def two_hosts_listening(url: str) -> AsyncIterator[tuple[PostgresDatabase, PostgresDatabase]]:
    """Two databases on one schema, as two hosts have, once both listen for notifications."""
    one, two = PostgresDatabase.from_url(url), PostgresDatabase.from_url(url)
    await one.open()
    await two.open()
    try:
        for _ in range(100):  # the listeners connect in the background
            if one.listening and two.listening:
                break
            await asyncio.sleep(0.02)
        yield one, two
    finally:
        await one.close()
        await two.close()


async def test_enqueues_made_together_keep_the_better_level_and_wake_per_item(url: str) -> None:
    async with two_hosts_listening(url) as (one, two):
        taking, sending = PostgresQueue(one), PostgresQueue(two)
        wake_up = f"queue:{QueueKind.WORKFLOW.value}"
        before = one.signals(wake_up)
        # One batch: "twice" comes at levels 4 and 1 (it keeps 1) and "late" at level 9.
        await asyncio.gather(
            sending.enqueue(QueueKind.WORKFLOW, "late", 9),
            sending.enqueue(QueueKind.WORKFLOW, "twice", 4),
            sending.enqueue(QueueKind.WORKFLOW, "plain", 4),
            sending.enqueue(QueueKind.WORKFLOW, "twice", 1),
        )
        taken = [await taking.dequeue(QueueKind.WORKFLOW, 2.0) for _ in range(3)]
        assert taken == ["twice", "plain", "late"]
        assert await taking.dequeue(QueueKind.WORKFLOW, 0.0) is None
        # The other host heard of each of the three rows, not one folded notification.
        for _ in range(100):
            if one.signals(wake_up) - before >= 3:
                break
            await asyncio.sleep(0.02)
        assert one.signals(wake_up) - before >= 3



async def test_an_enqueue_on_one_host_wakes_a_waiting_dequeue_on_another(url: str) -> None:
    async with two_hosts_listening(url) as (one, two):
        waiting, sending = PostgresQueue(one), PostgresQueue(two)
        wake_up = f"queue:{QueueKind.WORKFLOW.value}"  # what the waiting queue listens for
        notified = one.signals(wake_up)

        async def send() -> None:
            await asyncio.sleep(0.1)  # let the dequeue start waiting first
            await sending.enqueue(QueueKind.WORKFLOW, "wake")

        got, _ = await asyncio.gather(waiting.dequeue(QueueKind.WORKFLOW, 5.0), send())
        assert got == "wake"
        # Pushed, not only found by a later look: the enqueue on the other host reached this
        # one as a notification. (Proved by the count, not by timing the wake-up.)
        assert one.signals(wake_up) > notified


# -- search --------------------------------------------------------------------------------------


async def test_search_terms_are_data_never_syntax(database: PostgresDatabase) -> None:
    index = PostgresSearchIndex(database)
    texts = {
        "quote": "it's O'Brien",
        "ops": "salt & pepper | vinegar ! oil",
        "prefix": "term:* here",
        "like": "100% pure_cotton",
        "slash": "back\\slash c:\\path",
        "unicode": "Zoë 日本語 café",
    }
    for n, (wid, text) in enumerate(texts.items()):
        await index.index_workflow(
            WorkflowInstance(
                id=wid,
                definition_id="x1",
                version=1,
                data=encode_data({"text": text}),
                create_time=datetime(2020, 1, n + 1, tzinfo=UTC),
            )
        )

    async def ids(terms: str) -> list[str]:
        return [item.id for item in (await index.search(terms, SearchFilter(), 0, 10)).items]

    everything = ["unicode", "slash", "like", "prefix", "ops", "quote"]
    assert await ids("o'brien") == ["quote"]
    assert await ids("brien'") == ["quote"]
    assert await ids("'") == everything
    assert await ids("salt & pepper") == ["ops"]
    assert await ids("vinegar | nothing") == []
    assert await ids("!oil") == ["ops"]
    assert await ids("term:*") == ["prefix"]
    assert await ids(":*") == everything
    assert await ids("100%") == ["like"]
    assert await ids("%") == everything
    assert await ids("pure_") == ["like"]
    assert await ids("_cotton") == ["like"]
    assert await ids("back\\") == ["slash"]
    assert await ids("\\") == everything
    assert await ids("日本") == ["unicode"]
    assert await ids("ZOË") == ["unicode"]
    assert await ids("cafe") == []


async def test_a_pass_writes_the_search_entry_in_its_statement(url: str) -> None:
    async with WorkflowHost(url) as host:
        persistence: Any = host.persistence
        instance = sample_instance(data=encode_data({"word": "before"}))
        await persistence.create_workflow(instance)
        assert await persistence.get_index_outbox() == []
        instance.data = encode_data({"word": "after"})
        instance.status = WorkflowStatus.COMPLETE
        await persistence.persist_workflow(instance)
        page = await host.search("after")
        assert [item.id for item in page.items] == [instance.id]
        assert page.items[0].status is WorkflowStatus.COMPLETE
        assert (await host.search("before")).total == 0


async def test_a_lost_search_index_is_rebuilt_from_the_store(url: str) -> None:
    """``WorkflowListing``: the store pages its ids, so ``rebuild_search_index`` (``wfe
    reindex``) can write every workflow to an index that was emptied."""
    async with WorkflowHost(url) as host:
        persistence: Any = host.persistence
        made = []
        for n in range(7):
            instance = sample_instance(data=encode_data({"word": f"tulip{n}"}))
            await persistence.create_workflow(instance)
            made.append(instance.id)
        assert await persistence.count_workflows() == 7
        pages, after = [], None
        while page := await persistence.list_workflow_ids(after, limit=3):
            pages.append(page)
            after = page[-1]
        assert [len(p) for p in pages] == [3, 3, 1]
        assert sorted(i for p in pages for i in p) == sorted(made)
        await persistence.database.execute("emptying the index", "DELETE FROM {s}.search_docs")
        assert (await host.search("tulip")).total == 0
        assert await host.rebuild_search_index(batch=3) == 7
        assert (await host.search("tulip")).total == 7
        assert [i.id for i in (await host.search("tulip3")).items] == [made[3]]


# -- outages -------------------------------------------------------------------------------------


async def test_connections_cut_mid_run_every_workflow_still_completes(url: str) -> None:
    """Every connection of the host is killed by the server, twice, while workflows run (what
    a database restart does to a host): calls fail as unavailable, the host retries, the
    listener reconnects, and every workflow completes with its data."""
    import psycopg

    from wfe import StepBody, WorkflowBuilder

    class Count(StepBody):
        async def run(self, ctx: Any) -> None:
            await asyncio.sleep(0.01)
            ctx.data["n"] += 1

    definition = (
        WorkflowBuilder(dict)
        .start_with(Count)
        .then(Count)
        .wait_for("go", lambda d, ctx: ctx.workflow.id)
        .then(Count)
        .then(Count)
        .build("cut", 1)
    )
    name = f"wfe-cut-{schema_of(url)}"[:60]
    tagged = with_query(url, application_name=name)

    async def cut() -> int:
        async with await psycopg.AsyncConnection.connect(
            parse_url(url).conninfo, autocommit=True
        ) as conn:
            rows = await (
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                )
            ).fetchall()
        return len(rows)

    async with WorkflowHost(tagged, poll_interval=0.5) as host:
        host.register(definition)
        ids = [await host.start_workflow("cut", {"n": 0}) for _ in range(30)]
        assert await cut() > 0
        for wid in ids:
            await asyncio.sleep(0.005)
            while True:
                try:
                    await host.publish_event("go", wid)
                    break
                except ProviderUnavailableError:  # this call met a connection cut under it
                    await asyncio.sleep(0.05)
        assert await cut() > 0
        for wid in ids:
            # Reads run again on a fresh connection by themselves; this loop is for the odd
            # call that still meets the outage (a caller's retry, as the error asks for).
            for _ in range(20):
                try:
                    instance = await host.wait_for_workflow(wid, timeout=60)
                    break
                except ProviderUnavailableError:
                    await asyncio.sleep(0.05)
            assert instance.status is WorkflowStatus.COMPLETE
            assert instance.data == {"n": 4}
        database: Any = host.persistence.database  # type: ignore[attr-defined]
        for _ in range(100):
            if database.listening:
                break
            await asyncio.sleep(0.05)
        assert database.listening, "the listener did not reconnect"


async def test_verify_full_without_a_root_certificate_names_the_certificate_not_the_password(
    url: str, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-root.crt"
    with pytest.raises(ConfigurationError) as caught:
        async with WorkflowHost(f"{url}&sslmode=verify-full&sslrootcert={missing}"):
            pass
    message = str(caught.value)
    assert "TLS" in message and "sslrootcert" in message
    assert "password" not in message.split("(")[0]


def test_a_libpq_option_with_spaces_reaches_libpq_percent_encoded() -> None:
    """libpq decodes %20 in a URI's query, not +: ``options=-c x=y`` must not become ``-c+x=y``."""
    conninfo = parse_url("postgresql://u@h/db?options=-c%20synchronous_commit%3Doff").conninfo
    assert "options=-c%20synchronous_commit%3Doff" in conninfo
    assert "+" not in conninfo
