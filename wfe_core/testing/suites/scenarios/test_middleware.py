"""2.22 MiddlewareScenario, and what wfe adds: middleware around every step and at each end.

``WorkflowHost(middleware=[...])`` runs ``step`` around every user step (outermost first),
``pre_workflow`` before a new workflow is stored (it may change the data) and ``post_workflow``
after it completes or is terminated. A ``step`` that raises is the step's failure; a
``pre_workflow`` that raises fails the start (nothing stored); a ``post_workflow`` that raises
is logged with the workflow id and changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from wfe import ErrorBehavior, ExecutionResult, StepBody, WorkflowBuilder, WorkflowStatus
from wfe.errors import ConfigurationError

calls: list[str] = []


@pytest.fixture(autouse=True)
def reset() -> None:
    calls.clear()


class Work(StepBody):
    def run(self, ctx: Any) -> ExecutionResult:
        calls.append(f"run {ctx.step.display_name}")
        ctx.data["ran"] = ctx.data.get("ran", 0) + 1
        return ExecutionResult.next()


class Named:
    """Records where it is entered and left, around steps and at each end of a workflow."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def step(self, ctx: Any, call_next: Any) -> Any:
        calls.append(f"{self.name} in {ctx.step.display_name}")
        result = await call_next()
        calls.append(f"{self.name} out {ctx.step.display_name}")
        return result

    async def pre_workflow(self, instance: Any) -> None:
        calls.append(f"{self.name} pre")
        instance.data.setdefault("seen_by", []).append(self.name)

    async def post_workflow(self, instance: Any) -> None:
        calls.append(f"{self.name} post {instance.status.value}")


two_steps = (
    WorkflowBuilder(dict)
    .start_with(Work).name("a")
    .if_do(lambda d: True, lambda b: b.start_with(Work).name("b"))
    .build("mw-two", 1)
)


async def test_middleware_runs_in_order_outermost_first(stores, wait_until):
    async with stores.host(middleware=[Named("outer"), Named("inner")]) as host:
        host.register(two_steps)
        wid = await host.start_workflow("mw-two", {})
        instance = await host.wait_for_workflow(wid)
        await wait_until(lambda: "inner post complete" in calls, what="post_workflow")

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["seen_by"] == ["outer", "inner"]  # pre_workflow changed the data
    assert calls == [
        "outer pre", "inner pre",
        "outer in a", "inner in a", "run a", "inner out a", "outer out a",
        # the "if" container is the engine's own step: not wrapped
        "outer in b", "inner in b", "run b", "inner out b", "outer out b",
        "outer post complete", "inner post complete",
    ]


class Refuses:
    async def step(self, ctx: Any, call_next: Any) -> Any:
        if ctx.pointer.retry_count == 0:
            raise PermissionError("not on the first try")
        return await call_next()


async def test_a_step_middleware_that_raises_fails_the_step_through_on_error(stores):
    definition = (
        WorkflowBuilder(dict)
        .start_with(Work).name("guarded")
        .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=3))
        .build("mw-refuse", 1)
    )
    async with stores.host(middleware=[Refuses()]) as host:
        host.register(definition)
        wid = await host.start_workflow("mw-refuse", {})
        instance = await host.wait_for_workflow(wid)
        errors = await host.get_execution_errors(wid)

    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data["ran"] == 1  # the body ran once: on the retry
    assert [e.message for e in errors] == ["PermissionError: not on the first try"]


class FailsToStart:
    async def pre_workflow(self, instance: Any) -> None:
        raise ValueError(f"no workflows of {instance.definition_id} today")


async def test_a_pre_workflow_that_raises_fails_the_start_and_stores_nothing(stores):
    async with stores.host(middleware=[FailsToStart()]) as host:
        host.register(two_steps)
        with pytest.raises(ValueError, match="no workflows of mw-two today"):
            await host.start_workflow("mw-two", {})
        page = await host.search()
    assert page.total == 0


class PostFails:
    async def post_workflow(self, instance: Any) -> None:
        calls.append("post")
        raise RuntimeError("the audit log is down")


async def test_a_post_workflow_that_raises_is_logged_and_changes_nothing(stores, wait_until, caplog):
    caplog.set_level(logging.ERROR, logger="wfe.middleware")
    async with stores.host(middleware=[PostFails(), Named("after")]) as host:
        host.register(two_steps)
        wid = await host.start_workflow("mw-two", {})
        started = await host.start_workflow("mw-two", {})
        instance = await host.wait_for_workflow(wid)
        await wait_until(lambda: calls.count("post") == 2, what="both post_workflow calls")
        assert await host.terminate_workflow(started) is False  # it completed already
        await wait_until(lambda: calls.count("after post complete") == 2, what="the next middleware")

    assert instance.status is WorkflowStatus.COMPLETE
    assert f"workflow {wid}: post_workflow middleware" in caplog.text
    assert "the audit log is down" in caplog.text


waits = WorkflowBuilder(dict).start_with(Work).wait_for("never", "k").build("mw-wait", 1)


async def test_post_workflow_runs_after_a_terminate(stores, wait_until):
    async with stores.host(middleware=[Named("m")]) as host:
        host.register(waits)
        wid = await host.start_workflow("mw-wait", {})
        await wait_until(lambda: "run start" in calls or any(c.startswith("run") for c in calls))
        assert await host.terminate_workflow(wid)
        await wait_until(lambda: "m post terminated" in calls, what="post_workflow")


def test_middleware_with_no_hook_is_refused_naming_it():
    from wfe import WorkflowHost

    class Nothing:
        def __repr__(self) -> str:
            return "<Nothing>"

    class SyncStep:
        def step(self, ctx: Any, call_next: Any) -> Any:
            return None

    with pytest.raises(ConfigurationError, match="<Nothing> defines none of step, pre_workflow"):
        WorkflowHost(middleware=[Nothing()])
    with pytest.raises(ConfigurationError, match="step must be an async def method"):
        WorkflowHost(middleware=[SyncStep()])
