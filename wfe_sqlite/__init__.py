"""SQLite providers for wfe: persistence, lock, queue and full-text search in one file.

The embedded default. Nothing to install beyond Python (stdlib ``sqlite3``); several processes
may share one file. Hosts open it by URL, through the ``wfe`` entry point this package declares::

    WorkflowHost(persistence="sqlite:///wfe.db")          # lock, queue and search follow

URL forms: ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``
(private to the host), with options ``?synchronous=FULL|NORMAL|EXTRA`` (FULL, the default, survives power loss) and
``?busy_timeout=<milliseconds>``. The directory must exist. See :mod:`wfe_sqlite._database`
for what the settings mean for durability.

A host opens each file once (one :class:`SqliteBackend`, one connection), however many of
its URLs name it. Direct construction, sharing one connection that the caller closes::

    async with SqliteDatabase("wfe.db", synchronous="FULL") as db:
        host = WorkflowHost(persistence=SqlitePersistence(db), lock=SqliteLock(db),
                            queue=SqliteQueue(db), search=SqliteSearchIndex(db))
        async with host:
            ...
"""

from ._database import SqliteDatabase
from ._lock import SqliteLock
from ._persistence import SqlitePersistence
from ._plugin import SqliteBackend
from ._queue import SqliteQueue
from ._search import SqliteSearchIndex

__all__ = [
    "SqliteBackend",
    "SqliteDatabase",
    "SqliteLock",
    "SqlitePersistence",
    "SqliteQueue",
    "SqliteSearchIndex",
]
