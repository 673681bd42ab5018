"""Failures the engine itself rules on: retry parameters refused when made, one ``step_started``
per attempt, a failure's log record as safe as its stored message, a span for an error whose text
cannot be read. (What every store keeps of a failure is in the suites' ``test_failure_inputs``.)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from wfe import (
    ErrorBehavior,
    LifecycleEvent,
    LifecycleEventType,
    StepBody,
    WorkflowBuilder,
    WorkflowHost,
    WorkflowStatus,
)
from wfe_core._failure import MAX_MESSAGE
from wfe_core.testing import FakeClock

# -- retry parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"backoff": float("nan")}, "backoff"),
        ({"backoff": float("inf")}, "backoff"),
        ({"backoff": -2.0}, "backoff"),
        ({"backoff": 0.5}, "backoff"),
        ({"backoff": "2"}, "backoff"),
        ({"interval": timedelta(seconds=-1)}, "interval"),
        ({"interval": timedelta.max}, "interval"),
        ({"interval": 5}, "interval"),
        ({"max_interval": timedelta(seconds=-1)}, "max_interval"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 2.5}, "max_retries"),
        ({"non_retryable": ["ValueError"]}, "non_retryable"),
    ],
    ids=[
        "backoff-nan", "backoff-inf", "backoff-negative", "backoff-below-one", "backoff-str",
        "interval-negative", "interval-max", "interval-int", "max-interval-negative",
        "max-retries-negative", "max-retries-float", "non-retryable-str",
    ],
)
def test_retry_parameters_that_cannot_give_a_delay_are_refused(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ErrorBehavior.retry(**kwargs)


def test_the_constructor_checks_what_retry_checks() -> None:
    with pytest.raises(ValueError, match="backoff"):
        ErrorBehavior(ErrorBehavior.Kind.RETRY, timedelta(seconds=1), None, float("nan"))


def test_usable_retry_parameters_are_kept() -> None:
    behavior = ErrorBehavior.retry(
        interval=timedelta(seconds=2), max_retries=0, backoff=3, max_interval=timedelta(0),
        non_retryable=[KeyError],
    )
    assert behavior.delay_for(4) == timedelta(0)
    assert behavior.non_retryable == (KeyError,)


# -- a host on memory ----------------------------------------------------------------------------


@pytest.fixture
async def host() -> AsyncIterator[WorkflowHost]:
    async with WorkflowHost("memory://", clock=FakeClock(auto_advance=True)) as running:
        yield running


ATTEMPTS: list[int] = []


class FailsTwice(StepBody):
    def run(self, ctx: Any) -> None:
        ATTEMPTS.append(ctx.pointer.retry_count)
        if len(ATTEMPTS) < 3:
            raise RuntimeError("not yet")


async def test_each_attempt_of_a_retried_step_starts_with_step_started(host: WorkflowHost) -> None:
    ATTEMPTS.clear()
    events: list[LifecycleEvent] = []
    host.lifecycle.subscribe(events.append)
    host.register(
        WorkflowBuilder(dict)
        .start_with(FailsTwice)
        .on_error(ErrorBehavior.retry(interval=timedelta(seconds=1)))
        .build("fails-twice")
    )

    wid = await host.start_workflow("fails-twice", {})

    assert (await host.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.COMPLETE
    started, error, completed = (
        LifecycleEventType.STEP_STARTED,
        LifecycleEventType.WORKFLOW_ERROR,
        LifecycleEventType.STEP_COMPLETED,
    )
    steps = [e.type for e in events if e.step_name == "FailsTwice"]
    assert steps == [started, error, started, error, started, completed]
    assert ATTEMPTS == [0, 1, 2]


def _raises_long(ctx: Any) -> None:
    raise RuntimeError("y" * 5_000_000)


async def test_a_long_message_is_cut_in_the_log_too(
    host: WorkflowHost, caplog: pytest.LogCaptureFixture
) -> None:
    host.register(
        WorkflowBuilder(dict).start_with(_raises_long).on_error(ErrorBehavior.suspend()).build("long")
    )

    with caplog.at_level(logging.INFO, logger="wfe.executor"):
        wid = await host.start_workflow("long", {})
        assert (await host.wait_for_workflow(wid, timeout=10)).status is WorkflowStatus.SUSPENDED

    [record] = [r for r in caplog.records if r.name == "wfe.executor"]
    text = caplog.text
    assert len(text) < MAX_MESSAGE * 3
    assert "5,000,014 characters" in record.getMessage()
    assert "Traceback (most recent call last)" in text and "_raises_long" in text


class Unreadable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("unreadable")


def _raises_unreadable(ctx: Any) -> None:
    raise Unreadable()


async def test_a_traced_step_whose_error_cannot_be_read_still_fails_like_a_step() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    async with WorkflowHost("memory://", tracer_provider=tracer_provider) as host:
        host.register(
            WorkflowBuilder(dict)
            .start_with(_raises_unreadable)
            .on_error(ErrorBehavior.suspend())
            .build("unreadable")
        )
        wid = await host.start_workflow("unreadable", {})
        instance = await host.wait_for_workflow(wid, timeout=10)
        errors = await host.get_execution_errors(wid)

    assert instance.status is WorkflowStatus.SUSPENDED
    assert [e.error_type for e in errors] == ["Unreadable"]
    [step_span] = [s for s in spans.get_finished_spans() if s.attributes and "Unreadable" in str(s.status.description)]
    assert step_span.status.description.startswith("RuntimeError: Unreadable")
