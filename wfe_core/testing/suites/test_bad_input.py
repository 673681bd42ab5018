"""Bad input gets a clear error from ``wfe.errors`` and changes nothing (design, semantics 6).

Every case runs against every store set (``wfe_stores``: each installed scheme, alone and composed), and then checks
the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket
import string
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    StepBody,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)
from wfe.errors import (
    DuplicateDefinitionError,
    InvalidEventError,
    SerializationError,
    WfeError,
    WorkflowNotFoundError,
    WorkflowNotRegisteredError,
)
from wfe_core._primitives import EPOCH
from wfe_core.testing import FakeClock, Stores

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


class Ok(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        return None


@dataclasses.dataclass
class Order:
    order_id: str
    items: list[str] = dataclasses.field(default_factory=list)
    extra: Any = None


class PlainClass:
    pass


def _simple(definition_id: str = "simple", version: int = 1) -> Any:
    return WorkflowBuilder(dict).start_with(Ok).build(definition_id, version)


@pytest.fixture
async def host(wfe_stores: Stores) -> AsyncIterator[WorkflowHost]:
    async with wfe_stores.host(clock=FakeClock(auto_advance=True)) as running:
        running.register(_simple())
        running.register(WorkflowBuilder(Order).start_with(Ok).build("order"))
        yield running


async def assert_nothing_stored(host: WorkflowHost) -> None:
    await asyncio.sleep(0.05)  # let anything that was (wrongly) queued happen
    assert await host.persistence.get_runnable_instances(FAR_FUTURE) == []
    assert await host.persistence.get_runnable_events(FAR_FUTURE) == []
    page = await host.search()
    assert (page.total, page.items) == (0, [])


# -- starting ---------------------------------------------------------------------------------


async def test_starting_an_unregistered_definition(host: WorkflowHost) -> None:
    with pytest.raises(WorkflowNotRegisteredError) as info:
        await host.start_workflow("no-such-workflow", {})
    assert info.value.definition_id == "no-such-workflow"
    assert "'no-such-workflow'" in str(info.value)
    assert "register" in str(info.value)
    await assert_nothing_stored(host)


async def test_starting_an_unregistered_version(host: WorkflowHost) -> None:
    with pytest.raises(WorkflowNotRegisteredError) as info:
        await host.start_workflow("simple", {}, version=7)
    assert (info.value.definition_id, info.value.version) == ("simple", 7)
    assert "version 7" in str(info.value)
    await assert_nothing_stored(host)


@pytest.mark.parametrize(
    "data",
    [
        {"bad": object()},
        {"nested": [{"fn": lambda: 1}]},
        {"cls": PlainClass()},
        {"set_of_lists": [{1: {frozenset({1}): PlainClass()}}]},
        PlainClass(),
    ],
    ids=["object", "lambda", "plain-class", "deep", "plain-class-as-data"],
)
async def test_starting_with_data_that_cannot_be_stored(host: WorkflowHost, data: Any) -> None:
    with pytest.raises(SerializationError, match="cannot"):
        await host.start_workflow("simple", data)
    await assert_nothing_stored(host)


async def test_starting_with_a_socket_in_typed_data(host: WorkflowHost) -> None:
    with socket.socket() as sock, pytest.raises(SerializationError, match="socket"):
        await host.start_workflow("order", Order("o-1", extra={"conn": sock}))
    await assert_nothing_stored(host)


async def test_starting_with_data_that_does_not_fit_the_data_type(host: WorkflowHost) -> None:
    with pytest.raises(SerializationError, match="Order"):
        await host.start_workflow("order", {"no_order_id": True})
    await assert_nothing_stored(host)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("reference", "order-\ud800-1", "lone surrogate"),
        ("description", "\udfff", "lone surrogate"),
        ("reference", 42, "not int"),
        ("description", b"bytes", "not bytes"),
    ],
    ids=["surrogate-reference", "surrogate-description", "int-reference", "bytes-description"],
)
async def test_starting_with_a_reference_or_description_that_is_not_text(
    host: WorkflowHost, field: str, value: Any, says: str
) -> None:
    """Each store failed differently (memory kept it, SQLite raised UnicodeEncodeError,
    PostgreSQL a driver error): now one clear error before anything is stored."""
    with pytest.raises(SerializationError, match=f"{field}.*{says}"):
        await host.start_workflow("simple", {}, **{field: value})
    await assert_nothing_stored(host)


@pytest.mark.parametrize("name_or_key", ["name", "key"])
async def test_an_event_name_or_key_with_a_lone_surrogate(host: WorkflowHost, name_or_key: str) -> None:
    name, key = ("paid\ud800", "k") if name_or_key == "name" else ("order.paid", "k\udc00")
    with pytest.raises(InvalidEventError, match=f"event {name_or_key}.*lone surrogate"):
        await host.publish_event(name, key)
    await assert_nothing_stored(host)


async def test_nothing_is_stored_and_the_host_still_works_afterwards(host: WorkflowHost) -> None:
    with pytest.raises(WfeError):
        await host.start_workflow("simple", {"bad": object()})
    wid = await host.start_workflow("simple", {"good": 1})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    assert [item.id for item in (await host.search()).items] == [wid]


# -- registering ------------------------------------------------------------------------------


async def test_registering_another_graph_under_the_same_id_and_version(host: WorkflowHost) -> None:
    original = host.registry.get("simple", 1)
    changed = WorkflowBuilder(dict).start_with(Ok).then(Ok).build("simple", 1)
    with pytest.raises(DuplicateDefinitionError) as info:
        host.register(changed)
    assert isinstance(info.value, WfeError)
    assert "'simple' version 1" in str(info.value)
    assert "new version" in str(info.value)
    assert host.registry.get("simple", 1) is original
    assert host.registry.get("simple") is original


async def test_registering_another_data_type_under_the_same_version(host: WorkflowHost) -> None:
    with pytest.raises(DuplicateDefinitionError):
        host.register(WorkflowBuilder(Order).start_with(Ok).build("simple", 1))


async def test_registering_the_same_graph_twice_is_fine(host: WorkflowHost) -> None:
    original = host.registry.get("simple", 1)
    host.register(_simple())  # built again from the same code
    host.register(original)
    assert host.registry.get("simple", 1) is original


async def test_a_new_version_may_change_the_graph(host: WorkflowHost) -> None:
    v2 = WorkflowBuilder(dict).start_with(Ok).then(Ok).build("simple", 2)
    host.register(v2)
    assert host.registry.get("simple") is v2
    assert host.registry.get("simple", 1) is not v2


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (lambda b: b.delay(timedelta(seconds=1)), lambda b: b.delay(timedelta(hours=1))),
        (
            lambda b: b.for_each(lambda d: [], lambda x: x.start_with(Ok), parallel=True),
            lambda b: b.for_each(lambda d: [], lambda x: x.start_with(Ok), parallel=False),
        ),
        (lambda b: b.wait_for("ev", "key-a"), lambda b: b.wait_for("ev", "key-b")),
    ],
    ids=["delay-period", "for-each-mode", "event-key"],
)
def test_registering_changed_step_settings_under_the_same_version(first: Any, second: Any) -> None:
    host = WorkflowHost("memory://")
    host.register(first(WorkflowBuilder().start_with(Ok)).build("tuned", 1))
    with pytest.raises(DuplicateDefinitionError):
        host.register(second(WorkflowBuilder().start_with(Ok)).build("tuned", 1))


# -- unknown workflow ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        "get_workflow",
        "suspend_workflow",
        "resume_workflow",
        "terminate_workflow",
        "wait_for_workflow",
    ],
)
async def test_an_unknown_workflow_id(host: WorkflowHost, call: str) -> None:
    with pytest.raises(WorkflowNotFoundError) as info:
        await getattr(host, call)("does-not-exist")
    assert info.value.workflow_id == "does-not-exist"
    assert "'does-not-exist'" in str(info.value)
    await assert_nothing_stored(host)


# -- events -------------------------------------------------------------------------------------


async def assert_no_events(host: WorkflowHost, name: Any, key: Any) -> None:
    await assert_nothing_stored(host)
    if isinstance(name, str) and isinstance(key, str):
        assert await host.persistence.get_events(name, key, EPOCH) == []


@pytest.mark.parametrize("name", ["", "   ", None, 5, b"bytes"])
async def test_an_event_without_a_proper_name(host: WorkflowHost, name: Any) -> None:
    with pytest.raises(InvalidEventError, match="name"):
        await host.publish_event(name, "key")
    await assert_no_events(host, name, "key")


@pytest.mark.parametrize("key", [None, 1.5, ["k"], {"k": 1}, b"k", object()])
async def test_an_event_with_a_key_that_is_not_a_string(host: WorkflowHost, key: Any) -> None:
    with pytest.raises(InvalidEventError, match="key"):
        await host.publish_event("order.paid", key)
    await assert_no_events(host, "order.paid", str(key))


async def test_an_event_with_a_naive_effective_date(host: WorkflowHost) -> None:
    with pytest.raises(InvalidEventError, match="timezone"):
        await host.publish_event("order.paid", "k", effective_date=datetime(2030, 1, 1))
    await assert_no_events(host, "order.paid", "k")


@pytest.mark.parametrize(
    "data", [object(), {"fn": lambda: 1}, [PlainClass()]], ids=["object", "lambda", "plain"]
)
async def test_an_event_with_data_that_cannot_be_stored(host: WorkflowHost, data: Any) -> None:
    with pytest.raises(SerializationError):
        await host.publish_event("order.paid", "k", data)
    await assert_no_events(host, "order.paid", "k")


async def test_an_event_with_a_socket_as_data(host: WorkflowHost) -> None:
    with socket.socket() as sock, pytest.raises(SerializationError, match="socket"):
        await host.publish_event("order.paid", "k", {"conn": sock})
    await assert_no_events(host, "order.paid", "k")


async def test_invalid_event_error_is_a_wfe_error_and_a_value_error() -> None:
    assert issubclass(InvalidEventError, WfeError)
    assert issubclass(InvalidEventError, ValueError)


# -- failing steps --------------------------------------------------------------------------------


class Fails(StepBody):
    def run(self, ctx: Any) -> None:
        raise RuntimeError(f"cannot bake order {ctx.data['n']}")


async def test_a_failing_step_is_recorded_and_the_host_keeps_running(host: WorkflowHost) -> None:
    host.register(
        WorkflowBuilder(dict)
        .start_with(Ok)
        .then(Fails)
        .on_error(ErrorBehavior.suspend())
        .then(Ok)
        .build("fails")
    )
    host.register(WorkflowBuilder(dict).start_with(Ok).then(Ok).then(Ok).build("fine"))
    failing = await host.start_workflow("fails", {"n": 1})
    fine = [await host.start_workflow("fine", {"n": i}) for i in range(5)]

    assert (await host.wait_for_workflow(failing, timeout=5)).status is WorkflowStatus.SUSPENDED
    for wid in fine:
        assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    assert host.running

    errors = await host.get_execution_errors(failing)
    assert len(errors) == 1
    error = errors[0]
    assert error.workflow_id == failing
    assert error.message == "RuntimeError: cannot bake order 1"
    assert error.error_type == "RuntimeError"
    assert error.step_id == 1
    instance = await host.get_workflow(failing)
    pointer = instance.execution_pointers[error.execution_pointer_id]
    assert pointer.step_id == 1
    assert error.error_time.tzinfo is not None
    for wid in fine:
        assert await host.get_execution_errors(wid) == []

    # the host still takes new work
    later = await host.start_workflow("fine", {"n": 99})
    assert (await host.wait_for_workflow(later, timeout=5)).status is WorkflowStatus.COMPLETE


async def test_a_failing_step_is_retried_by_its_behaviour_until_it_works(
    host: WorkflowHost,
) -> None:
    calls: list[int] = []

    class Flaky(StepBody):
        def run(self, ctx: Any) -> ExecutionResult:
            calls.append(ctx.pointer.retry_count)
            if len(calls) < 3:
                raise ConnectionError(f"oven offline ({len(calls)})")
            return ExecutionResult.next()

    host.register(
        WorkflowBuilder(dict)
        .start_with(Flaky)
        .on_error(ErrorBehavior.retry(interval=timedelta(seconds=1), backoff=2.0, max_retries=5))
        .build("flaky")
    )
    wid = await host.start_workflow("flaky", {})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.COMPLETE
    assert calls == [0, 1, 2]
    assert [e.message for e in await host.get_execution_errors(wid)] == [
        "ConnectionError: oven offline (1)",
        "ConnectionError: oven offline (2)",
    ]


async def test_exhausted_retries_suspend_and_resume_gives_fresh_retries(host: WorkflowHost) -> None:
    calls: list[int] = []

    class AlwaysFails(StepBody):
        def run(self, ctx: Any) -> None:
            calls.append(ctx.pointer.retry_count)
            raise ValueError("still broken")

    host.register(
        WorkflowBuilder(dict)
        .start_with(AlwaysFails)
        .on_error(ErrorBehavior.retry(interval=timedelta(seconds=1), max_retries=1))
        .build("exhausts")
    )
    wid = await host.start_workflow("exhausts", {})
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.SUSPENDED
    assert calls == [0, 1]
    messages = [e.message for e in await host.get_execution_errors(wid)]
    assert messages[:2] == ["ValueError: still broken"] * 2
    assert "retries exhausted" in messages[-1]

    assert await host.resume_workflow(wid) is True
    assert (await host.wait_for_workflow(wid, timeout=5)).status is WorkflowStatus.SUSPENDED
    assert calls == [0, 1, 0, 1]


# -- every store takes the same inputs ------------------------------------------------------------

#: Values memory and SQLite always took, and PostgreSQL refused (NUL: a driver error) or could
#: not index (over a btree entry's ~2.7 KB: "index row size exceeds btree maximum", reported as
#: an outage that never ended) and OpenSearch could not index (a keyword over 32,766 bytes).
ODD_TEXT = {
    "nul": "order\x00-1",
    "escape-like": "a\x01b\\0\x01\x00c",
    # Random letters: a repeated one compresses below the btree limit.
    "10kb": "".join(random.Random(19).choices(string.ascii_letters, k=10_000)),
    "1mb": "m" * 1_000_000,
}


@pytest.mark.parametrize("text", list(ODD_TEXT.values()), ids=list(ODD_TEXT))
async def test_every_store_takes_any_reference_and_description(
    host: WorkflowHost, text: str
) -> None:
    wid = await host.start_workflow("simple", {}, reference=text, description=text + " pizza")
    assert (await host.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE
    instance = await host.get_workflow(wid)
    assert (instance.reference, instance.description) == (text, text + " pizza")
    page = await host.search(reference=text)
    assert [(item.id, item.reference, item.description) for item in page.items] == [
        (wid, text, text + " pizza")
    ]
    assert [item.id for item in (await host.search("pizza")).items] == [wid]
    assert (await host.search(reference=text + "x")).total == 0


@pytest.mark.parametrize("text", list(ODD_TEXT.values()), ids=list(ODD_TEXT))
async def test_every_store_takes_any_event_name_and_key(host: WorkflowHost, text: str) -> None:
    """The key comes from the workflow's data through a key function (a wait_for key with NUL
    or of 10 KB looped at PostgreSQL's poller as "the store is unavailable")."""
    host.register(
        WorkflowBuilder(dict)
        .start_with(Ok)
        .wait_for("paid" + text, lambda data: data["key"])
        .then(Ok)
        .build("waits")
    )
    wid = await host.start_workflow("waits", {"key": text})
    await host.publish_event("paid" + text, text, {"n": 1})
    assert (await host.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE
    (event,) = await host.persistence.get_events("paid" + text, text, EPOCH)
    assert (event.event_name, event.event_key, event.event_data) == ("paid" + text, text, {"n": 1})
    assert await host.persistence.get_events("paid" + text, text + "x", EPOCH) == []


@pytest.mark.parametrize(
    ("terms", "finds"),
    [("pizza " * 200_000, True), ("p" * 1_000_000, None), (" ".join(f"w{n}" for n in range(1_000)), False)],
    ids=["1mb-repeated", "1mb-word", "1000-words"],
)
async def test_every_store_answers_a_huge_search(
    host: WorkflowHost, terms: str, finds: bool | None
) -> None:
    """A 1 MB term made PostgreSQL's tsquery too deep ("stack depth limit exceeded"). Whether
    a word far longer than any real one matches is each store's (their words are cut at
    different lengths); that every store answers is the contract."""
    wid = await host.start_workflow("simple", {"text": "pizza"}, description="pizza")
    await host.wait_for_workflow(wid, timeout=10)
    found = [item.id for item in (await host.search(terms)).items]
    if finds is not None:
        assert found == ([wid] if finds else [])
    assert (await host.search(terms + " nowhere")).total == 0
