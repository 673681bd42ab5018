"""``SqliteDatabase``: one SQLite connection, driven from one worker thread, shared by providers.

The SQLite providers of a host and file share one ``SqliteDatabase``, owned by the host's
:class:`~wfe_sqlite._plugin.SqliteBackend`, which opens it once and closes it once. Every call runs a function with the connection in one
dedicated worker thread (:mod:`wfe_sqlite._worker`), so SQLite never blocks the event loop and
the connection is only ever touched by the thread that made it. Calls run in the order they
were made, each as a whole transaction, so concurrent tasks never interleave inside one; writes
that queue up together share one COMMIT (see ``_worker`` for why that is invisible to callers).

Connection settings:

* ``journal_mode=WAL``: readers never wait for the writer, and other processes on the same file
  see each commit at once.
* ``synchronous=FULL`` (the default; ``?synchronous=NORMAL`` in the URL to change it). FULL
  syncs the WAL at every commit: once a call returns, its write survives a process crash, an
  OS crash and a power loss. NORMAL syncs only at checkpoints: a crash of the *process* still
  loses nothing committed, but a power loss or OS crash may lose the last transactions (never
  corrupt the file), i.e. a started workflow or a finished step could be forgotten. FULL is the
  default because a workflow engine must not lose acknowledged work; group commit (see
  ``_worker``) shares one fsync among all the writes queued together, so under load FULL costs
  little throughput.
* ``busy_timeout=5000`` ms (``?busy_timeout=`` to change it): how long a write waits for another
  process's write lock before failing.
* ``foreign_keys=ON``: pointers cannot outlive their workflow.
* ``?mode=ro`` / ``?mode=rw``: the file must exist (see ``_url``); ``ro`` changes nothing.

Before it changes anything (the switch to WAL is a change), the connection checks that the file
is wfe's or has none of wfe's tables: another program's ``workflows`` table is refused.

The search index: a :class:`~wfe_sqlite.SqliteSearchIndex` made on a database attaches itself
to it (:meth:`SqliteDatabase.attach_search`), and from then on ``SqlitePersistence`` writes each
workflow's search entry in the transaction of the workflow write. Without one, it records the
written workflows in the ``index_outbox`` table instead, for the host to index elsewhere.

An in-memory database (``:memory:``) lives as long as the connection: it is gone once the
database is closed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from wfe_core.errors import ConfigurationError

from ._errors import provider_error
from ._schema import check_readable, migrate, refuse_foreign
from ._url import MEMORY, SqliteOptions, parse_url
from ._worker import ConnectionWorker, Mode

if TYPE_CHECKING:
    from ._search import SqliteSearchIndex

__all__ = ["DatabaseUser", "SqliteDatabase"]

T = TypeVar("T")

_log = logging.getLogger("wfe.sqlite")


class SqliteDatabase:
    """One SQLite database file (or ``:memory:``), its connection and its worker thread.

    The connection opens on first use, sets its PRAGMAs and brings the schema up to date.
    Whoever made the database closes it (:meth:`close`, or ``async with``): the host's backend
    for the databases it opens by URL, the caller for one made by hand. Providers made on it
    do not count themselves as its users; closing one leaves the database open.

    Args:
        path: the database file, or ``":memory:"``.
        synchronous: ``PRAGMA synchronous``: ``"FULL"`` (default), ``"NORMAL"`` or ``"EXTRA"``.
        busy_timeout: seconds a write waits for another process's write lock (at least 1).
        mode: ``"rwc"`` (default: create the file if missing), ``"rw"`` or ``"ro"`` (the file
            must exist; ``ro`` opens it read-only).

    Raises:
        ConfigurationError: the file's directory does not exist, the file does not exist
            under ``rw``/``ro``, or a bad option.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
        mode: str = "rwc",
    ) -> None:
        self.options = SqliteOptions(
            path=os.fspath(path),
            synchronous=synchronous.upper(),
            busy_timeout=busy_timeout,
            mode=mode,
        )
        _check_path(self.options)
        self.search_index: SqliteSearchIndex | None = None
        #: Without an index here: workflow id -> (revision, what its search entry is made of)
        #: at its last write through this host, so that a write changing nothing searchable
        #: adds no outbox row (see ``_persistence._SearchStep``).
        self.outboxed: dict[str, tuple[int, tuple[Any, ...]]] = {}
        self._worker: ConnectionWorker | None = None
        self._worker_lock = threading.Lock()
        self._wakeups: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}

    @classmethod
    def from_url(cls, url: str) -> SqliteDatabase:
        """A database for a ``sqlite://`` URL (see ``wfe_sqlite`` for the forms).

        Raises:
            ConfigurationError: a malformed URL or a missing directory.
        """
        options = parse_url(url)
        return cls(
            options.path,
            synchronous=options.synchronous,
            busy_timeout=options.busy_timeout,
            mode=options.mode,
        )

    @property
    def path(self) -> str:
        """The file path as given, or ``":memory:"``."""
        return self.options.path

    def attach_search(self, index: SqliteSearchIndex) -> None:
        """Have every workflow write on this database update ``index`` in its transaction."""
        self.search_index = index

    def __repr__(self) -> str:
        return f"SqliteDatabase({self.path!r}, synchronous={self.options.synchronous!r})"

    async def open(self) -> None:
        """Make sure the connection is open and the schema current. Idempotent.

        Raises:
            ConfigurationError: the directory does not exist.
            ProviderError: the file cannot be opened or migrated.
        """
        await self._run(Mode.PLAIN, lambda conn: None)

    async def close(self) -> None:
        """Close the connection and stop the thread. Idempotent; a later call opens it again."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            await asyncio.wrap_future(worker.stop())

    async def __aenter__(self) -> SqliteDatabase:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in the worker thread inside one read transaction.

        The transaction gives ``fn`` a consistent snapshot across several SELECTs even while
        other processes commit.

        Raises:
            ProviderError: SQLite failed.
        """
        return await self._run(Mode.READ, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, light: bool = False) -> T:
        """Run ``fn(connection)`` in the worker thread inside one write transaction.

        The transaction commits when ``fn`` returns and rolls back when it raises (the
        exception is passed on); the call returns only once the commit is done. It starts
        with ``BEGIN IMMEDIATE``, which takes the write lock up front: a deferred transaction
        that reads first and writes later must upgrade its lock, and when another process holds
        it SQLite fails that upgrade at once instead of waiting (waiting could deadlock), so a
        busy file would fail needlessly; IMMEDIATE waits up to the busy timeout instead.

        Args:
            light: it may answer before its commit reaches the disk (a lease: see
                ``ConnectionWorker.submit_async``); joined by a durable write, it is durable.

        Raises:
            ProviderError: SQLite failed (the transaction was rolled back).
        """
        return await self._run(Mode.WRITE, fn, light)

    def write_soon(self, fn: Callable[[sqlite3.Connection], object]) -> None:
        """Queue a write transaction without waiting for it; failures are logged.

        For work that must happen even when the awaiting task was cancelled.
        """
        try:
            future = self._get_worker().submit(Mode.WRITE, fn)
        except RuntimeError:  # stopped under us; nothing can run any more
            _log.error("wfe-sqlite: %s is closed; a queued write was dropped", self.path)
            return
        future.add_done_callback(functools.partial(_log_failure, self.path))

    def wakeup(self, name: str) -> asyncio.Event:
        """An in-process event named ``name``, for providers to signal each other quickly.

        The event belongs to the running loop; a caller on another loop gets a fresh one.
        """
        loop = asyncio.get_running_loop()
        entry = self._wakeups.get(name)
        if entry is None or entry[0] is not loop:
            entry = self._wakeups[name] = (loop, asyncio.Event())
        return entry[1]

    def _get_worker(self) -> ConnectionWorker:
        with self._worker_lock:
            if self._worker is None:
                # The worker gets the options, not self, so that a database dropped without
                # close() can be collected, and the finalizer can stop its thread.
                connect = functools.partial(_connect, self.options)
                self._worker = ConnectionWorker(connect, name=f"wfe-sqlite {self.path}")
                weakref.finalize(self, self._worker.stop)
            return self._worker

    async def _run(self, mode: Mode, fn: Callable[[sqlite3.Connection], T], light: bool = False) -> T:
        try:
            return await self._get_worker().submit_async(mode, fn, light=light)  # type: ignore[no-any-return]
        except sqlite3.Error as exc:
            raise provider_error(exc, self.path, self.options.busy_timeout) from exc


