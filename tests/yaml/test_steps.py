"""YAML workflows run on a host: hooks (``ensure`` on both paths), ``when``, ``parallel``,
outputs between steps, and ``type: workflow`` steps with a child that completes or fails."""

from __future__ import annotations

from typing import Any

import pytest

from wfe import PointerStatus, WorkflowHost, WorkflowInstance, WorkflowStatus
from wfe.yaml import load_pipelines


async def run(text: str, data: dict[str, Any] | None = None, workflow: str = "main") -> tuple[WorkflowInstance, WorkflowHost]:
    pipelines = load_pipelines(text)
    async with WorkflowHost() as host:
        for p in pipelines:
            host.register(p.definition)
        wid = await host.start_workflow(workflow, data or {})
        instance = await host.wait_for_workflow(wid, timeout=30)
        return instance, host


def ran(instance: WorkflowInstance) -> dict[str, PointerStatus]:
    return {p.step_name: p.status for p in instance.execution_pointers if p.step_name}


HOOKS = """
workflow:
  id: main
  inputs: {code: integer}
  steps:
    - name: work
      config: {run: 'echo working; exit $CODE'}
      on_success: {name: celebrate, config: {run: 'echo "##wfe[output celebrated=true]"'}}
      on_failure:
        - {name: undo, config: {run: 'echo "##wfe[output undone=true]"'}}
      ensure: {name: cleanup, config: {run: 'echo "##wfe[output cleaned=true]"'}}
    - name: next
      config: {run: 'echo "##wfe[output reached=true]"'}
"""


async def test_ensure_runs_once_after_success() -> None:
    instance, _ = await run(HOOKS, {"code": 0})
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"code": 0, "celebrated": True, "cleaned": True, "reached": True}
    assert [p.step_name for p in instance.execution_pointers].count("cleanup") == 1


async def test_ensure_and_on_failure_run_after_failure_and_the_workflow_fails() -> None:
    instance, _ = await run(HOOKS, {"code": 3})
    # The sibling skipped ensure here; ours runs it, then the step's failure ends the workflow.
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.data == {"code": 3, "undone": True, "cleaned": True}
    steps = ran(instance)
    assert steps["work"] is PointerStatus.COMPENSATED
    assert "celebrate" not in steps and "next" not in steps


async def test_compensate_runs_the_hooks_and_goes_on() -> None:
    text = HOOKS.replace("    - name: next", "      error_behavior: compensate\n    - name: next")
    instance, _ = await run(text, {"code": 1})
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"code": 1, "undone": True, "cleaned": True, "reached": True}
    assert "celebrate" not in ran(instance)


async def test_suspend_after_the_hooks() -> None:
    text = HOOKS.replace("    - name: next", "      error_behavior: suspend\n    - name: next")
    instance, _ = await run(text, {"code": 1})
    assert instance.status is WorkflowStatus.SUSPENDED
    assert instance.data == {"code": 1, "undone": True, "cleaned": True}


async def test_a_failing_step_without_hooks_terminates_by_default() -> None:
    instance, _ = await run(
        "workflow:\n  id: main\n  steps:\n    - {name: a, config: {run: 'exit 2'}}\n"
        "    - {name: b, config: {run: 'echo b'}}\n"
    )
    assert instance.status is WorkflowStatus.TERMINATED
    assert "b" not in ran(instance)


async def test_when_parallel_and_outputs_between_steps() -> None:
    text = """
workflow:
  id: main
  inputs: {env: string}
  steps:
    - name: version
      config: {run: 'echo "##wfe[output version=3]"'}
      outputs: [version]
    - name: fan
      parallel:
        - name: left
          config: {run: 'echo "##wfe[output left=$VERSION]"'}
          outputs: [left]
        - name: right
          when: {field: inputs.env, equals: prod}
          config: {run: 'echo "##wfe[output right=1]"'}
    - name: new
      when:
        all:
          - {field: outputs.version, gte: 3}
          - not: {field: left, is_null: true}
          - any: [{field: env, contains: te}, {field: env, equals: x}]
          - none: [{field: version, lt: 2}]
      config: {run: 'echo "##wfe[output new=yes]"'}
    - name: old
      when: {field: outputs.version, lt: 3}
      config: {run: 'echo "##wfe[output old=yes]"'}
"""
    instance, _ = await run(text, {"env": "test"})
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.data == {"env": "test", "version": 3, "left": 3, "new": "yes"}
    assert "right" not in ran(instance) and "old" not in ran(instance)


CHILD = """
workflows:
  - id: child
    inputs: {who: string}
    outputs: [greeting]
    steps:
      - name: greet
        config: {run: 'test "$WHO" != fail && echo "##wfe[output greeting=hello $WHO]"'}
  - id: main
    inputs: {name: string}
    steps:
      - name: call
        type: workflow
        config: {workflow: child, version: 1}
        inputs: {who: name}
        outputs: {message: greeting}
      - name: call-all
        type: workflow
        config: {workflow: child}
        inputs: {who: name}
"""


async def test_a_workflow_step_maps_inputs_and_outputs() -> None:
    instance, host = await run(CHILD, {"name": "ada"})
    assert instance.status is WorkflowStatus.COMPLETE
    # Mapped outputs under their new name; unmapped: the child's declared outputs.
    assert instance.data == {"name": "ada", "message": "hello ada", "greeting": "hello ada"}


async def test_a_failing_child_fails_the_step() -> None:
    instance, _ = await run(CHILD, {"name": "fail"})
    assert instance.status is WorkflowStatus.TERMINATED
    assert ran(instance)["call"] is PointerStatus.FAILED
    assert "message" not in instance.data


@pytest.mark.parametrize("field", ["outputs.version", ".outputs.version", "version"])
def test_when_fields_may_name_outputs_with_or_without_prefix(field: str) -> None:
    text = (
        "workflow:\n  id: main\n  steps:\n"
        "    - {name: a, config: {run: x}, outputs: [version]}\n"
        f"    - {{name: b, config: {{run: x}}, when: {{field: '{field}', is_not_null: true}}}}\n"
    )
    assert load_pipelines(text)[0].definition.id == "main"
