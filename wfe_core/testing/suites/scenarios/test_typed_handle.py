"""``host.start(definition, data)``: a workflow started from its definition, seen through its handle.

The handle carries the definition's data type for the checker (tests/unit/test_typing.py checks
that); here it is checked to do what the string-id calls do on every store set: start, wait
(in seconds or as a timedelta), read, and refuse what it cannot start before storing anything.
"""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from wfe import (
    ExecutionResult,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowHandle,
    WorkflowStatus,
)
from wfe.errors import WorkflowNotRegisteredError


@attrs.define
class Order:
    order_id: str = ""
    items: list[str] = attrs.Factory(list)
    paid: bool = False
    shipped: list[str] = attrs.Factory(list)


class Charge(StepBody[Order]):
    def run(self, ctx: StepExecutionContext[Order]) -> None:
        ctx.data.paid = True


class Ship(StepBody[Order]):
    def run(self, ctx: StepExecutionContext[Order]) -> ExecutionResult:
        ctx.data.shipped.append(str(ctx.item))
        return ExecutionResult.next()


order_workflow = (
    WorkflowBuilder(Order)
    .start_with(Charge)
    .for_each(lambda d: d.items, lambda b: b.start_with(Ship), parallel=False)
    .wait_for("delivered", lambda d: d.order_id)
    .build("TypedOrder", 1)
)


async def test_start_wait_and_get_through_the_handle(host, wait_for_subscription):
    host.register(order_workflow)
    handle = await host.start(order_workflow, Order("o-1", ["book", "pen"]), reference="ref-1")
    assert isinstance(handle, WorkflowHandle)
    assert handle.definition is order_workflow
    assert f"{handle.id!r}" in repr(handle) and "TypedOrder" in repr(handle)

    await wait_for_subscription("delivered", "o-1")
    now = await handle.get()
    assert now.id == handle.id and now.status is WorkflowStatus.RUNNABLE
    assert now.reference == "ref-1"
    assert now.data == Order("o-1", ["book", "pen"], paid=True, shipped=["book", "pen"])
    with pytest.raises(TimeoutError):
        await handle.wait(timeout=timedelta(0))

    await host.publish_event("delivered", "o-1")
    done = await handle.wait(timeout=timedelta(seconds=30))
    assert done.status is WorkflowStatus.COMPLETE
    assert isinstance(done.data, Order) and done.data.shipped == ["book", "pen"]
    # The string-id calls see the same workflow.
    assert (await host.wait_for_workflow(handle.id, timeout=30)).data == done.data


async def test_start_refuses_what_it_cannot_start_and_defaults_the_data(host):
    with pytest.raises(WorkflowNotRegisteredError):
        await host.start(order_workflow, Order("o-2"))  # never registered with this host
    with pytest.raises(TypeError, match="start_workflow"):
        await host.start("TypedOrder", Order("o-3"))  # type: ignore[call-overload]
    assert (await host.search(definition_id="TypedOrder")).total == 0

    host.register(order_workflow)
    handle = await host.start(order_workflow)  # no data: the data type's defaults
    instance = await handle.get()
    assert isinstance(instance.data, Order) and instance.data.order_id == ""
