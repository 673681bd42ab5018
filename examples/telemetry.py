"""Traces and metrics of a small workflow, printed to the console.

A payment step fails once and is retried, then a parallel block makes sauce and grates cheese
at the same time. The host gets an OpenTelemetry SDK tracer provider and meter provider (in
memory, for printing); in production you pass providers that export, e.g. over OTLP::

    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter("localhost:4317")))

Run it with ``python examples/telemetry.py`` (needs ``pip install "wfe[otel]"``).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from typing import Any

try:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
except ImportError:
    sys.exit('this example needs the OpenTelemetry SDK: pip install "wfe[otel]"')

from wfe import ErrorBehavior, StepBody, WorkflowBuilder, WorkflowHost
from wfe_core import tracing

tries = 0


class ChargeCard(StepBody):
    def run(self, ctx: Any) -> None:
        global tries
        tries += 1
        if tries == 1:
            raise ConnectionError("payment service timed out")
        print(f"charged {ctx.data['total']} EUR (attempt {tries})")


async def make_sauce(ctx: Any) -> None:
    await asyncio.sleep(0.02)
    print("sauce ready")


async def grate_cheese(ctx: Any) -> None:
    await asyncio.sleep(0.01)
    print("cheese grated")


order = (
    WorkflowBuilder(dict)
    .start_with(ChargeCard).name("ChargeCard")
    .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=50), max_retries=3))
    .parallel(lambda p: p.branch(lambda b: b.start_with(make_sauce).name("MakeSauce"))
                         .branch(lambda b: b.start_with(grate_cheese).name("GrateCheese")))
    .then_fn(lambda ctx: print("pizza in the oven")).name("Bake")
    .end_workflow()
    .build("pizza-order", 1)
)


def print_tree(spans: list[ReadableSpan]) -> None:
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in spans:
        children.setdefault(span.parent.span_id if span.parent else None, []).append(span)

    def show(span: ReadableSpan, depth: int) -> None:
        attrs = span.attributes or {}
        took = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
        detail = ", ".join(
            f"{key.removeprefix('wfe.')}={attrs[key]}"
            for key in (tracing.ATTR_STEP_NAME, tracing.ATTR_ATTEMPT, tracing.ATTR_OUTCOME,
                        tracing.ATTR_STATUS, tracing.ATTR_DEFINITION_ID)
            if key in attrs
        )
        error = "  ERROR: " + (span.status.description or "") if not span.status.is_ok else ""
        print(f"{'  ' * depth}{span.name:<{28 - 2 * depth}} {took:7.2f} ms  {detail}{error}")
        for child in sorted(children.get(span.context.span_id, []), key=lambda s: s.start_time or 0):
            show(child, depth + 1)

    for root in children.get(None, []):
        show(root, 0)


def print_metrics(reader: InMemoryMetricReader) -> None:
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in sorted(scope.metrics, key=lambda m: m.name):
                for point in metric.data.data_points:
                    labels = ", ".join(f"{k.removeprefix('wfe.')}={v}"
                                       for k, v in sorted((point.attributes or {}).items()))
                    if hasattr(point, "count"):  # a histogram
                        value = f"count={point.count} sum={point.sum * 1000:.2f} ms"
                    else:
                        value = str(point.value)
                    print(f"  {metric.name:<28} {value:<24} {labels}")


async def main() -> None:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    async with WorkflowHost(
        "memory://", tracer_provider=tracer_provider, meter_provider=MeterProvider([reader])
    ) as host:
        host.register(order)
        wid = await host.start_workflow("pizza-order", {"total": 18})
        await host.wait_for_workflow(wid)
        print("\nspan tree (one trace):")
        print_tree(list(spans.get_finished_spans()))
        print("\nmetrics:")
        print_metrics(reader)


if __name__ == "__main__":
    asyncio.run(main())
