"""``Coalescer``: calls of one kind made together reach the server as one request.

A provider's lease ``acquire`` and ``release`` and PostgreSQL's ``create_workflow`` are called
once per workflow, and a host starting a thousand workflows calls each a thousand times at
once. Sent one by one they are a thousand round trips (on PostgreSQL, a thousand commits too),
each waiting for a pooled connection behind the others. Coalesced, the calls made during one
turn of the event loop, and those made while a batch is on the server, go as one request: one
statement over arrays on PostgreSQL (river's and graphile-worker's batch inserts and claims do
the same), one pipeline on Valkey.

Each caller still gets its own answer. When the batch fails for another reason than an
unavailable server (one call's arguments hold what the server or the driver cannot take), the
calls run again one by one, so only the offending one fails; when the server is unreachable,
every caller of the batch gets the ``ProviderUnavailableError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from .errors import ProviderUnavailableError

__all__ = ["Coalescer", "bulk_reads", "in_step"]

A = TypeVar("A")
R = TypeVar("R")
T = TypeVar("T")

#: Calls in one request at most: bounds its size and the latency it adds to its callers.
MAX_BATCH = 500


class Coalescer(Generic[A, R]):
    """Runs ``many(args)`` for the calls that come together, ``one(arg)`` for a lone call.

    Args:
        many: answers a batch of two or more arguments, one answer per argument, in order
            (an answer may be an exception, which that caller raises).
        one: answers one argument alone (the plain call; also the fallback when ``many``
            fails for another reason than an unavailable server).
        name: the name of the task that sends the batches.
    """

    def __init__(
        self,
        many: Callable[[Sequence[A]], Awaitable[Sequence[R | Exception]]],
        one: Callable[[A], Awaitable[R]],
        max_batch: int = MAX_BATCH,
        name: str = "wfe.coalesce",
    ) -> None:
        self._many = many
        self._one = one
        self._max = max_batch
        self._name = name
        self._pending: list[tuple[A, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, arg: A) -> R:
        # Not cancelled with the caller: a batch on the server finishes for the others.
        return await asyncio.shield(self.submit(arg))

    def submit(self, arg: A) -> asyncio.Future[R]:
        """Add ``arg`` to the next batch; the future is its answer. For a caller that must know
        when its call is over even after giving up on it: cancelling the future cancels nothing
        on the server, so await it through ``asyncio.shield``."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a host reopened on another loop starts afresh
            self._loop, self._pending, self._task = loop, [], None
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((arg, future))
        if self._task is None:
            # Starts at the next turn of the loop: every call made in this turn joins first.
            self._task = loop.create_task(self._drain(), name=self._name)
        return future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max]
                del self._pending[: self._max]
                await self._answer(batch)
        finally:
            self._task = None

    async def _answer(self, batch: list[tuple[A, asyncio.Future[R]]]) -> None:
        args = [arg for arg, _ in batch]
        answers: Sequence[R | Exception]
        try:
            if len(args) == 1:
                answers = [await self._one(args[0])]
            else:
                answers = await self._many(args)
        except ProviderUnavailableError as exc:
            answers = [exc] * len(args)
        except Exception as exc:
            if len(args) == 1:
                answers = [exc]
            else:  # one call's arguments failed the statement: each alone, only it fails
                answers = [await self._alone(arg) for arg in args]
        except BaseException:  # a cancellation: no caller is left hanging
            for _, future in batch:
                if not future.done():
                    future.cancel()
            raise
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _alone(self, arg: A) -> R | Exception:
        try:
            return await self._one(arg)
        except Exception as exc:  # a driver's client-side refusal (bad text) too: its own
            return exc


def in_step(
    asked: Sequence[A], found: Sequence[T], key: Callable[[T], A], missing: Callable[[A], Exception]
) -> list[T | Exception]:
    """One answer per argument of a batch, for a ``many`` built on a bulk read.

    ``found`` holds what a bulk read returned for ``asked``: in the order asked, an item per
    argument found (an argument asked twice, twice), the others left out. Walked in step with
    ``asked``, each argument gets its item, or ``missing(arg)`` where nothing was found.
    """
    out: list[T | Exception] = []
    n = 0
    for arg in asked:
        if n < len(found) and key(found[n]) == arg:
            out.append(found[n])
            n += 1
        else:
            out.append(missing(arg))
    return out


def bulk_reads(
    read_many: Callable[[Sequence[A]], Awaitable[Sequence[T]]],
    key: Callable[[T], A],
    missing: Callable[[A], Exception],
    name: str = "wfe.coalesce",
) -> Coalescer[A, T]:
    """Single reads made together served by one bulk read (a store's ``get_workflows``).

    ``read_many`` returns what it found in the order asked (an argument asked twice, twice;
    unknown ones left out); each caller gets its item, or raises ``missing(arg)``.
    """

    async def many(args: Sequence[A]) -> list[T | Exception]:
        return in_step(args, await read_many(args), key, missing)

    async def one(arg: A) -> T:
        found = await read_many([arg])
        if not found:
            raise missing(arg)
        return found[0]

    return Coalescer(many, one, name=name)
