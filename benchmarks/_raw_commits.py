"""The limit: raw single-row write transactions per second on an SQLite file, from Python.

The same file settings as wfe's SQLite provider (WAL, ``busy_timeout``, an autocommit
connection that issues its own ``BEGIN IMMEDIATE`` / ``COMMIT``), with ``synchronous`` set to
FULL (wfe's default) or NORMAL. Each transaction inserts one row the size of a small workflow
row, so the figure is the ceiling for anything that commits once per step without batching.
``benchmarks.run`` calls :func:`measure` in its own process; the module also runs alone::

    python -m benchmarks._raw_commits /tmp/raw.db FULL 3
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from typing import Any

_PAYLOAD = "x" * 200


def measure(path: str, synchronous: str, seconds: float, min_commits: int = 200) -> dict[str, Any]:
    """Commit one-row transactions for about ``seconds``; returns the rate and settings."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        insert = "INSERT INTO rows (body) VALUES (?)"
        commits = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds
        while commits < min_commits or time.perf_counter() < deadline:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(insert, (_PAYLOAD,))
            conn.execute("COMMIT")
            commits += 1
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return {
        "synchronous": synchronous.upper(),
        "journal_mode": mode,
        "commits": commits,
        "elapsed_s": elapsed,
        "commits_per_s": commits / elapsed,
        "sqlite_version": sqlite3.sqlite_version,
    }


if __name__ == "__main__":
    target, level, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
    print(json.dumps(measure(target, level, duration)))