def _connect(options: SqliteOptions) -> sqlite3.Connection:
    """Open and prepare the connection; runs in the worker thread."""
    _check_path(options)
    target, uri = options.path, False
    if options.mode != "rwc":
        target, uri = f"{Path(options.path).absolute().as_uri()}?mode={options.mode}", True
    # isolation_level=None: autocommit, so that the worker alone decides where transactions
    # start (BEGIN / BEGIN IMMEDIATE / SAVEPOINT) instead of the driver's implicit BEGINs.
    conn = sqlite3.connect(
        target,
        timeout=options.busy_timeout,
        isolation_level=None,
        cached_statements=256,
        uri=uri,
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(options.busy_timeout * 1000)}")
        refuse_foreign(conn, options.path)
        conn.execute("PRAGMA foreign_keys = ON")
        if options.mode == "ro":
            check_readable(conn, options.path)
        else:
            _enable_wal(conn, options.busy_timeout)
            conn.execute(f"PRAGMA synchronous = {options.synchronous}")
            migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _enable_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching a new file to WAL needs an exclusive lock, and SQLite does not call the busy
    # handler for it: two processes opening one new file at once must retry by hand.
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _check_path(options: SqliteOptions) -> None:
    path = options.path
    if path == MEMORY:
        return
    if options.mode != "rwc" and not Path(path).is_file():
        raise ConfigurationError(
            f"there is no SQLite database at {path!r}: check the path, or create the database "
            f"by running a host on it (it is opened with mode={options.mode}, which never "
            "creates one)"
        )
    directory = Path(path).parent
    if not directory.is_dir():
        raise ConfigurationError(
            f"cannot use the SQLite database {path!r}: its directory {str(directory)!r} does "
            "not exist; create it first (wfe does not create directories)"
        )
    if Path(path).is_dir():
        raise ConfigurationError(f"cannot use {path!r} as an SQLite database: it is a directory")


def _log_failure(path: str, future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        _log.error("wfe-sqlite: a background write to %s failed", path, exc_info=future.exception())


class DatabaseUser:
    """Base of the SQLite providers: holds the database, and owns it when made from a URL.

    Args:
        database: a :class:`SqliteDatabase` (its maker closes it), or a ``sqlite://`` URL to
            make one from (then :meth:`close` closes it).
    """

    def __init__(self, database: SqliteDatabase | str) -> None:
        self._owns = not isinstance(database, SqliteDatabase)
        self._db = (
            database if isinstance(database, SqliteDatabase) else SqliteDatabase.from_url(database)
        )

    @property
    def database(self) -> SqliteDatabase:
        """The database this provider uses (shared with the host's other SQLite providers)."""
        return self._db

    async def start(self) -> None:
        """Open the database and create or migrate its schema. Idempotent."""
        await self._db.open()

    async def close(self) -> None:
        """Close the database if this provider made it from a URL. Idempotent."""
        if self._owns:
            await self._db.close()
