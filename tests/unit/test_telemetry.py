"""Traces, metrics and logs of a workflow, read from an SDK passed to the host (never the globals).

The workflow has a step that fails once and is retried, a parallel block of two branches, and
a wait for an event: its span tree, attributes and metric values are pinned here. The engine
running with the OpenTelemetry SDK unimportable is pinned too (a subprocess).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from wfe import ErrorBehavior, PointerStatus, StepBody, WorkflowBuilder, WorkflowHost, WorkflowStatus
from wfe_core import tracing
from wfe_core._telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
attempts: Counter[str] = Counter()


@dataclass
class Order:
    key: str = "o-1"
    got: Any = None


class Flaky(StepBody):
    def run(self, ctx: Any) -> None:
        attempts["flaky"] += 1
        if attempts["flaky"] == 1:
            raise ConnectionError("card service timed out")


async def sauce(ctx: Any) -> None:
    await asyncio.sleep(0)


def cheese(ctx: Any) -> None:
    pass


class Receive(StepBody):
    event_data: Any = None


definition = (
    WorkflowBuilder(Order)
    .start_with(Flaky).name("Charge")
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=10), max_retries=3))
    .parallel(lambda p: p.branch(lambda b: b.start_with(sauce).name("Sauce"))
                         .branch(lambda b: b.start_with(cheese).name("Cheese")))
    .wait_for("oven.ready", lambda d: d.key).name("WaitOven")
    .output(got=lambda step: step.event_data)
    .then_fn(lambda ctx: None).name("Serve")
    .end_workflow()
    .build("telemetry-order", 2)
)


@pytest.fixture(autouse=True)
def _reset() -> None:
    attempts.clear()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def providers(spans: InMemorySpanExporter, reader: InMemoryMetricReader) -> dict[str, Any]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    return {"tracer_provider": tracer_provider, "meter_provider": MeterProvider([reader])}


async def _run_order(host: WorkflowHost) -> str:
    host.register(definition)
    wid = await host.start_workflow("telemetry-order", Order())
    for _ in range(500):  # until it waits for the oven
        instance = await host.get_workflow(wid)
        if any(p.status is PointerStatus.WAITING_FOR_EVENT for p in instance.execution_pointers):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the workflow never waited for the event")
    await host.publish_event("oven.ready", "o-1", {"temp": 450})
    done = await host.wait_for_workflow(wid, timeout=10)
    assert done.status is WorkflowStatus.COMPLETE, done
    assert done.data.got == {"temp": 450}
    return wid


def _named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_span_tree_and_attributes_of_a_retry_a_parallel_block_and_a_wait(
    providers: dict[str, Any], spans: InMemorySpanExporter
) -> None:
    async with WorkflowHost("memory://", **providers) as host:
        wid = await _run_order(host)
    finished = list(spans.get_finished_spans())
    [start] = _named(finished, tracing.SPAN_START_WORKFLOW)
    [publish] = _named(finished, tracing.SPAN_PUBLISH_EVENT)
    [deliver] = _named(finished, tracing.SPAN_DELIVER_EVENT)
    passes = _named(finished, tracing.SPAN_PASS)
    steps = _named(finished, tracing.SPAN_STEP)
    assert {s.name for s in finished} == {
        tracing.SPAN_START_WORKFLOW, tracing.SPAN_PUBLISH_EVENT, tracing.SPAN_DELIVER_EVENT,
        tracing.SPAN_PASS, tracing.SPAN_STEP,
    }
    assert start.kind is SpanKind.PRODUCER
    assert start.attributes[tracing.ATTR_WORKFLOW_ID] == wid
    assert start.attributes[tracing.ATTR_DEFINITION_ID] == "telemetry-order"

    # One workflow, one trace: every pass is a child of the start, every step of a pass.
    trace_id = start.context.trace_id
    assert all(s.context.trace_id == trace_id for s in passes + steps)
    assert all(p.parent.span_id == start.context.span_id for p in passes)
    pass_ids = {p.context.span_id for p in passes}
    assert all(s.parent.span_id in pass_ids for s in steps)
    for p in passes:
        assert p.attributes[tracing.ATTR_WORKFLOW_ID] == wid
        assert p.attributes[tracing.ATTR_VERSION] == 2
    assert passes[-1].attributes[tracing.ATTR_STATUS] == "complete"

    by_name: dict[str, list[ReadableSpan]] = {}
    for s in sorted(steps, key=lambda s: s.start_time):
        by_name.setdefault(s.attributes[tracing.ATTR_STEP_NAME], []).append(s)

    # The retry: two runs of Charge, the first failed with its exception recorded.
    failed, retried = by_name["Charge"]
    assert [failed.attributes[tracing.ATTR_ATTEMPT], retried.attributes[tracing.ATTR_ATTEMPT]] == [1, 2]
    assert failed.attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_FAILED
    assert failed.status.status_code is StatusCode.ERROR
    [exc_event] = [e for e in failed.events if e.name == "exception"]
    assert exc_event.attributes["exception.type"] == "ConnectionError"
    assert "card service timed out" in exc_event.attributes["exception.message"]
    assert retried.attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_NEXT
    assert retried.status.status_code is StatusCode.UNSET
    assert failed.parent.span_id != retried.parent.span_id  # each run in its own pass
    assert failed.attributes[tracing.ATTR_POINTER_ID] == retried.attributes[tracing.ATTR_POINTER_ID]

    # The parallel block: both branches' steps in one pass, beside each other.
    [sauce_span], [cheese_span] = by_name["Sauce"], by_name["Cheese"]
    assert sauce_span.parent.span_id == cheese_span.parent.span_id
    [container] = [s for s in steps
                   if s.attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_BRANCHED]
    assert container.end_time <= sauce_span.start_time  # it started the branches

    # The wait: it waited, then received the event, and links to the publish span.
    waiting, received = by_name["WaitOven"]
    assert waiting.attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_WAITING
    assert received.attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_NEXT
    assert [link.context.span_id for link in received.links] == [publish.context.span_id]
    assert deliver.parent.span_id == publish.context.span_id
    assert deliver.kind is SpanKind.CONSUMER
    assert deliver.attributes[tracing.ATTR_EVENT_NAME] == "oven.ready"
    assert by_name["Serve"][0].attributes[tracing.ATTR_OUTCOME] == tracing.OUTCOME_NEXT
    for s in steps:
        assert s.attributes[tracing.ATTR_WORKFLOW_ID] == wid
        assert isinstance(s.attributes[tracing.ATTR_STEP_ID], int)


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def _total(points: dict[str, list[Any]], name: str, **attrs: Any) -> float:
    return sum(
        p.value for p in points.get(name, [])
        if all(p.attributes.get(k) == v for k, v in attrs.items())
    )


async def test_metric_values_after_a_known_run(
    providers: dict[str, Any], reader: InMemoryMetricReader
) -> None:
    async with WorkflowHost("memory://", **providers) as host:
        await _run_order(host)
        await host.start_workflow("telemetry-order", Order(key="never"))
        other = await host.start_workflow("telemetry-order", Order(key="never-2"))
        await asyncio.sleep(0.05)
        assert await host.terminate_workflow(other)
        points = _points(reader)
    definition_id = {tracing.ATTR_DEFINITION_ID: "telemetry-order"}
    assert _total(points, tracing.METRIC_WORKFLOWS_STARTED, **definition_id) == 3
    assert _total(points, tracing.METRIC_WORKFLOWS_COMPLETED, **definition_id) == 1
    assert _total(points, tracing.METRIC_WORKFLOWS_TERMINATED, **definition_id) == 1
    assert _total(points, tracing.METRIC_WORKFLOWS_FAILED) == 0
    charge = {**definition_id, tracing.ATTR_STEP_NAME: "Charge"}
    assert _total(points, tracing.METRIC_STEPS_FAILED, **charge) == 1
    assert _total(points, tracing.METRIC_RETRIES, **charge) == 1
    # Charge: the first run of the first workflow failed; then it passed 3 times.
    assert _total(points, tracing.METRIC_STEPS, **charge, **{tracing.ATTR_OUTCOME: "failed"}) == 1
    assert _total(points, tracing.METRIC_STEPS, **charge, **{tracing.ATTR_OUTCOME: "next"}) == 3
    serve = {tracing.ATTR_STEP_NAME: "Serve"}
    assert _total(points, tracing.METRIC_STEPS, **serve) == 1
    [serve_duration] = [p for p in points[tracing.METRIC_STEP_DURATION]
                        if p.attributes.get(tracing.ATTR_STEP_NAME) == "Serve"]
    assert serve_duration.count == 1 and serve_duration.sum >= 0
    assert _total(points, tracing.METRIC_EVENTS_PUBLISHED, **{tracing.ATTR_EVENT_NAME: "oven.ready"}) == 1
    assert _total(points, tracing.METRIC_EVENTS_DELIVERED, **{tracing.ATTR_EVENT_NAME: "oven.ready"}) == 1
    latency = points[tracing.METRIC_QUEUE_LATENCY]
    assert sum(p.count for p in latency) >= 4  # at least one per pass of the finished workflow
    assert _total(points, tracing.METRIC_WORKFLOWS_IN_FLIGHT) == 0  # the two waiting are parked
    # No workflow id, pointer id or event key in any metric attribute.
    for name, pts in points.items():
        for p in pts:
            assert set(p.attributes) <= {
                tracing.ATTR_DEFINITION_ID, tracing.ATTR_STEP_NAME, tracing.ATTR_OUTCOME,
                tracing.ATTR_STATUS, tracing.ATTR_EVENT_NAME,
            }, name


async def test_a_workflow_stopped_by_its_step_counts_as_failed(
    providers: dict[str, Any], reader: InMemoryMetricReader, caplog: pytest.LogCaptureFixture
) -> None:
    def boom(ctx: Any) -> None:
        raise ValueError("no dough")

    stopped = (
        WorkflowBuilder(dict).start_with(boom).name("Knead")
        .on_error(ErrorBehavior.terminate()).end_workflow().build("stops", 1)
    )
    caplog.set_level(logging.INFO, logger="wfe")
    async with WorkflowHost("memory://", **providers) as host:
        host.register(stopped)
        wid = await host.start_workflow("stops", {})
        assert (await host.wait_for_workflow(wid)).status is WorkflowStatus.TERMINATED
        points = _points(reader)
    assert _total(points, tracing.METRIC_WORKFLOWS_FAILED, **{tracing.ATTR_STATUS: "terminated"}) == 1
    assert _total(points, tracing.METRIC_WORKFLOWS_TERMINATED) == 1
    # Logged once, with its traceback and whose it is; nothing else at INFO or above per step.
    records = [r for r in caplog.records if r.name.startswith("wfe")]
    [record] = records
    assert record.levelno == logging.WARNING
    assert record.exc_info is not None and record.exc_info[0] is ValueError
    assert (record.wfe_workflow_id, record.wfe_definition_id, record.wfe_step) == (  # type: ignore[attr-defined]
        wid, "stops", "Knead"
    )


async def test_a_retried_failure_is_logged_at_info_and_successful_steps_not_at_all(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wfe")
    async with WorkflowHost("memory://") as host:
        host.register(definition)
        wid = await host.start_workflow("telemetry-order", Order())
        await asyncio.sleep(0.2)
        await host.publish_event("oven.ready", "o-1", 1)
        await host.wait_for_workflow(wid)
    steps = [r for r in caplog.records if r.name == "wfe.executor"]
    assert [(r.levelno, r.wfe_step) for r in steps] == [(logging.INFO, "Charge")]  # type: ignore[attr-defined]
    assert "(retrying)" in steps[0].getMessage()


def test_default_providers_make_the_engine_skip_recording() -> None:
    telemetry = Telemetry()
    assert (telemetry.tracing, telemetry.metering, telemetry.observing) == (False, False, False)
    sdk = Telemetry(TracerProvider(), MeterProvider())
    assert (sdk.tracing, sdk.metering) == (True, True)


async def test_a_step_runs_inside_its_span(providers: dict[str, Any], spans: InMemorySpanExporter) -> None:
    from opentelemetry import trace

    tracer = providers["tracer_provider"].get_tracer("user-code")

    def sync_step(ctx: Any) -> None:
        with tracer.start_as_current_span("user.sync"):
            pass

    async def async_step(ctx: Any) -> None:
        with tracer.start_as_current_span("user.async"):
            assert trace.get_current_span().is_recording()

    nested = (WorkflowBuilder(dict).start_with(sync_step).then(async_step)
              .end_workflow().build("nested", 1))
    async with WorkflowHost("memory://", **providers) as host:
        host.register(nested)
        await host.wait_for_workflow(await host.start_workflow("nested", {}))
    finished = list(spans.get_finished_spans())
    step_ids = {s.context.span_id for s in _named(finished, tracing.SPAN_STEP)}
    for name in ("user.sync", "user.async"):
        [user] = _named(finished, name)
        assert user.parent.span_id in step_ids


@pytest.mark.slow  # makes a virtual environment
def test_the_engine_runs_without_the_sdk_installed() -> None:
    # opentelemetry.sdk made unimportable, as in an install without the `otel` extra.
    code = textwrap.dedent(
        """
        import asyncio, importlib.abc, sys
        from datetime import timedelta

        class NoSdk(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name == "opentelemetry.sdk" or name.startswith("opentelemetry.sdk."):
                    raise ModuleNotFoundError(f"No module named {name!r}")
                return None

        sys.meta_path.insert(0, NoSdk())
        from wfe import WorkflowBuilder, WorkflowHost, WorkflowStatus, ErrorBehavior

        calls = []
        def flaky(ctx):
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("once")

        async def main():
            d = (WorkflowBuilder(dict).start_with(flaky).on_error(ErrorBehavior.retry(timedelta(milliseconds=10)))
                 .wait_for("go", "k").then_fn(lambda ctx: None).end_workflow().build("w", 1))
            async with WorkflowHost("memory://") as host:
                host.register(d)
                wid = await host.start_workflow("w", {})
                await asyncio.sleep(0.2)
                await host.publish_event("go", "k")
                inst = await host.wait_for_workflow(wid)
                assert inst.status is WorkflowStatus.COMPLETE, inst.status
                await host.suspend_workflow(wid)
        asyncio.run(main())
        assert not any(m.startswith("opentelemetry.sdk") for m in sys.modules)
        print("ran without the sdk")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ran without the sdk" in done.stdout
