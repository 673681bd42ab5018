"""The repository's own pipeline, ``workflows.yaml``: it validates, has the shape the project
relies on, and its preflight step runs (the whole pipeline runs the whole suite, so no test
runs it)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from wfe._cli import main
from wfe.yaml import load_pipelines, validate

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "workflows.yaml"


def test_it_validates_and_has_its_parts() -> None:
    assert validate(PIPELINE) == []
    [pipeline] = load_pipelines(PIPELINE)
    steps = {s.name: s for s in pipeline.spec.all_steps()}
    assert [s.name for s in pipeline.spec.steps] == [
        "preflight", "services", "static", "tests", "benchmark-smoke", "report",
    ]
    assert [s.name for s in steps["tests"].parallel] == ["tests-frontends", "tests-providers", "tests-suites"]
    assert [s.name for s in steps["static"].parallel] == ["ruff", "mypy"]
    assert "benchmarks.run --smoke" in steps["benchmark-smoke"].config["run"]
    # The anchors' defaults reach each step; a step's own key wins over the merged one.
    assert steps["ruff"].config["shell"] == "bash -eo pipefail"
    assert steps["preflight"].config["timeout"] == 60.0
    assert steps["mypy"].config["timeout"] == 1200.0


def test_its_preflight_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    whole = yaml.safe_load(PIPELINE.read_text())
    preflight = {"workflow": {**whole["workflow"], "steps": whole["workflow"]["steps"][:1], "outputs": []}}
    path = tmp_path / "preflight.yaml"
    path.write_text(yaml.safe_dump(preflight))
    monkeypatch.chdir(ROOT)
    python = os.path.relpath(Path(os.sys.executable), ROOT)  # type: ignore[attr-defined]
    assert main(["run", "--json", str(path), "--input", f"interpreter={python}"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "complete"
    assert document["data"]["py_version"].count(".") == 2
    assert isinstance(document["data"]["have_deno"], bool)
    assert any(line.startswith("[stdout] optional ") for line in document["steps"][0]["output"])
