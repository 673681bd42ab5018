"""The README's YAML example runs as the README says, and the JSON Schema that ``wfe schema``
prints accepts the example files and refuses what the format refuses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wfe._cli import main
from wfe.yaml import json_schema

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## YAML workflows"):]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match is not None, "the README's YAML section has no yaml block"
    return match.group(1)


def test_the_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "release.yaml"
    path.write_text(readme_example())
    assert main(["run", "--json", str(path), "--workflow", "release",
                 "--config", '{"channel": "stable"}', "--input", "version=1.2"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "complete"
    assert document["outputs"] == {"artifact": "app-1.2.tar", "published": True}
    steps = {s["step"]: s for s in document["steps"]}
    assert steps["clean"]["output"] == ["[stdout] cleaned up"]
    assert steps["unpublish"]["status"] == "skipped"
    assert main(["run", "--json", str(path), "--workflow", "release",
                 "--config", '{"channel": "beta"}', "--input", "version=1.2"]) == 0
    assert "published" not in json.loads(capsys.readouterr().out)["data"]


def _documents() -> list[Any]:
    texts = [readme_example(), (ROOT / "workflows.yaml").read_text()]
    from tests.yaml.test_commands import CRASH, PIPELINE
    from tests.yaml.test_steps import CHILD, HOOKS
    texts += [CRASH, PIPELINE, CHILD, HOOKS]
    return [yaml.safe_load(text.replace("((channel))", "stable")) for text in texts]


def test_the_schema_accepts_the_examples() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    jsonschema.Draft202012Validator.check_schema(json_schema())
    for document in _documents():
        errors = [e.message for e in validator.iter_errors(document)]
        assert errors == [], errors


@pytest.mark.parametrize("document", [
    {"workflow": {"id": "a", "steps": [{"name": "s"}]}},                                  # no run
    {"workflow": {"id": "a", "steps": [{"name": "s", "type": "rust", "config": {}}]}},   # type
    {"workflow": {"id": "a", "steps": [{"name": "s", "config": {"run": "x", "timeout": "soon"}}]}},
    {"workflow": {"id": "a", "steps": [{"name": "s", "config": {"run": "x"},
                                        "when": {"field": "x", "equals": 1, "gt": 2}}]}},
    {"workflow": {"id": "a", "steps": []}},
    {"workflow": {"id": "a", "colour": "red", "steps": [{"name": "s", "config": {"run": "x"}}]}},
    {"workflow": {"id": "a", "steps": [{"name": "s", "type": "deno",
                                        "config": {"script": "x", "permissions": {"net": True}}}]}},
])
def test_the_schema_refuses_what_the_format_refuses(document: dict[str, Any]) -> None:
    assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors(document))
