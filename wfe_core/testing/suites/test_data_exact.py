"""Workflow and event data come back exactly, or are refused at once with their path.

Through the public API (``start_workflow``, a step reading ``ctx.data``, ``publish_event``,
``get_workflow``), on every store set (``wfe_stores``: each installed scheme, alone and composed). The converter's own cases are in
``test_serialization.py``.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import enum
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest

from wfe import StepBody, WorkflowBuilder, WorkflowHost, WorkflowInstance, WorkflowStatus
from wfe.errors import SerializationError
from wfe_core import ExecutionPointer
from wfe_core._primitives import EPOCH
from wfe_core.serialization import MAX_DEPTH
from wfe_core.testing import FakeClock, Stores

from ._exact import assert_exact

FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
PRICE = Decimal("1.235465673450897890")
TOO_LONG = 10 ** sys.int_info.default_max_str_digits  # one digit more than Python reads back


class Color(enum.Enum):
    RED = "red"


@attrs.define
class Topping:
    name: str
    price: Decimal


def _exotic() -> dict[str, Any]:
    return {
        "price": PRICE,
        "color": Color.RED,
        "span": timedelta(days=-1, microseconds=3),
        "when": datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
        "day": date(2024, 6, 1),
        "id": uuid.UUID(int=42),
        "pair": (1, (2, "x")),
        "int_keys": {1: "one"},
        "topping": Topping("olives", Decimal("0.75")),
    }


@attrs.define
class AttrsOrder:
    notes: dict  # type: ignore[type-arg]
    lines: list  # type: ignore[type-arg]
    pair: tuple  # type: ignore[type-arg]
    tags: set  # type: ignore[type-arg]
    extra: dict[str, Any]
    items: list[Any]
    anything: object
    seen: dict = attrs.Factory(dict)  # type: ignore[type-arg]


@dataclasses.dataclass
class DataclassOrder:
    notes: dict  # type: ignore[type-arg]
    lines: list  # type: ignore[type-arg]
    pair: tuple  # type: ignore[type-arg]
    tags: set  # type: ignore[type-arg]
    extra: dict[str, Any]
    items: list[Any]
    anything: object
    seen: dict = dataclasses.field(default_factory=dict)  # type: ignore[type-arg]


def _order(cls: Any) -> Any:
    exotic = _exotic()
    return cls(
        notes=exotic,
        lines=list(exotic.values()),
        pair=(PRICE, Color.RED),
        tags={PRICE, uuid.UUID(int=1), (1, 2)},
        extra={"span": timedelta(hours=1)},
        items=[date(2020, 1, 1), PRICE],
        anything=PRICE,
    )


SEEN: list[Any] = []


class Record(StepBody):
    """Keeps a copy of the data as the step sees it."""

    async def run(self, ctx: Any) -> None:
        SEEN.append(copy.deepcopy(ctx.data))


@pytest.fixture
async def host(wfe_stores: Stores) -> AsyncIterator[WorkflowHost]:
    SEEN.clear()
    async with wfe_stores.host(clock=FakeClock(auto_advance=True)) as running:
        for data_type in (dict, AttrsOrder, DataclassOrder):
            running.register(
                WorkflowBuilder(data_type)
                .start_with(Record)
                .wait_for("go", "k")
                .output(seen=lambda step: step.event_data)
                .then(Record)
                .build(getattr(data_type, "__name__", "dict"))
            )
        yield running


async def assert_nothing_stored(host: WorkflowHost) -> None:
    await asyncio.sleep(0.05)  # let anything that was (wrongly) queued happen
    assert await host.persistence.get_runnable_instances(FAR_FUTURE) == []
    assert await host.persistence.get_runnable_events(FAR_FUTURE) == []
    assert await host.persistence.get_events("go", "k", EPOCH) == []
    page = await host.search()
    assert (page.total, page.items) == (0, [])


async def _run(host: WorkflowHost, definition: str, data: Any, event: Any) -> WorkflowInstance:
    wid = await host.start_workflow(definition, data)
    await host.publish_event("go", "k", event)
    instance = await host.wait_for_workflow(wid, timeout=10)
    assert instance.status is WorkflowStatus.COMPLETE
    return instance


# -- exactly ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [AttrsOrder, DataclassOrder])
async def test_untyped_fields_come_back_exactly_in_steps_and_from_the_store(
    host: WorkflowHost, cls: Any
) -> None:
    data = _order(cls)
    instance = await _run(host, cls.__name__, data, _exotic())

    first, second = SEEN
    assert_exact(first, data)
    data.seen = _exotic()
    assert_exact(second, data)
    assert_exact(instance.data, data)
    assert_exact((await host.get_workflow(instance.id)).data, data)


async def test_a_field_typed_object_holds_any_value(host: WorkflowHost) -> None:
    for value in ["text", 7, None, [PRICE], {"when": date(2024, 1, 1)}]:
        data = _order(DataclassOrder)
        data.anything = value
        SEEN.clear()
        instance = await _run(host, "DataclassOrder", data, None)
        assert_exact(SEEN[0].anything, value)
        assert_exact(instance.data.anything, value)


def _nested(levels: int) -> Any:
    value: Any = PRICE
    for i in range(levels):
        value = [value] if i % 3 == 0 else {"k": value} if i % 3 == 1 else (value,)
    return value


async def test_data_nested_as_deep_as_allowed_runs_and_one_level_more_is_refused(
    host: WorkflowHost,
) -> None:
    data = {"tree": _nested(MAX_DEPTH - 1)}  # the outer dict is one level
    event = _nested(MAX_DEPTH - 1)  # one level less: the step puts it into the data
    instance = await _run(host, "dict", data, event)
    assert_exact(SEEN[0], data)
    assert_exact(SEEN[1], {**data, "seen": event})
    assert_exact((await host.get_workflow(instance.id)).data, {**data, "seen": event})

    with pytest.raises(SerializationError, match=f"nested more than {MAX_DEPTH} levels deep"):
        await host.start_workflow("dict", {"tree": _nested(MAX_DEPTH)})
    with pytest.raises(SerializationError, match=f"nested more than {MAX_DEPTH} levels deep"):
        await host.publish_event("go", "k", [_nested(MAX_DEPTH)])


# Stored by the previous version: typed data in the format it still has, and a list[Any]
# field whose tags that version did not read back.
STORED = (
    '{"notes":{"price":"1.10","1":"one"},"lines":["red",[1,2]],"pair":["1",2],"tags":["a"],'
    '"extra":{"span":{"$wfe":"timedelta","v":[0,3600,0]}},'
    '"items":[{"$wfe":"date","v":"2020-01-01"},{"$wfe":"decimal","v":"1.10"}],'
    '"anything":"x","seen":{}}'
)


async def test_data_stored_by_the_previous_version_loads(host: WorkflowHost) -> None:
    now = host.clock.now()
    instance = WorkflowInstance(
        definition_id="DataclassOrder",
        version=1,
        status=WorkflowStatus.SUSPENDED,
        data=STORED,
        create_time=now,
        execution_pointers=[ExecutionPointer(step_id=0)],
    )
    await host.persistence.create_workflow(instance)
    assert_exact(
        (await host.get_workflow(instance.id)).data,
        DataclassOrder(
            notes={"price": "1.10", "1": "one"},
            lines=["red", [1, 2]],
            pair=("1", 2),
            tags={"a"},
            extra={"span": timedelta(hours=1)},
            items=[date(2020, 1, 1), Decimal("1.10")],
            anything="x",
        ),
    )


# -- or refused at once, with the path --------------------------------------------------------


def _cycle() -> dict[str, Any]:
    inner: dict[str, Any] = {"name": "x"}
    inner["self"] = inner
    return {"lines": [inner]}


def _deep() -> dict[str, Any]:
    return {"lines": [_nested(5000)]}


def _long() -> dict[str, Any]:
    return {"lines": [1, TOO_LONG]}


BAD = {
    "cycle": (_cycle, "['lines'][0]['self'] is {root}['lines'][0] again, which holds it: a reference cycle"),
    "deep": (_deep, "['lines'][0]['k'][0][0]['k']"),
    "long-int": (_long, f"['lines'][1] is an integer of more than {sys.int_info.default_max_str_digits} digits"),
}


def _as(kind: str, value: dict[str, Any]) -> tuple[str, Any, str]:
    """``value`` as start data of ``kind``, with the path to it in the error."""
    if kind == "dict":
        return "dict", value, "data"
    order = _order(AttrsOrder if kind == "attrs" else DataclassOrder)
    order.notes = value
    return type(order).__name__, order, "data.notes"


@pytest.mark.parametrize("bad", list(BAD))
@pytest.mark.parametrize("kind", ["dict", "attrs", "dataclass"])
async def test_starting_with_data_that_cannot_come_back_is_refused(
    host: WorkflowHost, kind: str, bad: str
) -> None:
    make, says = BAD[bad]
    definition, data, root = _as(kind, make())
    with pytest.raises(SerializationError) as info:
        await host.start_workflow(definition, data)
    message = str(info.value)
    assert message.startswith(f"cannot store the workflow data: {root}")
    assert says.format(root=root) in message
    assert "store a copy" in message or "flatten it" in message or "Decimal" in message
    await assert_nothing_stored(host)


@pytest.mark.parametrize("bad", list(BAD))
async def test_publishing_an_event_with_data_that_cannot_come_back_is_refused(
    host: WorkflowHost, bad: str
) -> None:
    make, says = BAD[bad]
    with pytest.raises(SerializationError) as info:
        await host.publish_event("go", "k", make())
    message = str(info.value)
    assert message.startswith("cannot store the data: data")
    assert says.format(root="data") in message
    await assert_nothing_stored(host)


async def test_the_host_works_on_after_a_refusal(host: WorkflowHost) -> None:
    with pytest.raises(SerializationError):
        await host.start_workflow("dict", _cycle())
    with pytest.raises(SerializationError):
        await host.publish_event("go", "k", _long())
    instance = await _run(host, "dict", {"price": PRICE}, {"n": 10**100})
    assert_exact(instance.data, {"price": PRICE, "seen": {"n": 10**100}})
