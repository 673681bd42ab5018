"""The versioned schema of a wfe SQLite database and the migrations that build it.

``SqliteDatabase`` calls :func:`migrate` right after it opens a connection. Applied versions are
recorded in ``wfe_migrations``; a migration is a list of statements run in one ``BEGIN IMMEDIATE``
transaction, so two processes opening a new file at once cannot both apply it. Add a migration by
appending to ``_MIGRATIONS``; never edit one that has shipped.

Times are INTEGER microseconds since the Unix epoch (UTC): a REAL loses microseconds, and
round-trips must be exact. Lease expiries are the exception (REAL wall-clock seconds), because
they are compared with ``time.time()`` and never returned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from wfe_core.errors import ConfigurationError, ProviderError
from wfe_core.providers import search_words

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "check_readable",
    "has_fts5",
    "migrate",
    "refuse_foreign",
    "search_text_is_fts5",
]

_WORKFLOWS = [
    """CREATE TABLE workflows (
        id TEXT PRIMARY KEY,
        definition_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        reference TEXT,
        description TEXT,
        data TEXT,
        create_time INTEGER NOT NULL,
        complete_time INTEGER,
        next_execution INTEGER,
        revision INTEGER NOT NULL,
        parent_workflow_id TEXT
    )""",
    # Serves get_runnable_instances. Partial, so finished and waiting workflows (the bulk of an
    # old store) cost the poller nothing; the query repeats the WHERE literally to use it.
    """CREATE INDEX workflows_runnable ON workflows (next_execution)
        WHERE status = 'runnable' AND next_execution IS NOT NULL""",
    # WITHOUT ROWID: the (workflow_id, id) key is how every upsert finds a pointer, so the
    # table itself is that b-tree and no separate unique index has to be written per pass.
    """CREATE TABLE execution_pointers (
        workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (workflow_id, id)
    ) WITHOUT ROWID""",
    # Serves loading an instance's pointers in creation order.
    "CREATE INDEX execution_pointers_seq ON execution_pointers (workflow_id, seq)",
]

_EVENTS = [
    """CREATE TABLE events (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        data TEXT,
        event_time INTEGER NOT NULL,
        is_processed INTEGER NOT NULL DEFAULT 0
    )""",
    # Serves get_events (name, key, event_time >= ?, oldest first).
    "CREATE INDEX events_name_key_time ON events (name, key, event_time)",
    # Serves get_runnable_events; partial, because processed events are the vast majority.
    "CREATE INDEX events_unprocessed ON events (event_time) WHERE is_processed = 0",
    """CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        step_id INTEGER NOT NULL,
        pointer_id TEXT NOT NULL,
        name TEXT NOT NULL,
        key TEXT NOT NULL,
        subscribe_as_of INTEGER NOT NULL,
        data TEXT
    )""",
    # Serves get_subscriptions (an event looking for its waiting workflows).
    "CREATE INDEX subscriptions_name_key ON subscriptions (name, key)",
    """CREATE TABLE execution_errors (
        id INTEGER PRIMARY KEY,
        workflow_id TEXT NOT NULL,
        pointer_id TEXT NOT NULL,
        step_id INTEGER,
        message TEXT NOT NULL,
        error_type TEXT,
        error_time INTEGER NOT NULL
    )""",
    # Serves get_execution_errors; the rowid that ends each entry keeps them oldest first.
    "CREATE INDEX execution_errors_workflow ON execution_errors (workflow_id)",
]

_COORDINATION = [
    "CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)",
    """CREATE TABLE queue (
        kind TEXT NOT NULL,
        item_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (kind, item_id)
    ) WITHOUT ROWID""",
    # Serves dequeue (lowest seq of a kind) and the seq of the next enqueue (highest of a kind).
    "CREATE INDEX queue_kind_seq ON queue (kind, seq)",
]

_SEARCH_DOCS = [
    """CREATE TABLE search_docs (
        doc INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        definition_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        reference TEXT,
        description TEXT,
        create_time INTEGER NOT NULL,
        complete_time INTEGER
    )""",
    # Serve the newest-first order of every search, alone or after a definition filter. Status
    # gets no index: it is too unselective to beat walking create_time.
    "CREATE INDEX search_docs_created ON search_docs (create_time)",
    "CREATE INDEX search_docs_definition ON search_docs (definition_id, create_time)",
    "CREATE INDEX search_docs_reference ON search_docs (reference)",
]

# The searchable text, keyed by search_docs.doc. FTS5 when this SQLite has it; otherwise a plain
# table with the same columns that the search index scans with LIKE.
_SEARCH_TEXT_FTS5 = """CREATE VIRTUAL TABLE search_text USING fts5 (
    definition_id, reference, description, data, tokenize = 'unicode61'
)"""
_SEARCH_TEXT_PLAIN = """CREATE TABLE search_text (
    rowid INTEGER PRIMARY KEY, definition_id TEXT, reference TEXT, description TEXT, data TEXT
)"""

# Version 2: the search index follows the durable state.
_INDEX_OUTBOX = [
    # Workflows whose entry in a search index kept elsewhere (not in this file) may be stale,
    # written in the transaction of the workflow write; the host's indexer drains it. The
    # revision lets it delete an entry only if no later write re-dirtied it.
    """CREATE TABLE index_outbox (
        workflow_id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL
    ) WITHOUT ROWID""",
    # A digest of the text an entry was made from: a pass that changes no searchable text
    # (most passes) rewrites no FTS row.
    "ALTER TABLE search_docs ADD COLUMN text_hash INTEGER",
    # The workflow revision an entry shows: an entry never goes back to an older state.
    "ALTER TABLE search_docs ADD COLUMN revision INTEGER",
    # Entries of version 1 were written after the state's commit, and lost by a crash between
    # the two: index every workflow once more.
    "INSERT INTO index_outbox (workflow_id, revision) SELECT id, revision FROM workflows",
]
# Accents are significant, as in every other index (see wfe_core.providers.search_words).
_SEARCH_TEXT_FTS5_V2 = _SEARCH_TEXT_FTS5.replace("'unicode61'", "'unicode61 remove_diacritics 0'")


def _migration_1(conn: sqlite3.Connection) -> None:
    for statement in _WORKFLOWS + _EVENTS + _COORDINATION + _SEARCH_DOCS:
        conn.execute(statement)
    conn.execute(_SEARCH_TEXT_FTS5 if has_fts5(conn) else _SEARCH_TEXT_PLAIN)


def _migration_2(conn: sqlite3.Connection) -> None:
    for statement in _INDEX_OUTBOX:
        conn.execute(statement)
    if search_text_is_fts5(conn):
        # FTS5 cannot change a table's tokenizer: make a new table with the same content.
        conn.execute(_SEARCH_TEXT_FTS5_V2.replace("search_text", "search_text_v2", 1))
        conn.execute(
            "INSERT INTO search_text_v2 (rowid, definition_id, reference, description, data) "
            "SELECT rowid, definition_id, reference, description, data FROM search_text"
        )
        conn.execute("DROP TABLE search_text")
        conn.execute("ALTER TABLE search_text_v2 RENAME TO search_text")


# Version 3: one search rule for every index (wfe_core.search). search_text holds one column of
# the rule's words, lower-cased and space-separated; the ascii tokenizer splits that at the
# spaces only and folds nothing (non-ASCII characters are token characters to it), so its
# tokens are exactly the rule's words, which unicode61's notion of a letter need not give.
_SEARCH_TEXT_FTS5_V3 = "CREATE VIRTUAL TABLE search_text_v3 USING fts5 (text, tokenize = 'ascii')"
_SEARCH_TEXT_PLAIN_V3 = "CREATE TABLE search_text_v3 (rowid INTEGER PRIMARY KEY, text TEXT)"
_SEARCH_ORDER = [
    # Serve the rule's order (newest first, ties by id descending) walked backwards.
    "DROP INDEX search_docs_created",
    "DROP INDEX search_docs_definition",
    "CREATE INDEX search_docs_created ON search_docs (create_time, id)",
    "CREATE INDEX search_docs_definition ON search_docs (definition_id, create_time, id)",
]
_REINDEX = [
    # The text digests are of the old rule's sources: rewrite every entry's text when indexed.
    "UPDATE search_docs SET text_hash = NULL",
    # Index every workflow once more, by the new rule (the host's indexer drains the outbox).
    "INSERT OR REPLACE INTO index_outbox (workflow_id, revision) SELECT id, revision FROM workflows",
]
_COPY_BATCH = 500


def _migration_3(conn: sqlite3.Connection) -> None:
    conn.execute(_SEARCH_TEXT_FTS5_V3 if search_text_is_fts5(conn) else _SEARCH_TEXT_PLAIN_V3)
    # Until the indexer has re-indexed a workflow, its entry keeps the old text in the new
    # form: the old text was already the values of the data, so searches stay nearly right
    # meanwhile (an entry of a workflow kept in another store keeps it until written again).
    last = 0
    while True:
        rows = conn.execute(
            "SELECT rowid, definition_id, reference, description, data FROM search_text "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, _COPY_BATCH),
        ).fetchall()
        if not rows:
            break
        conn.executemany(
            "INSERT INTO search_text_v3 (rowid, text) VALUES (?, ?)",
            [
                (rowid, " ".join(w for part in parts if part for w in search_words(part)))
                for rowid, *parts in rows
            ],
        )
        last = rows[-1][0]
    conn.execute("DROP TABLE search_text")
    conn.execute("ALTER TABLE search_text_v3 RENAME TO search_text")
    for statement in _SEARCH_ORDER + _REINDEX:
        conn.execute(statement)


# Version 4: the W3C traceparent of the span that started a workflow / published an event, so
# that a workflow's passes on any host join its trace (see wfe_core.tracing). Set once, at the
# insert; the pass updates never write it.
_TRACE_CONTEXT = [
    "ALTER TABLE workflows ADD COLUMN trace_context TEXT",
    "ALTER TABLE events ADD COLUMN trace_context TEXT",
]


def _migration_4(conn: sqlite3.Connection) -> None:
    for statement in _TRACE_CONTEXT:
        conn.execute(statement)


# Version 5: the heartbeats of the hosts using the database (wfe_sqlite._heartbeats). A record
# is one JSON text, read whole by `wfe hosts`; last_seen is there to sweep long-dead hosts.
_HOSTS = "CREATE TABLE hosts (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, record TEXT NOT NULL)"


def _migration_5(conn: sqlite3.Connection) -> None:
    conn.execute(_HOSTS)


# Version 6: retention (wfe_sqlite._purge). A purge walks finished workflows in completion
# order, partial so that running work (every pass) never writes it: a workflow enters it once,
# with the write that finishes it. The purge finds a workflow's subscriptions by its id, and
# old processed events by time (partial: waiting events are never purged).
_PURGE = [
    """CREATE INDEX workflows_finished ON workflows (complete_time)
        WHERE status IN ('complete', 'terminated')""",
    "CREATE INDEX subscriptions_workflow ON subscriptions (workflow_id)",
    "CREATE INDEX events_processed ON events (event_time) WHERE is_processed = 1",
]


def _migration_6(conn: sqlite3.Connection) -> None:
    for statement in _PURGE:
        conn.execute(statement)


# Version 7: priority (wfe_core._priority). A workflow's level, written with every pass; the
# queue's rank (ready time in seconds plus the level's aging), served lowest first, ties by
# seq (FIFO). Items queued before have rank 0: they go first, as they were the oldest.
_PRIORITY = [
    "ALTER TABLE workflows ADD COLUMN priority INTEGER NOT NULL DEFAULT 4",
    "ALTER TABLE queue ADD COLUMN rank REAL NOT NULL DEFAULT 0",
    "CREATE INDEX queue_kind_rank ON queue (kind, rank, seq)",
]


def _migration_7(conn: sqlite3.Connection) -> None:
    for statement in _PRIORITY:
        conn.execute(statement)


_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
]

#: Every table wfe makes (besides ``wfe_migrations``).
TABLES = frozenset(
    {
        "workflows",
        "execution_pointers",
        "events",
        "subscriptions",
        "execution_errors",
        "locks",
        "queue",
        "search_docs",
        "search_text",
        "index_outbox",
        "hosts",
    }
)

#: The version a database has once :func:`migrate` has run.
SCHEMA_VERSION = len(_MIGRATIONS)


def has_fts5(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite library was built with the FTS5 extension."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp.wfe_fts5_probe USING fts5 (x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp.wfe_fts5_probe")
    return True


def search_text_is_fts5(conn: sqlite3.Connection) -> bool:
    """Whether ``search_text`` is an FTS5 table (else the plain table of builds without FTS5)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'search_text'").fetchone()
    return row is not None and "fts5" in row[0].lower()


