"""Checked YAML workflows (:mod:`wfe.yaml._spec`) made into definitions with the public builder.

Called by :func:`wfe.yaml.load`. Every function the definition holds is a small attrs object
rather than a lambda, so that its configuration is part of the definition's fingerprint (a
changed condition is a different definition, not a silent re-registration).

How the step hooks are built:

- ``on_success``: steps that run after the step has succeeded, then the next step.
- ``on_failure`` and ``ensure``: the step's compensation is a sequence of its ``on_failure``
  steps, then its ``ensure`` steps, then (unless the step's error behaviour is ``compensate``)
  a :class:`StepFailed` step that fails again with the step's own behaviour (terminate by
  default), so the workflow still ends as failed, but only after the cleanup ran.
- On the success path, an ``if`` that looks at how its predecessor ended (the step, or its
  compensation) runs ``on_success`` and then ``ensure``; after a compensated failure it runs
  nothing and the workflow goes on with the next step. So ``ensure`` runs exactly once on
  either path (the Rust sibling never ran it on the failure path).
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import json
import time
from collections.abc import Mapping
from typing import Any

import attrs

from wfe_core import (
    ErrorBehavior,
    PointerStatus,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowDefinition,
)

from ._conditions import Condition, evaluate, value_at
from ._spec import StepSpec, WorkflowSpec

__all__ = ["StepFailed", "StepFailedError", "build_workflow", "initial_data"]

#: A failing step with no error behaviour of its own (and none for its workflow) ends the
#: workflow as terminated: a pipeline that failed has failed (resume is for suspend).
DEFAULT_BEHAVIOR = ErrorBehavior.terminate()


class StepFailedError(Exception):
    """A YAML step failed; its ``on_failure`` and ``ensure`` steps have run."""


class StepFailed(StepBody):
    """Ends the compensation of a failed step by failing again, with the step's behaviour."""

    step_name: str = ""

    def run(self, ctx: StepExecutionContext) -> None:
        raise StepFailedError(
            f"step {self.step_name!r} failed (its on_failure and ensure steps have run); "
            f"see its error above (`wfe errors {ctx.workflow.id}`)"
        )


@attrs.frozen(eq=False)  # its mappings are not hashable; the fingerprint uses its repr
class When:
    """The ``when:`` of a step, as the condition of its ``if``."""

    condition: Condition

    def __call__(self, data: Any) -> bool:
        return evaluate(self.condition, data)


@attrs.frozen(eq=False)  # its mappings are not hashable; the fingerprint uses its repr
class Succeeded:
    """Whether the step before this ``if`` (``step_id``) completed rather than failed."""

    step_id: int

    def __call__(self, data: Any, ctx: StepExecutionContext) -> bool:
        before = ctx.workflow.execution_pointers.get(ctx.pointer.predecessor_id or "")
        return (
            before is not None
            and before.step_id == self.step_id
            and before.status is PointerStatus.COMPLETE
        )


@attrs.frozen(eq=False)  # its mappings are not hashable; the fingerprint uses its repr
class StepConfig:
    """A shell step's config, with ``inputs`` read from the data as environment variables."""

    config: Mapping[str, Any]
    inputs: Mapping[str, str]

    def __call__(self, data: Any) -> dict[str, Any]:
        config = copy.deepcopy(dict(self.config))
        env = dict(config.get("env") or {})
        for name, path in self.inputs.items():
            value = value_at(data, path)
            env[name] = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
        config["env"] = env
        return config


@attrs.frozen(eq=False)  # its mappings are not hashable; the fingerprint uses its repr
class ChildData:
    """A child workflow's data: the mapped inputs, or a copy of the parent's data."""

    inputs: Mapping[str, str]
    defaults: Mapping[str, Any]

    def __call__(self, data: Any) -> dict[str, Any]:
        if not self.inputs:
            return {**self.defaults, **copy.deepcopy(dict(data or {}))}
        return {**self.defaults, **{name: value_at(data, path) for name, path in self.inputs.items()}}


@attrs.frozen(eq=False)  # its mappings are not hashable; the fingerprint uses its repr
class ChildOutputs:
    """Copies a finished child's outputs into the parent's data (``data key: child path``)."""

    outputs: Mapping[str, str]

    def __call__(self, step: Any, data: Any) -> None:
        result = step.result if isinstance(step.result, Mapping) else {}
        for key, path in self.outputs.items():
            data[key] = value_at(result, path)


def initial_data(spec: WorkflowSpec) -> dict[str, Any]:
    """The defaults of the workflow's optional inputs."""
    return {name: copy.deepcopy(i.default) for name, i in spec.inputs.items() if i.default is not None}


