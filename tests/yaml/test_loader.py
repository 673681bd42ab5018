"""The YAML loader and its checks: the format's keys, variables, anchors, and every problem
reported at once with its file, line and column (nothing registered when there is one)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from wfe import ErrorBehavior
from wfe.errors import DefinitionError
from wfe.yaml import YamlError, load, load_file, load_pipelines, parse_duration, validate


def messages(text: str, **kwargs: object) -> list[str]:
    return [str(p) for p in validate(text, **kwargs)]


def test_one_workflow_with_defaults_and_anchors(tmp_path: Path) -> None:
    path = tmp_path / "ci.yaml"
    path.write_text(
        "_templates:\n"
        "  quick: &quick {shell: sh, timeout: 1m30s}\n"
        "workflow:\n"
        "  id: ci\n"
        "  version: 2\n"
        "  description: checks\n"
        "  inputs:\n    branch: string\n    depth: integer?\n"
        "  steps:\n"
        "    - name: lint\n"
        "      config: {<<: *quick, run: echo lint, env: {N: 3, FLAG: true}}\n"
    )
    [pipeline] = load_pipelines(path)
    definition = pipeline.definition
    assert (definition.id, definition.version, definition.description) == ("ci", 2, "checks")
    [step] = [s for s in definition.steps if s.name == "lint"]
    config = dict(step.inputs)["config"]
    assert config == {"shell": "sh", "timeout": 90.0, "run": "echo lint",
                      "env": {"N": "3", "FLAG": "true"}}
    assert pipeline.spec.inputs["depth"].required is False
    assert load_file(path)[0].id == "ci"


def test_variables_from_config_json_file_and_keywords(tmp_path: Path) -> None:
    text = (
        "workflow:\n  id: ((name))\n  steps:\n"
        "    - name: s\n      config: {run: 'deploy ${{ target.host }} ((target.port))', timeout: ((limit))}\n"
    )
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"name": "deploy", "target": {"host": "h1", "port": 8080}}))
    [definition] = load(text, config=str(config), limit=5)
    [step] = [s for s in definition.steps if s.name == "s"]
    assert dict(step.inputs)["config"]["run"] == "deploy h1 8080"
    assert dict(step.inputs)["config"]["timeout"] == 5.0  # a whole reference keeps its type
    [definition] = load(text, config='{"name": "x", "target": {"host": "h", "port": 1}, "limit": 1}')
    assert definition.id == "x"


def test_an_unresolved_variable_is_named() -> None:
    text = "workflow:\n  id: a\n  steps:\n    - name: s\n      config: {run: 'echo ((who.name))'}\n"
    assert messages(text) == [
        "<text>:5:21: variable 'who.name' is not set; give it in the config (--config JSON, "
        "a config file, or a keyword argument of load)"
    ]
    with pytest.raises(DefinitionError, match="who.name"):
        load(text)


def test_every_problem_at_once_with_its_place() -> None:
    text = """\
workflows:
  - id: a
    steps:
      - name: build
        config: {}
      - name: build
        type: docker
      - name: wait
        config: {run: x, timeout: soon}
        when: {field: outputs.missing, equals: 1}
      - name: js
        type: deno
        config: {script: x, permissions: {net: yes}}
      - name: call
        type: workflow
        config: {workflow: b}
  - id: b
    steps:
      - name: back
        type: workflow
        config: {workflow: a}
      - name: nowhere
        type: workflow
        config: {workflow: ghost}
      - name: x
        config: {run: x}
        error_behavior: {type: retry, interval: 1s, backoff: 0.5}
