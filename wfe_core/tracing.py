"""OpenTelemetry names wfe uses: spans, attributes, metrics, and the values they take.

The engine depends on the OpenTelemetry API only. Pass a ``tracer_provider`` /
``meter_provider`` to ``WorkflowHost`` to export, or configure the global providers before the
host is made; with neither, nothing is recorded and the engine skips the work of recording.
``wfe_core._telemetry`` uses these names; users filter and query by them.

Span tree of one workflow::

    wfe.start_workflow                  the caller's span (kind PRODUCER)
    ├── wfe.pass                        one per execution pass, on whichever host ran it
    │   ├── wfe.step                    one per step body run in the pass (parallel ones overlap)
    │   └── wfe.step
    ├── wfe.pass
    │   └── wfe.step  ── link ──▶ wfe.publish_event   (a wait that received an event)
    └── ...

**One workflow is one trace.** The context of the ``wfe.start_workflow`` span (W3C
``traceparent``) is stored with the instance, and every later pass starts as a child of that
stored context, on any host, after any restart. Why a child and not a link: a trace is what a
tracing backend shows as one thing, and what an operator asks about is the workflow, so the
workflow's whole history — every pass, retry, wait and sub-workflow — opens as one tree, found
by the start's trace id. Backends accept spans that arrive long after their parent (a pass
after a week's delay lands in the trace it belongs to), and the sampling decision of the start
holds for every pass (a parent-based sampler samples the whole workflow or none of it). The
cost, a long-lived workflow makes a long trace, is the point. Links are used where the cause
is *another* trace: a wait's step span links to the ``wfe.publish_event`` span of the event it
received, and the event's delivery span (``wfe.deliver_event``) is a child of that publish
span, so the publisher's trace shows where its event went. A sub-workflow started by a step
stores that step's context, so it joins its parent's trace.

Metric attributes are low-cardinality by design: the definition id, the step name, a status
or outcome, the event name — never a workflow id, pointer id or event key (those are span
attributes only).
"""

from __future__ import annotations

__all__ = [
    "ATTR_ATTEMPT",
    "ATTR_CHANGED",
    "ATTR_DEFINITION_ID",
    "ATTR_EVENT_ID",
    "ATTR_EVENT_KEY",
    "ATTR_EVENT_NAME",
    "ATTR_OUTCOME",
    "ATTR_PASS_STEPS",
    "ATTR_POINTER_ID",
    "ATTR_STATUS",
    "ATTR_STEP_ID",
    "ATTR_STEP_NAME",
    "ATTR_VERSION",
    "ATTR_WORKFLOW_ID",
    "INSTRUMENTATION_NAME",
    "METRIC_EVENTS_DELIVERED",
    "METRIC_EVENTS_PUBLISHED",
    "METRIC_INDEX_BACKLOG",
    "METRIC_QUEUE_LATENCY",
    "METRIC_RETRIES",
    "METRIC_STEPS",
    "METRIC_STEPS_FAILED",
    "METRIC_STEP_DURATION",
    "METRIC_WORKFLOWS_COMPLETED",
    "METRIC_WORKFLOWS_FAILED",
    "METRIC_WORKFLOWS_IN_FLIGHT",
    "METRIC_WORKFLOWS_STARTED",
    "METRIC_WORKFLOWS_SUSPENDED",
    "METRIC_WORKFLOWS_TERMINATED",
    "OUTCOME_BRANCHED",
    "OUTCOME_FAILED",
    "OUTCOME_NEXT",
    "OUTCOME_RUNNING",
    "OUTCOME_SLEEPING",
    "OUTCOME_WAITING",
    "SPAN_DELIVER_EVENT",
    "SPAN_PASS",
    "SPAN_PUBLISH_EVENT",
    "SPAN_RESUME_WORKFLOW",
    "SPAN_START_WORKFLOW",
    "SPAN_STEP",
    "SPAN_SUSPEND_WORKFLOW",
    "SPAN_TERMINATE_WORKFLOW",
]

INSTRUMENTATION_NAME = "wfe"

# -- span names (constants: never a workflow id or step name in a span name) -----------------

