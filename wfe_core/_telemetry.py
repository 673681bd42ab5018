"""``Telemetry``: one host's tracer and instruments, and the trace context stored with work.

``WorkflowHost`` makes one from its ``tracer_provider`` / ``meter_provider`` and hands it to
the runtime's parts (runner, executor, event delivery, indexer). Names come from
``wfe_core.tracing``, which also explains the shape of a workflow's trace.

Why the flags: with the default providers (the API's no-op ones, no SDK configured) every
span and measurement is thrown away, yet making them still costs microseconds on a path that
runs a step in about twenty. So the providers are looked at once, when the host is made:
``tracing`` / ``metering`` are false for the no-op and not-yet-configured global providers,
and the hot paths check a flag instead of calling the API. With an SDK, attributes are built
only for spans that record (``is_recording()``), so an unsampled workflow costs little more.
Everything here is typed by the OpenTelemetry API's classes: the SDK is optional, never imported.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.metrics import Histogram, Meter, MeterProvider
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import tracing as names

if TYPE_CHECKING:
    from ._definition import WorkflowStep
    from ._models import Event, ExecutionPointer, WorkflowInstance

__all__ = ["Telemetry", "log_fields"]

_PROPAGATOR = TraceContextTextMapPropagator()
_NO_SPAN: AbstractContextManager[None] = nullcontext()

#: Buckets for durations in seconds (the SDK's default buckets are for milliseconds).
_SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 300.0, 3600.0,
)


def _is_noop_tracer_provider(provider: TracerProvider) -> bool:
    return isinstance(provider, (trace.NoOpTracerProvider, trace.ProxyTracerProvider))


def _is_noop_meter_provider(provider: MeterProvider) -> bool:
    # The global before any SDK is set is a private proxy class: match it by name.
    return isinstance(provider, metrics.NoOpMeterProvider) or type(provider).__name__ in (
        "_ProxyMeterProvider",
        "ProxyMeterProvider",
    )


def _seconds_histogram(meter: Meter, name: str, description: str) -> Histogram:
    try:
        return meter.create_histogram(
            name, "s", description, explicit_bucket_boundaries_advisory=_SECONDS_BUCKETS
        )
    except TypeError:  # an API before 1.23 takes no advice: the SDK's default buckets
        return meter.create_histogram(name, "s", description)


def traceparent(span_context: trace.SpanContext) -> str | None:
    """The W3C ``traceparent`` header value of ``span_context``, or None if it is invalid."""
    if not span_context.is_valid:
        return None
    return (
        f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-"
        f"{int(span_context.trace_flags):02x}"
    )


def context_from(value: str | None) -> Context | None:
    """A context whose parent is the span a stored ``traceparent`` names (None: none stored)."""
    if not value:
        return None
    return _PROPAGATOR.extract({"traceparent": value})


def span_context_from(value: str | None) -> trace.SpanContext | None:
    ctx = context_from(value)
    if ctx is None:
        return None
    found = trace.get_current_span(ctx).get_span_context()
    return found if found.is_valid else None


def log_fields(
    workflow_id: str | None, definition_id: str | None = None, step: str | None = None
) -> dict[str, Any]:
    """``extra=`` for an engine log record: which workflow, definition and step it is about.

    The record attributes are ``wfe_workflow_id``, ``wfe_definition_id`` and ``wfe_step``
    (use them in a format string as ``%(wfe_workflow_id)s``).
    """
    return {"wfe_workflow_id": workflow_id, "wfe_definition_id": definition_id, "wfe_step": step}


class Telemetry:
    """Tracer and instruments of one host.

    Args:
        tracer_provider: an OpenTelemetry ``TracerProvider``; None: the global one.
        meter_provider: an OpenTelemetry ``MeterProvider``; None: the global one.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        from . import __version__

        tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        mp = meter_provider if meter_provider is not None else metrics.get_meter_provider()
        #: Spans are recorded by someone: make them.
        self.tracing = not _is_noop_tracer_provider(tp)
        #: Measurements are read by someone: take them.
        self.metering = not _is_noop_meter_provider(mp)
        #: Either: the executor and runner observe steps and passes.
        self.observing = self.tracing or self.metering
        self.tracer = tp.get_tracer(names.INSTRUMENTATION_NAME, __version__)
        self._step_attrs: dict[tuple[str, int, int, str | None], dict[str, Any]] = {}
        self._definition_attrs: dict[str, dict[str, Any]] = {}
        self._backlog = 0
        if self.metering:
            meter = mp.get_meter(names.INSTRUMENTATION_NAME, __version__)
            counter = meter.create_counter
            self.workflows_started = counter(names.METRIC_WORKFLOWS_STARTED, "{workflow}",
                                             "Workflows started")
            self.workflows_completed = counter(names.METRIC_WORKFLOWS_COMPLETED, "{workflow}",
                                               "Workflows that completed")
            self.workflows_terminated = counter(names.METRIC_WORKFLOWS_TERMINATED, "{workflow}",
                                                "Workflows terminated, by a step or a call")
            self.workflows_suspended = counter(names.METRIC_WORKFLOWS_SUSPENDED, "{workflow}",
                                               "Workflows suspended, by a step or a call")
            self.workflows_failed = counter(names.METRIC_WORKFLOWS_FAILED, "{workflow}",
                                            "Workflows a step error suspended or terminated")
            self.in_flight = meter.create_up_down_counter(
                names.METRIC_WORKFLOWS_IN_FLIGHT, "{workflow}", "Workflows being run by a host"
            )
            self.steps = counter(names.METRIC_STEPS, "{step}", "Step bodies run")
            self.steps_failed = counter(names.METRIC_STEPS_FAILED, "{step}", "Step runs that failed")
            self.retries = counter(names.METRIC_RETRIES, "{retry}", "Step retries scheduled")
            self.step_duration = _seconds_histogram(
                meter, names.METRIC_STEP_DURATION, "Run time of step bodies"
            )
            self.queue_latency = _seconds_histogram(
                meter, names.METRIC_QUEUE_LATENCY, "From a workflow being due to its pass starting"
            )
            self.events_published = counter(names.METRIC_EVENTS_PUBLISHED, "{event}",
                                            "Events published")
            self.events_delivered = counter(names.METRIC_EVENTS_DELIVERED, "{event}",
                                            "Events handed to a waiting workflow")
            self.index_backlog = meter.create_up_down_counter(
                names.METRIC_INDEX_BACKLOG, "{workflow}",
                "Workflow writes waiting in the index outbox at a host's last look",
            )

    # -- attributes (cached: built once per definition and step) -----------------------------

    def definition_attrs(self, definition_id: str) -> dict[str, Any]:
        attrs = self._definition_attrs.get(definition_id)
        if attrs is None:
            attrs = self._definition_attrs[definition_id] = {names.ATTR_DEFINITION_ID: definition_id}
        return attrs

    def step_attrs(self, definition_id: str, version: int, step_id: int, step_name: str,
                   outcome: str | None = None) -> dict[str, Any]:
        key = (definition_id, version, step_id, outcome)
        attrs = self._step_attrs.get(key)
        if attrs is None:
            attrs = {names.ATTR_DEFINITION_ID: definition_id, names.ATTR_STEP_NAME: step_name}
            if outcome is not None:
                attrs[names.ATTR_OUTCOME] = outcome
            self._step_attrs[key] = attrs
        return attrs

    # -- trace context stored with work ------------------------------------------------------

    def current_traceparent(self) -> str | None:
        """The ``traceparent`` of the caller's current span, to store with new work.

        Taken even when this host records nothing: a caller's context that came from
        elsewhere then still reaches the hosts that do.
        """
        return traceparent(trace.get_current_span().get_span_context())

    # -- host calls --------------------------------------------------------------------------

    def call_span(
        self,
        name: str,
        attributes: dict[str, Any],
        kind: SpanKind = SpanKind.INTERNAL,
    ) -> AbstractContextManager[Span | None]:
        """A current span around a host call (``start_workflow``, ``publish_event``, ...)."""
        if not self.tracing:
            return _NO_SPAN
        return self.tracer.start_as_current_span(name, kind=kind, attributes=attributes)

    def link_workflow(self, span: Span | None, stored: str | None) -> None:
        """Link a control call's span to the trace of the workflow it acts on."""
        if span is None or not span.is_recording():
            return
        target = span_context_from(stored)
        if target is not None and hasattr(span, "add_link"):
            span.add_link(target)

    # -- passes ------------------------------------------------------------------------------

    def start_pass(self, instance: WorkflowInstance) -> Span:
        """The span of one pass: a child of the context stored when the workflow started."""
        span = self.tracer.start_span(names.SPAN_PASS, context=context_from(instance.trace_context))
        if span.is_recording():
            span.set_attributes({
                names.ATTR_WORKFLOW_ID: instance.id,
                names.ATTR_DEFINITION_ID: instance.definition_id,
                names.ATTR_VERSION: instance.version,
            })
        return span

    @staticmethod
    def end_pass(
        span: Span, instance: WorkflowInstance, steps_run: int, error: BaseException | None
    ) -> None:
        if span.is_recording():
            span.set_attribute(names.ATTR_STATUS, instance.status.value)
            span.set_attribute(names.ATTR_PASS_STEPS, steps_run)
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def pass_due(
        self, instance: WorkflowInstance, now: datetime, ready: datetime | None = None
    ) -> None:
        """A pass starts: how long its workflow waited since it was due (and ``ready``: its
        previous pass stored, for a workflow that goes straight on)."""
        due = instance.next_execution
        if self.metering and due is not None:
            if ready is not None and ready > due:
                due = ready
            waited = (now - due).total_seconds()
            self.queue_latency.record(max(waited, 0.0), self.definition_attrs(instance.definition_id))

    def workflow_settled(self, instance: WorkflowInstance, failed: bool) -> None:
        """A pass or a control call left the workflow in a status other than runnable."""
        if not self.metering:
            return
        attrs = self.definition_attrs(instance.definition_id)
        status = instance.status.value
        counter = {
            "complete": self.workflows_completed,
            "terminated": self.workflows_terminated,
            "suspended": self.workflows_suspended,
        }.get(status)
        if counter is not None:
            counter.add(1, attrs)
        if failed:
            self.workflows_failed.add(1, {**attrs, names.ATTR_STATUS: status})

    # -- steps -------------------------------------------------------------------------------

    def start_step(
        self,
        parent: Context | None,
        instance: WorkflowInstance,
        step: WorkflowStep,
        pointer: ExecutionPointer,
    ) -> Span:
        links = None
        event_trace = pointer.extension_attributes.get("event_traceparent")
        if event_trace:
            target = span_context_from(event_trace)
            if target is not None:
                links = [Link(target)]
        span = self.tracer.start_span(names.SPAN_STEP, context=parent, links=links)
        if span.is_recording():
            span.set_attributes({
                names.ATTR_WORKFLOW_ID: instance.id,
                names.ATTR_DEFINITION_ID: instance.definition_id,
                names.ATTR_VERSION: instance.version,
                names.ATTR_STEP_ID: step.id,
                names.ATTR_STEP_NAME: step.display_name,
                names.ATTR_POINTER_ID: pointer.id,
                names.ATTR_ATTEMPT: pointer.retry_count + 1,
            })
        return span

    def step_done(
        self,
        span: Span | None,
        end_ns: int,
        elapsed: float,
        instance: WorkflowInstance,
        step: WorkflowStep,
        outcome: str,
        error: BaseException | None,
    ) -> None:
        """A step run's outcome is known: end its span (at the time its body ended), count it."""
        if span is not None:
            if span.is_recording():
                span.set_attribute(names.ATTR_OUTCOME, outcome)
                if error is not None:
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            span.end(end_time=end_ns)
        if self.metering:
            attrs = self.step_attrs(instance.definition_id, instance.version, step.id,
                                    step.display_name, outcome)
            self.steps.add(1, attrs)
            self.step_duration.record(elapsed, attrs)
            if error is not None:
                self.steps_failed.add(1, self.step_attrs(
                    instance.definition_id, instance.version, step.id, step.display_name))

    def retried(self, instance: WorkflowInstance, step: WorkflowStep) -> None:
        if self.metering:
            self.retries.add(1, self.step_attrs(
                instance.definition_id, instance.version, step.id, step.display_name))

    # -- workflows and events ----------------------------------------------------------------

    def workflow_started(self, definition_id: str) -> None:
        if self.metering:
            self.workflows_started.add(1, self.definition_attrs(definition_id))

    def running(self, delta: int) -> None:
        if self.metering:
            self.in_flight.add(delta)

    def event_published(self, event_name: str) -> None:
        if self.metering:
            self.events_published.add(1, {names.ATTR_EVENT_NAME: event_name})

    def event_delivered(self, event_name: str) -> None:
        if self.metering:
            self.events_delivered.add(1, {names.ATTR_EVENT_NAME: event_name})

    def delivery_span(self, event: Event) -> Span | None:
        """The span of one event's delivery: a child of its ``publish_event`` span."""
        if not self.tracing:
            return None
        span = self.tracer.start_span(
            names.SPAN_DELIVER_EVENT, context=context_from(event.trace_context),
            kind=SpanKind.CONSUMER,
        )
        if span.is_recording():
            span.set_attributes({
                names.ATTR_EVENT_NAME: event.event_name,
                names.ATTR_EVENT_KEY: event.event_key,
                names.ATTR_EVENT_ID: event.id,
            })
        return span

    def index_backlog_is(self, size: int) -> None:
        """The host's last look at the index outbox found ``size`` writes not yet indexed."""
        if self.metering and size != self._backlog:
            self.index_backlog.add(size - self._backlog)
            self._backlog = size
