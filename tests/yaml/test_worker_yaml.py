"""``wfe worker`` takes a YAML workflow file as well as ``module:attribute``."""

from __future__ import annotations

from pathlib import Path

import pytest

from wfe._cli import main
from wfe._worker import load_definitions
from wfe.errors import DefinitionError


def test_a_yaml_file_gives_its_definitions(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yml"
    path.write_text(
        "workflows:\n"
        "  - {id: a, steps: [{name: s, config: {run: 'true'}}]}\n"
        "  - {id: b, version: 2, steps: [{name: t, type: workflow, config: {workflow: a}}]}\n"
    )
    assert [(d.id, d.version) for d in load_definitions(str(path))] == [("a", 1), ("b", 2)]


def test_a_bad_yaml_file_stops_the_worker_before_it_opens_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text("workflow:\n  id: a\n  steps: [{name: s, type: nope}]\n")
    with pytest.raises(DefinitionError, match="pipelines.yaml:3:27: unknown step type 'nope'"):
        load_definitions(str(path))
    db = tmp_path / "never.db"
    assert main(["worker", str(path), "--db", f"sqlite:///{db}"]) == 2
    assert "unknown step type 'nope'" in capsys.readouterr().err
    assert not db.exists()