SPAN_START_WORKFLOW = "wfe.start_workflow"
SPAN_PUBLISH_EVENT = "wfe.publish_event"
SPAN_DELIVER_EVENT = "wfe.deliver_event"
SPAN_PASS = "wfe.pass"
SPAN_STEP = "wfe.step"
SPAN_SUSPEND_WORKFLOW = "wfe.suspend_workflow"
SPAN_RESUME_WORKFLOW = "wfe.resume_workflow"
SPAN_TERMINATE_WORKFLOW = "wfe.terminate_workflow"

# -- attributes ------------------------------------------------------------------------------

ATTR_WORKFLOW_ID = "wfe.workflow.id"
ATTR_DEFINITION_ID = "wfe.workflow.definition_id"
ATTR_VERSION = "wfe.workflow.version"
#: The workflow's status after a pass or a control call (a ``WorkflowStatus`` value).
ATTR_STATUS = "wfe.workflow.status"
ATTR_STEP_ID = "wfe.step.id"
ATTR_STEP_NAME = "wfe.step.name"
ATTR_POINTER_ID = "wfe.pointer.id"
#: 1 for a step's first run, 2 for its first retry, ...
ATTR_ATTEMPT = "wfe.step.attempt"
#: What a step run led to: one of the ``OUTCOME_*`` values.
ATTR_OUTCOME = "wfe.step.outcome"
#: Step bodies run in a pass.
ATTR_PASS_STEPS = "wfe.pass.steps"
ATTR_EVENT_NAME = "wfe.event.name"
ATTR_EVENT_KEY = "wfe.event.key"
ATTR_EVENT_ID = "wfe.event.id"
#: Whether a control call (suspend, resume, terminate) changed anything.
ATTR_CHANGED = "wfe.control.changed"

# -- step outcomes ---------------------------------------------------------------------------

OUTCOME_NEXT = "next"  #: the step proceeded to what follows it
OUTCOME_SLEEPING = "sleeping"  #: the step asked to run again later
OUTCOME_WAITING = "waiting"  #: the step waits for an event
OUTCOME_BRANCHED = "branched"  #: a container started its body
OUTCOME_RUNNING = "running"  #: the step persisted data and runs again in a later pass
OUTCOME_FAILED = "failed"  #: the step raised (or left data that cannot be stored)

# -- metrics ---------------------------------------------------------------------------------

#: Counter of workflows started; attribute: definition id.
METRIC_WORKFLOWS_STARTED = "wfe.workflows.started"
#: Counters of workflows that reached a status, by a pass or a control call; definition id.
METRIC_WORKFLOWS_COMPLETED = "wfe.workflows.completed"
METRIC_WORKFLOWS_TERMINATED = "wfe.workflows.terminated"
METRIC_WORKFLOWS_SUSPENDED = "wfe.workflows.suspended"
#: Counter of workflows a step error stopped (its error behaviour suspended or terminated the
#: workflow, or its retries ran out); attributes: definition id, the status it stopped in.
METRIC_WORKFLOWS_FAILED = "wfe.workflows.failed"
#: UpDownCounter of workflows being run by a host now.
METRIC_WORKFLOWS_IN_FLIGHT = "wfe.workflows.in_flight"
#: Counter of step bodies run; attributes: definition id, step name, outcome.
METRIC_STEPS = "wfe.steps"
#: Counter of step runs that failed; attributes: definition id, step name.
METRIC_STEPS_FAILED = "wfe.steps.failed"
#: Counter of retries scheduled; attributes: definition id, step name.
METRIC_RETRIES = "wfe.steps.retries"
#: Histogram of step body run time, seconds; attributes: definition id, step name, outcome.
METRIC_STEP_DURATION = "wfe.step.duration"
#: Histogram of the time from a workflow being due to its pass starting, seconds: the queue
#: latency (start to first pass, timer or event to the pass it wakes); definition id.
METRIC_QUEUE_LATENCY = "wfe.workflow.queue_latency"
#: Counters of events published / delivered into a waiting workflow; attribute: event name.
METRIC_EVENTS_PUBLISHED = "wfe.events.published"
METRIC_EVENTS_DELIVERED = "wfe.events.delivered"
#: UpDownCounter of workflow writes a host last saw waiting in the store's index outbox and
#: not yet in the search index.
METRIC_INDEX_BACKLOG = "wfe.index.backlog"