"""
    found = messages(text)
    assert found == [
        "<text>:5:17: a shell step needs exactly one of `config.run` (inline) or `config.file` (a path)",
        "<text>:6:15: step name 'build' is already used (line 4); names are unique in a workflow, "
        "hooks and parallel steps included",
        "<text>:7:15: unknown step type 'docker'; use one of shell, deno, workflow",
        "<text>:9:35: 'soon' is not a duration; write a number of seconds or units such as "
        '"250ms", "30s", "5m", "1h30m"',
        "<text>:10:15: `when` field 'outputs.missing' names nothing: declare 'missing' in the "
        "workflow's inputs or in a step's outputs",
        "<text>:13:48: `net` is a list of what to allow, e.g. [\"api.example.com\"]",
        "<text>:21:28: step 'back' closes a cycle of workflow steps (a -> b -> a): a workflow "
        "would start itself without end",
        "<text>:24:28: step 'nowhere' starts workflow 'ghost', which is not among the workflows "
        "loaded; define it in the file (or load its file too)",
        "<text>:27:25: the backoff multiplier must be a finite number >= 1.0, not 0.5",
    ]
    with pytest.raises(YamlError) as caught:
        load(text)
    assert len(caught.value.yaml_problems) == len(found)
    assert isinstance(caught.value, DefinitionError)


def test_structure_problems() -> None:
    assert messages("- a\n- b\n") == [
        "<text>:1:1: the file must be a mapping with a `workflow:` or `workflows:` key"
    ]
    assert messages("workflow: {id: a, steps: [}\n")[0].startswith("<text>:1:")
    assert messages("other: 1\n") == ["<text>:1:1: the file has no `workflow:` or `workflows:` key"]
    found = messages(
        "workflow:\n  id: a\n  colour: red\n  steps:\n"
        "    - {name: p, parallel: [], config: {}}\n"
        "    - {name: h, config: {run: x}, error_behavior: compensate}\n"
        "    - {name: r, config: {run: x}, error_behavior: {type: retry}, ensure: {name: e, config: {run: x}}}\n"
        "    - {name: w, when: {field: x, equals: 1, gt: 2}, config: {run: x}}\n"
        "    - {name: n, when: {all: [{field: x, is_null: false}]}, config: {run: x}}\n"
    )
    assert any("unknown key 'colour' in a workflow" in m for m in found)
    assert any("a `parallel` step holds steps and takes no `config`" in m for m in found)
    assert any("`parallel` takes a non-empty list of steps" in m for m in found)
    assert any("compensate needs `on_failure`" in m for m in found)
    assert any("retry cannot be combined with on_failure or ensure" in m for m in found)
    assert any("exactly one operator" in m for m in found)
    assert any("`is_null` takes true" in m for m in found)
    assert all(m.startswith("<text>:") and m.split(":")[1] != "0" for m in found)


def test_duplicate_keys_and_workflow_ids_are_problems() -> None:
    found = messages(
        "workflows:\n  - id: a\n    steps: [{name: s, config: {run: x}}]\n"
        "  - id: a\n    id: a\n    steps: [{name: s, config: {run: x}}]\n"
    )
    assert "<text>:5:5: key 'id' is given twice in this mapping; keep one" in found
    assert "<text>:5:9: workflow 'a' version 1 is defined twice" in found


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    [problem] = validate(tmp_path / "nope.yaml")
    assert "cannot read the file" in problem.message
    with pytest.raises(YamlError, match="check the path"):
        load(str(tmp_path / "nope.yaml"))


def test_error_behaviors_map_to_the_engine() -> None:
    text = (
        "workflow:\n  id: a\n  error_behavior: suspend\n  steps:\n"
        "    - name: s\n      config: {run: x}\n"
        "      error_behavior: {type: retry, interval: 250ms, backoff: 2, max_retries: 4, max_interval: 1m}\n"
        "    - name: t\n      config: {run: x}\n      error_behavior: terminate\n"
    )
    [definition] = load(text)
    by_name = {s.name: s for s in definition.steps}
    assert by_name["s"].error_behavior == ErrorBehavior.retry(
        timedelta(milliseconds=250), max_retries=4, backoff=2, max_interval=timedelta(minutes=1)
    )
    assert by_name["t"].error_behavior == ErrorBehavior.terminate()
    assert definition.default_error_behavior == ErrorBehavior.suspend()


@pytest.mark.parametrize(("text", "seconds"), [
    ("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h30m", 5400), (2, 2), (1.5, 1.5), ("1d", 86400),
])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1x", "-1s", True, -2, [1]])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_config_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(YamlError, match="must be a mapping"):
        load("workflow:\n  id: a\n  steps: [{name: s, config: {run: x}}]\n", config="[1, 2]")
