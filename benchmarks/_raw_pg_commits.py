"""The limit: raw single-row commits per second on one PostgreSQL connection, from Python.

One psycopg 3 connection in autocommit mode, each statement one ``INSERT`` of a row the size of
a small workflow row: one round trip and one commit (one WAL flush) each, the ceiling for
anything that commits once per step without batching. It runs in a schema of its own, made
and dropped here; the server's ``synchronous_commit`` and ``fsync`` are reported with it.
``benchmarks.run`` calls it in its own process; the module also runs alone::

    python -m benchmarks._raw_pg_commits "$WFE_TEST_POSTGRES_URL" 3
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any

_PAYLOAD = "x" * 200


def measure(url: str, seconds: float, min_commits: int = 200) -> dict[str, Any]:
    """Commit one-row transactions for about ``seconds``; returns the rate and settings."""
    import psycopg

    from wfe_postgres._url import parse_url

    schema = f"wfe_raw_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(parse_url(url).conninfo, autocommit=True) as conn:
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in ("synchronous_commit", "fsync", "server_version")
        }
        conn.execute(f'CREATE SCHEMA "{schema}"')
        try:
            conn.execute(f'CREATE TABLE "{schema}".rows (id bigserial PRIMARY KEY, body text)')
            insert = f'INSERT INTO "{schema}".rows (body) VALUES (%s)'
            commits = 0
            t0 = time.perf_counter()
            deadline = t0 + seconds
            while commits < min_commits or time.perf_counter() < deadline:
                conn.execute(insert, (_PAYLOAD,), prepare=True)
                commits += 1
            elapsed = time.perf_counter() - t0
        finally:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return {"commits": commits, "elapsed_s": elapsed, "commits_per_s": commits / elapsed,
            **settings}


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], float(sys.argv[2]))))
