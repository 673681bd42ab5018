"""PostgreSQL providers for wfe: persistence, lock, queue and full-text search in one schema.

For many hosts on one database, none of them special. Install with ``pip install
"wfe[postgres]"`` (psycopg 3 and psycopg-pool); hosts open it by URL, through the ``wfe`` entry
points this package declares::

    WorkflowHost(persistence="postgresql://app:secret@db:5432/app?schema=wfe")

Lock, queue and search follow the persistence URL. URL options: ``schema`` (default ``wfe``,
created and migrated on first use), ``pool_size`` (default 10), ``call_timeout`` (seconds a
call waits for a connection before it raises ``ProviderUnavailableError``, default 10; while
the server refuses connections calls fail at once, and the first call after it answers again
goes through) and any libpq parameter (``sslmode``, ``connect_timeout``,
``application_name``, ...). ``postgres://`` is the same.

Direct construction, sharing one pool::

    db = PostgresDatabase.from_url("postgresql://app:secret@db/app")
    host = WorkflowHost(persistence=PostgresPersistence(db), lock=PostgresLock(db),
                        queue=PostgresQueue(db), search=PostgresSearchIndex(db))
"""

from ._database import PostgresDatabase
from ._lock import PostgresLock
from ._persistence import PostgresPersistence
from ._queue import PostgresQueue
from ._search import PostgresSearchIndex

__all__ = [
    "PostgresDatabase",
    "PostgresLock",
    "PostgresPersistence",
    "PostgresQueue",
    "PostgresSearchIndex",
]
