"""``ConnectionWorker``: the one thread that owns an SQLite connection and runs every call on it.

``SqliteDatabase`` submits jobs here and awaits their futures; nothing else touches the
connection, so it never crosses threads and SQLite never blocks the event loop.

Jobs run in the order they were submitted, each in its own transaction, with one exception
that makes concurrent writers cheap: write jobs that are *already queued together* run in one
transaction, each inside its own SAVEPOINT, with a single COMMIT for all of them (group
commit). Jobs submitted from an event loop are handed over once per loop iteration, as one
batch: a burst of writes from many tasks costs one thread wake-up and lands in one group,
instead of waking an idle worker per write and committing each alone. A job that raises is
rolled back to its savepoint alone and gets its exception; the others commit. If the group's transaction fails as a whole (an I/O error, a full disk, a failed
COMMIT), every job runs again alone. No job's future resolves before the COMMIT that makes it
durable, so callers see exactly what they would with one transaction each, at the cost of one
fsync per group instead of one per write. A lone write pays nothing extra.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import enum
import logging
import queue
import sqlite3
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

__all__ = ["ConnectionWorker", "Mode"]

# Bounds the latency a write adds to the writes grouped with it, and the work redone when a
# group's COMMIT fails. One group covers a loop iteration's passes at the host's default of
# 256 workflows in flight, so they share one fsync under synchronous=FULL.
MAX_GROUP = 256


_log = logging.getLogger("wfe.sqlite")

#: ``PRAGMA synchronous`` level NORMAL: in WAL mode a commit is not synced to the disk.
_NORMAL = 1


class Mode(enum.Enum):
    """How a job runs: inside a read or a write transaction, or with none."""

    READ = "BEGIN"
    WRITE = "BEGIN IMMEDIATE"
    PLAIN = ""


class _LoopOutcome:
    """Carries a job's outcome to an asyncio future, with the future-like methods jobs use.

    Outcomes are handed to their event loop in batches, one wake-up per group of jobs rather
    than one per job: a wake-up costs a syscall and a GIL hand-off each.
    """

    __slots__ = ("future", "loop", "outbox")

    def __init__(self, loop: asyncio.AbstractEventLoop, outbox: list[Any]) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.outbox = outbox

    def set_running_or_notify_cancel(self) -> bool:
        return not self.future.cancelled()  # a cancelled caller's job never runs

    def set_result(self, value: Any) -> None:
        self.outbox.append((self, True, value))

    def set_exception(self, exc: BaseException) -> None:
        self.outbox.append((self, False, exc))


def _settle(batch: list[tuple[_LoopOutcome, bool, Any]]) -> None:
    for outcome, ok, value in batch:
        if not outcome.future.done():
            if ok:
                outcome.future.set_result(value)
            else:
                outcome.future.set_exception(value)


class _Job:
    __slots__ = ("fn", "future", "light", "mode")

    def __init__(
        self, mode: Mode, fn: Callable[[sqlite3.Connection], Any], future: Any = None,
        light: bool = False,
    ) -> None:
        self.mode = mode
        self.fn = fn
        self.future: Any = future if future is not None else Future()
        #: A write whose commit need not reach the disk before it answers (see ``submit_async``).
        self.light = light


_STOP = object()
_live: weakref.WeakSet[ConnectionWorker] = weakref.WeakSet()


class ConnectionWorker:
    """A thread running jobs against a connection it opens itself on first need.

    Args:
        connect: opens and prepares the connection; runs in the worker thread.
        name: the thread's name.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str) -> None:
        self._connect = connect
        self._conn: sqlite3.Connection | None = None
        self._jobs: queue.SimpleQueue[_Job | list[_Job] | object] = queue.SimpleQueue()
        # Jobs submitted on an event loop during its current iteration, sent by _send.
        self._batches: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        self._outbox: list[tuple[_LoopOutcome, bool, Any]] = []  # worker thread only
        self._lock = threading.Lock()
        self._closed: Future[Any] | None = None  # set by stop(); no job is accepted after it
        #: The connection's ``PRAGMA synchronous`` (read when first needed; see _lower_sync).
        self._durable_level: int | None = None
        # A daemon, so a host that never closed cannot hang interpreter exit; the atexit hook
        # still stops it cleanly first, and SQLite rolls back anything cut short anyway.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        _live.add(self)

    def submit_async(
        self, mode: Mode, fn: Callable[[sqlite3.Connection], Any], *, light: bool = False
    ) -> asyncio.Future[Any]:
        """Queue ``fn(connection)`` for a caller on the running event loop; await the result.

        Args:
            light: a write that may answer before its commit reaches the disk. A transaction
                of such writes alone commits at ``synchronous=NORMAL`` (no fsync): it survives
                the process's crash, and only a crash of the machine can lose it, then with
                every write after it. Leases are such writes: every process that could hold
                one dies in that crash too.

        Raises:
            RuntimeError: the worker was stopped.
        """
        loop = asyncio.get_running_loop()
        outcome = _LoopOutcome(loop, self._outbox)
        self._enqueue(_Job(mode, fn, outcome, light), loop)
        return outcome.future

    def submit(self, mode: Mode, fn: Callable[[sqlite3.Connection], Any]) -> Future[Any]:
        """Queue ``fn(connection)``; its future holds the result or the exception.

        Called on an event loop, the job joins that loop's batch, behind the jobs the loop
        submitted before it; so a caller on the loop thread must not block on the future.

        Raises:
            RuntimeError: the worker was stopped.
        """
        job = _Job(mode, fn)
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        self._enqueue(job, loop)
        future: Future[Any] = job.future
        return future

    def _enqueue(self, job: _Job, loop: asyncio.AbstractEventLoop | None) -> None:
        """Add ``job`` to ``loop``'s batch (sent at the end of its iteration), or queue it."""
        with self._lock:
            if self._closed is not None:
                raise RuntimeError("the SQLite worker is stopped")
            if loop is None:
                self._jobs.put(job)
                return
            batch = self._batches.get(loop)
            if batch is None:
                batch = self._batches[loop] = []
                loop.call_soon(self._send, loop)
            batch.append(job)

    def _send(self, loop: asyncio.AbstractEventLoop) -> None:
        """End of the loop iteration: hand its batch to the thread in one piece."""
        with self._lock:
            batch = self._batches.pop(loop, None)
            if batch:
                self._jobs.put(batch)

    def stop(self) -> Future[Any]:
        """Close the connection after the jobs queued so far, and end the thread. Idempotent."""
        with self._lock:
            if self._closed is None:
                for loop in list(self._batches):  # jobs submitted before the stop still run
                    self._jobs.put(self._batches.pop(loop))
                self._closed = Future()
                self._jobs.put(_STOP)
            return self._closed

    def _finish(self) -> None:
        """Close the connection, if one was ever opened (never open one just to close it)."""
        assert self._closed is not None
        try:
            self._close()
        except BaseException as exc:
            self._closed.set_exception(exc)
        else:
            self._closed.set_result(None)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _run(self) -> None:
        backlog: collections.deque[_Job | object] = collections.deque()
        while True:
            self._take(backlog, block=not backlog)
            job = backlog.popleft()
            if job is _STOP:
                self._finish()
                return
            assert isinstance(job, _Job)
            if job.mode is not Mode.WRITE:
                self._run_one(job)
                self._deliver()
                continue
            group = [job]
            while backlog and len(group) < MAX_GROUP:
                queued = backlog[0]
                if not isinstance(queued, _Job) or queued.mode is not Mode.WRITE:
                    break  # keeps its place: it runs right after this group
                group.append(queued)
                backlog.popleft()
            live = [j for j in group if j.future.set_running_or_notify_cancel()]
            lowered = bool(live) and all(j.light for j in live) and self._lower_sync()
            try:
                if len(live) == 1:
                    self._run_one(live[0], claimed=True)
                elif live:
                    self._run_group(live)
            finally:
                if lowered:
                    self._restore_sync()
            self._deliver()

    def _lower_sync(self) -> bool:
        """Before a transaction of light writes only: commit it without an fsync
        (``synchronous=NORMAL``) when the connection's level asks for one. True if lowered."""
        try:
            conn = self._connection()
            if self._durable_level is None:
                self._durable_level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
            if self._durable_level <= _NORMAL:
                return False
            conn.execute(f"PRAGMA synchronous = {_NORMAL}")
        except sqlite3.Error:
            return False  # the job meets the same trouble and reports it
        return True

    def _restore_sync(self) -> None:
        """After it: the connection's own level again. A connection that cannot be put back
        is closed (the next job opens one at the configured level): a durable write must
        never commit at the lower level."""
        try:
            assert self._conn is not None
            self._conn.execute(f"PRAGMA synchronous = {self._durable_level}")
        except BaseException:
            _log.exception("could not restore PRAGMA synchronous; reopening the connection")
            with contextlib.suppress(BaseException):
                self._close()

    def _take(self, backlog: collections.deque[_Job | object], *, block: bool) -> None:
        """Move everything queued to ``backlog``, in order; wait for something if ``block``."""
        while True:
            try:
                item = self._jobs.get() if block else self._jobs.get_nowait()
            except queue.Empty:
                return
            block = False
            if isinstance(item, list):
                backlog.extend(item)
            else:
                backlog.append(item)

    def _deliver(self) -> None:
        """Hand the finished jobs' outcomes to their loops: one wake-up per loop."""
        if not self._outbox:
            return
        batch, self._outbox[:] = list(self._outbox), []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_LoopOutcome, bool, Any]]] = {}
        for item in batch:
            by_loop.setdefault(item[0].loop, []).append(item)
        for loop, items in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, items)

    def _run_one(self, job: _Job, *, claimed: bool = False) -> None:
        if not claimed and not job.future.set_running_or_notify_cancel():
            return  # cancelled before it started: it never runs
        try:
            conn = self._connection()
            if job.mode is Mode.PLAIN:
                result = job.fn(conn)
            else:
                conn.execute(job.mode.value)
                try:
                    result = job.fn(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _run_group(self, jobs: list[_Job]) -> None:
        """Several write jobs in one transaction, one COMMIT (one fsync) for all.

        First with no savepoint per job: inside one, SQLite copies each page a job changes to
        its statement journal, a quarter of what a small create costs. A job that raises
        (rare: the store's writes report refusals as results) rolls the group back, and the
        group runs again with a savepoint per job, so that only that job's work is undone.
        Jobs are written to be run again (as when SQLite loses a transaction as a whole).
        """
        conn = self._begin(jobs)
        if conn is None:
            return
        results: list[Any] = []
        try:
            for job in jobs:
                results.append(job.fn(conn))
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            self._run_group_isolated(jobs)
            return
        except BaseException as exc:  # not an error of the SQL: fail the group, keep the thread
            _rollback(conn)
            _fail(jobs, exc)
            return
        for job, value in zip(jobs, results, strict=True):
            job.future.set_result(value)

    def _begin(self, jobs: list[_Job]) -> sqlite3.Connection | None:
        """The connection, in the group's write transaction; None (each job failed) when
        the transaction cannot be opened."""
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:  # no lock, no connection: nobody in the group can run
            _fail(jobs, exc)
            return None
        return conn

    def _run_group_isolated(self, jobs: list[_Job]) -> None:
        """The group again, each job in a savepoint of its own: a job that fails is rolled
        back alone, and the others commit."""
        conn = self._begin(jobs)
        if conn is None:
            return
        outcomes: list[tuple[bool, Any]] = []
        culprit: _Job | None = None
        try:
            for job in jobs:
                conn.execute("SAVEPOINT wfe_job")
                try:
                    outcomes.append((True, job.fn(conn)))
                except Exception as exc:
                    if not conn.in_transaction:
                        # SQLite rolled the whole transaction back (I/O error, full disk):
                        # the work of the jobs before this one is gone too.
                        culprit = job
                        outcomes.append((False, exc))
                        raise
                    conn.execute("ROLLBACK TO wfe_job")
                    outcomes.append((False, exc))
                conn.execute("RELEASE wfe_job")
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            # Nothing of the group was kept. Run each job again in a transaction of its own,
            # so that no job fails for what another did; the one that broke the group keeps
            # its own error.
            for job in jobs:
                if job is culprit:
                    job.future.set_exception(outcomes[-1][1])
                else:
                    self._run_one(job, claimed=True)
            return
        except BaseException as exc:  # not an error of the SQL: fail the group, keep the thread
            _rollback(conn)
            _fail(jobs, exc)
            return
        for job, (ok, value) in zip(jobs, outcomes, strict=True):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)


def _fail(jobs: list[_Job], exc: BaseException) -> None:
    for job in jobs:
        job.future.set_exception(exc)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        # A failed ROLLBACK must not hide the error that made us roll back.
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


@atexit.register
def _stop_all() -> None:
    for worker in list(_live):
        worker.stop()
        worker._thread.join(timeout=5)
