"""Sub-workflows (not in workflow-core, whose SubWorkflowStepBody raises NotImplemented): the
parent waits for its child; a completed child's final data is the step's ``result``; a child
that ends Terminated fails the parent's step, whose error behaviour then applies."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from wfe import ErrorBehavior, WorkflowBuilder, WorkflowStatus

ticks: Counter[str] = Counter()
children: list[str] = []


@pytest.fixture(autouse=True)
def reset_counters() -> None:
    ticks.clear()
    children.clear()


@dataclass
class ChildData:
    n: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class ParentData:
    n: int = 0
    child_n: int = 0
    child_notes: list[str] = field(default_factory=list)


def double(ctx):
    children.append(ctx.workflow.id)
    ctx.data.n *= 2
    ctx.data.notes.append("doubled")


def fail(ctx):
    children.append(ctx.workflow.id)
    raise RuntimeError("the child cannot go on")


def tail(ctx):
    ticks["tail"] += 1


doubling_child = WorkflowBuilder(ChildData).start_with(double).build("doubling-child", 1)

failing_child = (
    WorkflowBuilder(ChildData)
    .start_with(fail)
    .on_error(ErrorBehavior.terminate())
    .build("failing-child", 1)
)

waiting_child = (
    WorkflowBuilder(ChildData)
    .start_with(lambda ctx: children.append(ctx.workflow.id))
    .wait_for("never", lambda data, ctx: ctx.workflow.id)
    .build("waiting-child", 1)
)


def parent_of(child_id: str, definition_id: str):
    return (
        WorkflowBuilder(ParentData)
        .start_with(lambda ctx: None)
        .sub_workflow(child_id, data=lambda data: ChildData(n=data.n))
        .on_error(ErrorBehavior.terminate())
        .output(
            child_n=lambda step: step.result.n,
            child_notes=lambda step: step.result.notes,
        )
        .then(tail)
        .build(definition_id, 1)
    )


async def test_completed_child_lets_the_parent_continue(host, error_count):
    host.register(doubling_child)
    host.register(parent_of("doubling-child", "parent"))

    wid = await host.start_workflow("parent", ParentData(n=21))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert await error_count(wid) == 0
    assert instance.data.child_n == 42
    assert instance.data.child_notes == ["doubled"]
    assert ticks["tail"] == 1
    assert len(children) == 1
    child = await host.get_workflow(children[0])
    assert child.status is WorkflowStatus.COMPLETE
    assert child.parent_workflow_id == wid
    assert child.data == ChildData(n=42, notes=["doubled"])


async def test_terminated_child_fails_the_parents_step(host, error_count):
    host.register(failing_child)
    host.register(parent_of("failing-child", "parent"))

    wid = await host.start_workflow("parent", ParentData(n=1))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.TERMINATED
    errors = await host.get_execution_errors(wid)
    assert len(errors) == 1
    assert "terminated" in errors[0].message
    assert ticks["tail"] == 0
    child = await host.wait_for_workflow(children[0], timeout=30)
    assert child.status is WorkflowStatus.TERMINATED
    assert await error_count(children[0]) == 1


async def test_child_terminated_by_the_host_fails_the_parents_step(host, wait_until, error_count):
    host.register(waiting_child)
    host.register(parent_of("waiting-child", "parent"))

    wid = await host.start_workflow("parent", ParentData(n=1))
    await wait_until(lambda: children, what="the child starting")
    assert await host.terminate_workflow(children[0])
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.TERMINATED
    assert await error_count(wid) == 1
    assert ticks["tail"] == 0


def fail_first_time(ctx):
    children.append(ctx.workflow.id)
    ticks["child attempts"] += 1
    if ticks["child attempts"] == 1:
        raise RuntimeError("the first child fails")
    ctx.data.n *= 2


flaky_child = (
    WorkflowBuilder(ChildData)
    .start_with(fail_first_time)
    .on_error(ErrorBehavior.terminate())
    .build("flaky-child", 1)
)


async def test_retried_sub_workflow_step_starts_a_new_child(host, error_count):
    host.register(flaky_child)
    host.register(
        WorkflowBuilder(ParentData)
        .start_with(lambda ctx: None)
        .sub_workflow("flaky-child", data=lambda data: ChildData(n=data.n))
        .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=100), max_retries=3))
        .output(child_n=lambda step: step.result.n)
        .then(tail)
        .build("parent", 1)
    )

    wid = await host.start_workflow("parent", ParentData(n=5))
    instance = await host.wait_for_workflow(wid, timeout=30)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data.child_n == 10
    assert ticks["child attempts"] == 2
    assert len(set(children)) == 2
    assert ticks["tail"] == 1
    assert await error_count(wid) == 1
