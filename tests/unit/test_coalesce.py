"""``Coalescer``, ``in_step`` and ``bulk_reads``: calls made together go as one request, each caller its answer."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from wfe_core.coalesce import Coalescer, bulk_reads, in_step
from wfe_core.errors import ProviderUnavailableError


class NotThere(Exception):
    pass


def test_in_step_gives_each_argument_its_item_or_its_miss() -> None:
    asked = ["a", "x", "b", "a", "y"]
    found = [("a", 1), ("b", 2), ("a", 3)]  # as a bulk read returns them: asked order, repeats
    answers = in_step(asked, found, lambda item: item[0], NotThere)
    assert answers[0] == ("a", 1) and answers[2] == ("b", 2) and answers[3] == ("a", 3)
    assert [str(a) for a in answers if isinstance(a, NotThere)] == ["x", "y"]


async def test_calls_in_one_loop_turn_are_one_batch_and_a_lone_call_goes_alone() -> None:
    batches: list[list[str]] = []

    async def many(args: Sequence[str]) -> list[str | Exception]:
        batches.append(list(args))
        return [NotThere(a) if a == "bad" else a.upper() for a in args]

    async def one(arg: str) -> str:
        batches.append([arg])
        return arg.upper()

    calls = Coalescer(many, one)
    got = await asyncio.gather(calls("a"), calls("bad"), calls("c"), return_exceptions=True)
    assert got[0] == "A" and got[2] == "C" and isinstance(got[1], NotThere)
    assert await calls("d") == "D"
    assert batches == [["a", "bad", "c"], ["d"]]


async def test_an_unavailable_server_fails_every_caller_of_the_batch() -> None:
    async def many(args: Sequence[str]) -> list[str | Exception]:
        raise ProviderUnavailableError("down")

    async def one(arg: str) -> str:
        raise AssertionError("not retried alone: the outage is every caller's")

    calls = Coalescer(many, one)
    got = await asyncio.gather(calls("a"), calls("b"), return_exceptions=True)
    assert all(isinstance(g, ProviderUnavailableError) for g in got)


async def test_a_batch_refused_for_one_call_runs_each_alone() -> None:
    async def many(args: Sequence[str]) -> list[str | Exception]:
        raise ValueError("the driver refused one argument")

    async def one(arg: str) -> str:
        if arg == "bad":
            raise ValueError(arg)
        return arg.upper()

    calls = Coalescer(many, one)
    got = await asyncio.gather(calls("a"), calls("bad"), return_exceptions=True)
    assert got[0] == "A"
    with pytest.raises(ValueError):
        raise got[1]  # type: ignore[misc]


async def test_bulk_reads_answer_each_caller_from_one_read_and_a_lone_one_alone() -> None:
    reads: list[list[str]] = []
    stored = {"a": "A", "b": "B"}

    async def read_many(keys: Sequence[str]) -> list[tuple[str, str]]:
        reads.append(list(keys))
        return [(k, stored[k]) for k in keys if k in stored]

    loads = bulk_reads(read_many, lambda item: item[0], NotThere)
    got = await asyncio.gather(loads("a"), loads("x"), loads("b"), loads("a"),
                               return_exceptions=True)
    assert got[0] == ("a", "A") and got[2] == ("b", "B") and got[3] == ("a", "A")
    assert isinstance(got[1], NotThere)
    with pytest.raises(NotThere):
        await loads("y")
    assert reads == [["a", "x", "b", "a"], ["y"]]


async def test_a_submitted_call_is_answered_with_its_batch_even_when_its_caller_gave_up() -> None:
    # submit() hands back the shared answer: a caller that is cancelled while waiting can
    # still learn when its call is over (PostgreSQL's leased creation ends with it).
    gate = asyncio.Event()
    sent: list[list[str]] = []

    async def many(args: Sequence[str]) -> list[str | Exception]:
        sent.append(list(args))
        await gate.wait()
        return [a.upper() for a in args]

    async def one(arg: str) -> str:
        answer = (await many([arg]))[0]
        assert isinstance(answer, str)
        return answer

    calls = Coalescer(many, one)
    first, second = calls.submit("a"), calls.submit("b")

    async def wait_for_first() -> str:
        return await asyncio.shield(first)

    waiter = asyncio.create_task(wait_for_first())
    await asyncio.sleep(0)  # the batch is on its way
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled() and not first.done()
    gate.set()
    assert (await first, await second) == ("A", "B")
    assert sent == [["a", "b"]]
