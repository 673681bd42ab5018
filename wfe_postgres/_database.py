"""``PostgresDatabase``: one pool of connections to one schema, shared by the PostgreSQL providers.

The providers of a host that name one database and schema share one ``PostgresDatabase``, owned
by the host's :class:`~wfe_postgres._plugin.PostgresBackend`, which opens it once and closes it
once. It holds:

* a ``psycopg_pool.AsyncConnectionPool`` of autocommit connections. Most calls are a single
  statement (data-modifying CTEs do a whole pass in one), which PostgreSQL runs as its own
  transaction: one round trip, no BEGIN/COMMIT. Group commits open an explicit transaction;
* a listening connection outside the pool (``LISTEN wfe_<schema>``): enqueues notify it, so a
  waiting ``dequeue`` on any host wakes at once. When it drops (a restart, a network blip) it
  reconnects by itself, and the queue polls more often meanwhile.

An outage: a call waits at most ``call_timeout`` (a URL option) for a connection, then raises
``ProviderUnavailableError``. The pool's own reconnection backs off exponentially, without a
cap (1, 2, 4 ... 128 s), so after a long outage its next attempt could come minutes after the
server is back. Instead, the pool gives up a connection after ``RECONNECT_GIVE_UP`` seconds of
failed attempts; once it holds none, calls fail at once and this module tries the server
itself every ``PROBE_EVERY`` seconds, and refills the pool as soon as one attempt connects. So
the first call after the server answers again succeeds within about a second, whatever the
outage's length.

Opening checks the server with a plain connection first, so a wrong password or a missing
database is reported at once with libpq's reason (a pool would only time out), then migrates
the schema (see ``_schema``) and fills the pool. Every driver error is translated at this
boundary (see ``_errors``).

The search index: a :class:`~wfe_postgres.PostgresSearchIndex` made on a database attaches
itself to it, and ``PostgresPersistence`` then writes each workflow's search entry in the
statement of the workflow write. Without one it records written workflows in ``index_outbox``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from wfe_core.errors import ProviderUnavailableError, WfeError

from ._errors import sqlstate, translate
from ._schema import migrate
from ._url import PostgresOptions, parse_url

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

    from ._search import PostgresSearchIndex

__all__ = ["ASYNC_COMMIT", "DatabaseUser", "PostgresDatabase"]

#: A condition that, added to a data-modifying statement's WHERE, commits that statement's
#: transaction without waiting for its WAL flush (``synchronous_commit = off`` for it alone; an
#: uncorrelated subquery, so the server evaluates it once, and only when the statement writes).
#: Only for writes whose loss in a server crash is harmless because the engine redoes or
#: outlives them: claiming or queueing a wake-up (the durable truth is the workflow's or the
#: event's row, which the poller finds again), ending a spent subscription or marking an event
#: delivered (delivering it again finds the wait served and ends it), releasing a lease (it
#: expires). It saves one flush, the most expensive part of a small commit, on the wake-up path.
#: Workflow writes, new events and taken leases always wait for their flush.
ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL"

T = TypeVar("T")

_log = logging.getLogger("wfe.postgres")

#: Seconds of failed attempts after which the pool gives up reconnecting one connection (its
#: backoff would otherwise grow past minutes); the probe (``PROBE_EVERY``) takes over.
RECONNECT_GIVE_UP = 2.0
#: Seconds between the probe's attempts to connect while the pool has given up.
PROBE_EVERY = 0.5
#: Seconds ``open`` waits for the pool to fill: a host starts with its connections made, so
#: its first burst of calls does not wait for logins (the rest come in the background).
POOL_FILL_WAIT = 5.0

#: Backoff of the listener's reconnection attempts, in seconds.
_LISTEN_RETRY = (0.1, 5.0)


#: Times a call runs again on another connection when the server had ended its session
#: (``PostgresDatabase.run``): a restart leaves every idle pooled connection dead at once.
ENDED_RETRIES = 3
#: SQLSTATEs of a session the server ended: admin shutdown (a stop or restart), crash shutdown.
_ENDED = frozenset({"57P01", "57P02"})


class PostgresDatabase:
    """One PostgreSQL database and schema: its pool, its listener and its wake-ups.

    Args:
        options: what :func:`~wfe_postgres._url.parse_url` read from the URL.
    """

    def __init__(self, options: PostgresOptions) -> None:
        self.options = options
        self.schema = options.schema
        self.channel = f"wfe_{options.schema}"
        self.search_index: PostgresSearchIndex | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._checking: asyncio.Task[None] | None = None
        #: Another check is due once the running one ends (``_check_pool``).
        self._check_again = False
        #: A call failed for a lost connection, and none has succeeded since.
        self._suspect = False
        #: The pool gave up reconnecting (the server refuses connections): ``_probe`` runs.
        self._down = False
        self._probing: asyncio.Task[None] | None = None
        self._listening = False
        self._wakeups: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._signals: dict[str, int] = {}
        self._sql: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> PostgresDatabase:
        """A database for a ``postgresql://`` URL.

        Raises:
            ConfigurationError: a malformed URL.
        """
        return cls(parse_url(url))

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.options.display!r}, schema={self.schema!r})"

    def sql(self, template: str) -> str:
        """``template`` with ``{s}`` naming this schema (a validated identifier, quoted)."""
        text = self._sql.get(template)
        if text is None:
            text = self._sql[template] = template.replace("{s}", f'"{self.schema}"')
        return text

    def attach_search(self, index: PostgresSearchIndex) -> None:
        """Have every workflow write on this database update ``index`` in its statement."""
        self.search_index = index

    @property
    def listening(self) -> bool:
        """Whether the listening connection is up (notifications arrive)."""
        return self._listening

    async def open(self) -> None:
        """Connect, create or migrate the schema, fill the pool, listen. Idempotent.

        Raises:
            ConfigurationError: a wrong password, a missing database, a newer schema.
            ProviderUnavailableError: the server cannot be reached.
        """
        async with self._lock:
            if self._pool is not None:
                return
            import psycopg
            from psycopg_pool import AsyncConnectionPool, PoolTimeout

            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.options.conninfo, autocommit=True
                )
            except psycopg.Error as exc:
                raise translate(exc, self.options, "connecting") from None
            try:
                async with conn:
                    await migrate(
                        conn, self.schema, self.options.display, create=not self.options.existing
                    )
            except psycopg.Error as exc:
                raise translate(exc, self.options, "creating the schema") from None
            # The pool is filled at once: growing it on demand would make the first burst of
            # concurrent calls wait for new connections (a login each).
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self.options.conninfo,
                min_size=self.options.pool_size,
                max_size=self.options.pool_size,
                kwargs={"autocommit": True},
                timeout=self.options.call_timeout,
                reconnect_timeout=RECONNECT_GIVE_UP,
                reconnect_failed=self._gave_up,
                open=False,
                name=f"wfe-{self.schema}",
            )
            # The login was checked above. A pool that does not fill in time (the server's
            # max_connections reached) opens anyway; the rest connect in the background.
            await pool.open(wait=False)
            try:
                await pool.wait(timeout=POOL_FILL_WAIT)
            except PoolTimeout:
                _log.warning(
                    "%s: %d of %d pooled connections made after %s s; the rest are made in the "
                    "background (is the server's max_connections below the pool_size of its "
                    "hosts?)", self.options.display, pool.get_stats().get("pool_size", 0),
                    self.options.pool_size, POOL_FILL_WAIT,
                )
            self._pool = pool
            self._listener = asyncio.create_task(self._listen(), name=f"wfe-listen-{self.schema}")

    async def close(self) -> None:
        """Stop listening and close the pool. Idempotent; a later :meth:`open` opens again."""
        async with self._lock:
            listener, self._listener = self._listener, None
            pool, self._pool = self._pool, None
            probing, self._probing = self._probing, None
            self._down = False
            for task in (listener, probing):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if pool is not None:
                await pool.close()
            self._listening = False

    async def __aenter__(self) -> PostgresDatabase:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def connection(
        self, doing: str, timeout: float | None = None
    ) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled autocommit connection; driver errors inside become wfe errors.

        Args:
            timeout: the longest to wait for a connection (default: ``call_timeout``). With
                the server refusing connections and none left in the pool, none is waited for.

        Raises:
            ProviderUnavailableError: the database is unreachable.
            ConfigurationError: the server refused the login.
            ProviderError: the statement failed.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        try:
            if pool is None:
                # Closed (or never opened): a call still works, on a connection of its own, as
                # a closed SqliteDatabase answers by opening again; nothing is left open.
                async with await psycopg.AsyncConnection.connect(
                    self.options.conninfo, autocommit=True
                ) as conn:
                    yield conn
                return
            if self._down and pool.get_stats().get("pool_size", 0) == 0:
                raise ProviderUnavailableError(
                    f"PostgreSQL at {self.options.display} is unavailable while {doing}: it "
                    "refuses connections; try again once it is back (wfe reconnects within a "
                    "second of it answering)"
                )
            async with pool.connection(timeout=timeout) as conn:
                yield conn
            if self._suspect:
                # The first success after a lost connection: the server is back. Test the
                # idle connections again, now that the ones in use during the first check
                # (ended by the server all the same) have come back to the pool.
                self._suspect = False
                self._check_pool(pool)
        except WfeError:
            raise
        except (psycopg.Error, PoolTimeout) as exc:
            error = translate(exc, self.options, doing)
            # Not while the pool has given up: a check would grow it again, and calls would
            # wait for a connection that cannot come instead of failing at once.
            if pool is not None and isinstance(error, ProviderUnavailableError) and not self._down:
                self._suspect = True
                self._check_pool(pool)
            raise error from exc

    def _gave_up(self, pool: Any) -> None:
        """The pool gave up reconnecting a connection (``RECONNECT_GIVE_UP``): try the server
        from here until it answers (``_probe``)."""
        self._down = True
        if self._probing is None or self._probing.done():
            self._probing = asyncio.create_task(
                self._probe(pool), name=f"wfe-pool-probe-{self.schema}"
            )

    async def _probe(self, pool: Any) -> None:
        """Connect every ``PROBE_EVERY`` seconds until one attempt succeeds, then refill the
        pool at once: ``check`` grows an empty pool, and its new connections connect now,
        not at the next step of the pool's backoff."""
        import psycopg

        while self._down:
            try:
                conn = await psycopg.AsyncConnection.connect(self.options.conninfo)
            except Exception:
                await asyncio.sleep(PROBE_EVERY)
                continue
            with contextlib.suppress(Exception):
                await conn.close()
            self._down = False
        with contextlib.suppress(Exception):
            await pool.check()

    def _check_pool(self, pool: Any) -> None:
        """After a lost connection, test the idle ones in the background and drop the dead:
        a server restart ends every pooled connection, and each would otherwise fail one
        call later, after the database is back (a second outage for the host). A check asked
        for while one runs runs after it."""
        self._check_again = True
        if self._checking is not None and not self._checking.done():
            return

        async def check() -> None:
            while self._check_again:
                self._check_again = False
                with contextlib.suppress(Exception):
                    await pool.check()

        self._checking = asyncio.create_task(check(), name=f"wfe-pool-check-{self.schema}")

    async def run(
        self, doing: str, fn: Callable[[AsyncConnection[Any]], Awaitable[T]], *,
        read: bool = False,
    ) -> T:
        """``await fn(connection)`` on a pooled connection, errors translated.

        Waits at most ``call_timeout`` for connections, in all (``ProviderUnavailableError``
        after that).

        A connection the server ended before (``57P01``, a shutdown or restart: the pool
        still held it, idle) is dropped and ``fn`` runs again on another, a few times: the
        server rolled back whatever the ended session had not committed, and a commit it
        finished first is one this store's writes redo safely (a revision check, an upsert,
        a de-duplicated queue row, a lease its holder takes again).

        Args:
            read: ``fn`` only reads, so it may also run once more after any broken
                connection: a pooled one that the server dropped while idle (a network
                blip) is only found broken when used.
        """
        import psycopg

        # One deadline for the connections of every attempt: a call fails within
        # call_timeout when none comes (a statement that is running is not cut short).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.call_timeout
        for attempt in range(1, ENDED_RETRIES + 2):
            broken = ended = False
            try:
                wait = max(deadline - loop.time(), 0.01)
                async with self.connection(doing, wait) as conn:
                    try:
                        return await fn(conn)
                    except psycopg.OperationalError as exc:
                        broken = conn.closed or conn.broken
                        ended = broken and sqlstate(exc) in _ENDED
                        raise
            except WfeError:
                if not ((ended and attempt <= ENDED_RETRIES) or (read and broken and attempt == 1)):
                    raise
        raise AssertionError("unreachable")

    async def fetchall(
        self, doing: str, sql: str, args: Any = None, *, read: bool = False,
        prepare: bool | None = True,
    ) -> list[tuple[Any, ...]]:
        """Rows of one statement (``sql`` may name the schema as ``{s}``).

        Args:
            prepare: prepare the statement on its connection (the default: the providers'
                statements are a fixed few, and a batch statement's plan costs milliseconds
                each time it is made); ``None`` leaves it to psycopg (statements whose text
                varies, as a search's does).
            read: the statement only reads, so it may run again (see :meth:`run`).
        """

        async def rows(conn: AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = await conn.execute(self.sql(sql), args, prepare=prepare)
            return await cursor.fetchall()

        return await self.run(doing, rows, read=read)

    async def fetchone(
        self, doing: str, sql: str, args: Any = None, *, read: bool = False,
        prepare: bool | None = True,
    ) -> tuple[Any, ...] | None:
        """The first row of one statement, or ``None`` (see :meth:`fetchall`)."""
        rows = await self.fetchall(doing, sql, args, read=read, prepare=prepare)
        return rows[0] if rows else None

    async def execute(self, doing: str, sql: str, args: Any = None) -> int:
        """Run one statement; the number of rows it changed (see :meth:`run` for retries)."""

        async def one(conn: AsyncConnection[Any]) -> int:
            cursor = await conn.execute(self.sql(sql), args, prepare=True)
            return cursor.rowcount

        return await self.run(doing, one)

    def wakeup(self, name: str) -> asyncio.Event:
        """An in-process event named ``name``, set by local enqueues and by notifications.

        The event belongs to the running loop; a caller on another loop gets a fresh one.
        """
        loop = asyncio.get_running_loop()
        entry = self._wakeups.get(name)
        if entry is None or entry[0] is not loop:
            entry = self._wakeups[name] = (loop, asyncio.Event())
        return entry[1]

    def signal(self, name: str) -> None:
        """Something arrived for the wake-up ``name``: count it and set its event."""
        self._signals[name] = self._signals.get(name, 0) + 1
        self.wakeup(name).set()

    def signals(self, name: str) -> int:
        """How many times ``name`` was signalled so far (see :meth:`signal`)."""
        return self._signals.get(name, 0)

    async def _listen(self) -> None:
        """Keep a LISTEN connection up and turn notifications into wake-ups, until cancelled."""
        import psycopg

        delay = _LISTEN_RETRY[0]
        down_logged = False
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.options.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f'LISTEN "{self.channel}"')
                    self._listening = True
                    if down_logged:
                        _log.info("wfe-postgres: listening on %s again", self.options.display)
                        down_logged = False
                    # Whatever was enqueued while nobody listened: wake every consumer once.
                    for name in list(self._wakeups):
                        self.signal(name)
                    delay = _LISTEN_RETRY[0]
                    async for notify in conn.notifies():
                        # "workflow", or "workflow <id>" from an enqueue of several items.
                        self.signal(f"queue:{notify.payload.split(' ', 1)[0]}")
            except asyncio.CancelledError:
                self._listening = False
                raise
            except Exception as exc:
                self._listening = False
                if not down_logged:  # once per outage, not once per attempt
                    down_logged = True
                    _log.warning(
                        "wfe-postgres: lost the notification connection to %s (%s); queues "
                        "poll until it is back",
                        self.options.display,
                        self.options.scrub(str(exc)) or type(exc).__name__,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _LISTEN_RETRY[1])


class DatabaseUser:
    """Base of the PostgreSQL providers: holds the database, and owns it when made from a URL.

    Args:
        database: a :class:`PostgresDatabase` (its maker closes it), or a ``postgresql://``
            URL to make one from (then :meth:`close` closes it).
    """

    def __init__(self, database: PostgresDatabase | str) -> None:
        self._owns = not isinstance(database, PostgresDatabase)
        self._db = (
            database if isinstance(database, PostgresDatabase) else PostgresDatabase.from_url(database)
        )

    @property
    def database(self) -> PostgresDatabase:
        """The database this provider uses (shared with the host's other PostgreSQL providers)."""
        return self._db

    async def start(self) -> None:
        """Open the database and create or migrate its schema. Idempotent."""
        await self._db.open()

    async def close(self) -> None:
        """Close the database if this provider made it from a URL. Idempotent."""
        if self._owns:
            await self._db.close()