def refuse_foreign(conn: sqlite3.Connection, path: str) -> None:
    """Refuse a file whose tables clash with wfe's but that wfe did not make; reads only.

    Runs before anything changes the file (the switch to WAL included), so a refused file is
    left exactly as it was.

    Raises:
        ConfigurationError: the file has a table named like one of wfe's, and no
            ``wfe_migrations`` table.
    """
    names = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    if "wfe_migrations" in names:
        return
    clash = sorted(names & TABLES)
    if clash:
        raise ConfigurationError(
            f"{path} was not made by wfe but already has table(s) {', '.join(clash)}; wfe "
            "left it unchanged. Give wfe a database file of its own (a new path)"
        )


def check_readable(conn: sqlite3.Connection, path: str) -> None:
    """For a read-only connection: the schema must be one this wfe can read, as it is.

    Raises:
        ConfigurationError: the file is not a wfe database (or is empty).
        ProviderError: the file was made by a newer wfe.
    """
    current = _current_version(conn)
    if current == 0:
        raise ConfigurationError(
            f"{path} is not a wfe database (it has no wfe tables); check the path"
        )
    if current > SCHEMA_VERSION:
        raise ProviderError(
            f"the database schema is at version {current}, newer than this wfe knows "
            f"({SCHEMA_VERSION}); upgrade wfe to open it"
        )


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to :data:`SCHEMA_VERSION`; a no-op when it is there already.

    Runs in its own ``BEGIN IMMEDIATE`` transaction on a connection in autocommit mode.

    Raises:
        ProviderError: the file was made by a newer wfe.
        sqlite3.Error: the database failed (the caller translates it).
    """
    # Checked outside the write lock first, so that opening an up-to-date file (every start
    # after the first) takes no write lock that could make it wait for a busy writer.
    if _current_version(conn) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS wfe_migrations "
            "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        current = _current_version(conn)
        if current > SCHEMA_VERSION:
            raise ProviderError(
                f"the database schema is at version {current}, newer than this wfe knows "
                f"({SCHEMA_VERSION}); upgrade wfe to open it"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            _MIGRATIONS[version - 1](conn)
            conn.execute(
                "INSERT INTO wfe_migrations (version, applied_at) VALUES (?, ?)",
                (version, datetime.now(UTC).isoformat()),
            )
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'wfe_migrations'"
    ).fetchone()
    if exists is None:
        return 0
    row = conn.execute("SELECT MAX(version) FROM wfe_migrations").fetchone()
    return int(row[0] or 0)