#: Where a YAML shell or Deno step records how many seconds it ran (the engine's pointer
#: times are those of the pass); ``wfe run`` shows it.
SECONDS_KEY = "seconds"


class _Timed(StepBody):
    """Records the seconds the executor's ``run`` took on the step's pointer."""

    async def run(self, ctx: StepExecutionContext) -> Any:
        started = time.monotonic()
        try:
            result = super().run(ctx)
            return await result if inspect.isawaitable(result) else result
        finally:
            ctx.pointer.extension_attributes[SECONDS_KEY] = round(time.monotonic() - started, 3)


@functools.cache
def _executor(kind: str) -> type[StepBody]:
    """The step class behind ``type: shell`` or ``type: deno``: the executor, timed."""
    name = "ShellStep" if kind == "shell" else "DenoStep"
    base: type[StepBody] = getattr(importlib.import_module(f"wfe.yaml._{kind}"), name)
    return type(f"Timed{name}", (_Timed, base), {"__module__": __name__})


class _Builder:
    def __init__(self, spec: WorkflowSpec, known: Mapping[tuple[str, int], WorkflowSpec]) -> None:
        self.spec = spec
        self.known = known

    def chain(self, cursor: Any, steps: list[StepSpec]) -> Any:
        for step in steps:
            cursor = self.step(cursor, step)
        return cursor

    def step(self, cursor: Any, spec: StepSpec) -> Any:
        if spec.when is None:
            return self.guarded(cursor, spec)
        return cursor.if_do(When(spec.when), lambda b: self.guarded(b, spec)).name(f"when {spec.name}")

    def guarded(self, cursor: Any, spec: StepSpec) -> Any:
        main = self.main(cursor, spec).name(spec.name)
        behavior = spec.error_behavior
        cleanup = [*spec.on_failure, *spec.ensure]
        if not cleanup:
            if behavior is not None:
                main.on_error(behavior)
            return self.chain(main, spec.on_success)
        final = behavior or self.spec.error_behavior or DEFAULT_BEHAVIOR

        def compensation(b: Any) -> None:
            last = self.chain(b, cleanup)
            if final.kind is not ErrorBehavior.Kind.COMPENSATE:
                last.then(StepFailed).name(f"{spec.name} failed").input(step_name=spec.name).on_error(final)

        main.compensate_with_sequence(compensation).on_error(ErrorBehavior.compensate())
        after = [*spec.on_success, *spec.ensure]
        if not after:
            return main
        return main.if_do(Succeeded(main.step.id), lambda b: self.chain(b, after)).name(
            f"after {spec.name}"
        )

    def main(self, cursor: Any, spec: StepSpec) -> Any:
        if spec.type == "parallel":
            def branches(p: Any) -> None:
                for child in spec.parallel:
                    p.branch(lambda b, child=child: self.step(b, child))
            return cursor.parallel(branches)
        if spec.type == "workflow":
            child = self._child(spec)
            defaults = initial_data(child) if child else {}
            outputs = spec.outputs or ({o: o for o in child.outputs} if child else {})
            started = cursor.sub_workflow(
                spec.config["workflow"], data=ChildData(spec.inputs, defaults),
                version=spec.config.get("version"),
            )
            return started.output(ChildOutputs(outputs)) if outputs else started
        body = _executor(spec.type)
        config: Any = dict(spec.config)
        if spec.inputs:
            config = StepConfig(config, spec.inputs)
        added = cursor.then(body) if hasattr(cursor, "step") else cursor.start_with(body)
        return added.input(config=config)

    def _child(self, spec: StepSpec) -> WorkflowSpec | None:
        wanted = spec.config.get("version")
        found = [w for (wid, v), w in self.known.items()
                 if wid == spec.config.get("workflow") and (wanted is None or v == wanted)]
        return max(found, key=lambda w: w.version) if found else None


def build_workflow(
    spec: WorkflowSpec, known: Mapping[tuple[str, int], WorkflowSpec]
) -> WorkflowDefinition:
    """The definition of a checked workflow (``known``: every workflow of the load, by id and version).

    Raises:
        DefinitionError: what the builder found wrong (the checks should have found it first).
    """
    builder: WorkflowBuilder[dict[str, Any]] = WorkflowBuilder(
        dict,
        default_error_behavior=spec.error_behavior or DEFAULT_BEHAVIOR,
        description=spec.description,
    )
    cursor = _Builder(spec, known).chain(builder, spec.steps)
    return cursor.build(spec.id, spec.version)  # type: ignore[no-any-return]
