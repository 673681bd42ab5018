"""SQLite's light writes (leases): a transaction of them alone commits without an fsync
(``synchronous=NORMAL``); any other write, alone or in their company, keeps the level the
database was opened with."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from wfe_sqlite import SqliteDatabase
from wfe_sqlite._lock import SqliteLock

FULL, NORMAL = 2, 1


def level(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA synchronous").fetchone()[0])


async def test_light_writes_alone_commit_at_normal_and_the_level_comes_back(tmp_path: Path) -> None:
    async with SqliteDatabase(str(tmp_path / "wfe.db")) as db:
        assert await db.write(level, light=True) == NORMAL
        assert await db.write(level) == FULL
        assert await db.read(level) == FULL


async def test_a_light_write_in_the_company_of_a_durable_one_is_durable(tmp_path: Path) -> None:
    async with SqliteDatabase(str(tmp_path / "wfe.db")) as db:
        await db.write(level)  # the worker is up
        # Asked in one turn of the loop: one transaction for the three.
        levels = await asyncio.gather(
            db.write(level, light=True), db.write(level), db.write(level, light=True)
        )
        assert list(levels) == [FULL, FULL, FULL]
        lights = await asyncio.gather(db.write(level, light=True), db.write(level, light=True))
        assert list(lights) == [NORMAL, NORMAL]


async def test_a_database_opened_at_normal_stays_there(tmp_path: Path) -> None:
    async with SqliteDatabase(str(tmp_path / "wfe.db"), synchronous="NORMAL") as db:
        assert await db.write(level, light=True) == NORMAL
        assert await db.write(level) == NORMAL


async def test_leases_are_light_writes_and_still_exclude(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wfe.db'}"
    async with SqliteDatabase(str(tmp_path / "wfe.db")) as db:
        lock = SqliteLock(db)
        await lock.start()
        seen: list[int] = []
        write = db.write

        async def spy(fn, *, light=False):  # type: ignore[no-untyped-def]
            seen.append(light)
            return await write(fn, light=light)

        db.write = spy  # type: ignore[method-assign]
        assert await lock.acquire("k", "a", 30) is True
        assert await lock.acquire("k", "b", 30) is False
        assert await lock.renew("k", "a", 30) is True
        await lock.release("k", "a")
        assert await lock.acquire("k", "b", 30) is True
        db.write = write  # type: ignore[method-assign]
        assert seen and all(seen)
        # The lease is on the file, for every process: a fresh connection sees it.
        with sqlite3.connect(url.removeprefix("sqlite:///")) as other:
            assert other.execute("SELECT owner FROM locks WHERE key = 'k'").fetchall() == [("b",)]
        await lock.close()
