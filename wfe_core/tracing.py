"""OpenTelemetry names wfe uses. The engine depends on the OpenTelemetry API only; pass a
``tracer_provider`` / ``meter_provider`` to ``WorkflowHost`` to export, or configure globals.
"""

from __future__ import annotations

__all__ = [
    "ATTR_DEFINITION_ID",
    "ATTR_POINTER_ID",
    "ATTR_STEP_ID",
    "ATTR_STEP_NAME",
    "ATTR_VERSION",
    "ATTR_WORKFLOW_ID",
    "INSTRUMENTATION_NAME",
    "METRIC_STEPS",
    "SPAN_PASS",
    "SPAN_PUBLISH_EVENT",
    "SPAN_START_WORKFLOW",
    "SPAN_STEP",
]

INSTRUMENTATION_NAME = "wfe"

SPAN_START_WORKFLOW = "wfe.start_workflow"
SPAN_PUBLISH_EVENT = "wfe.publish_event"
SPAN_PASS = "wfe.pass"
SPAN_STEP = "wfe.step"

ATTR_WORKFLOW_ID = "wfe.workflow.id"
ATTR_DEFINITION_ID = "wfe.workflow.definition_id"
ATTR_VERSION = "wfe.workflow.version"
ATTR_STEP_ID = "wfe.step.id"
ATTR_STEP_NAME = "wfe.step.name"
ATTR_POINTER_ID = "wfe.pointer.id"

METRIC_STEPS = "wfe.steps"
