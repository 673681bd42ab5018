"""YAML workflows: files whose steps run shell commands, Deno scripts or other workflows.

::

    from wfe.yaml import load
    for definition in load("pipelines.yaml", config={"env": "prod"}):
        host.register(definition)

:func:`load` reads a file (or text), resolves ``((var))`` / ``${{ var }}`` from the config,
checks everything and builds one definition per workflow; any problem raises one
:class:`YamlError` listing every problem with its file, line and column, and nothing is
returned. :func:`validate` returns the problems instead; :func:`json_schema` is the format's
JSON Schema (``wfe schema``). The ``wfe validate`` and ``wfe run`` commands use these.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from wfe_core import WorkflowDefinition

from ._build import StepFailedError, build_workflow, initial_data
from ._durations import parse_duration
from ._loader import read_config, read_document
from ._problems import Problem, YamlError
from ._schema import json_schema
from ._spec import WorkflowSpec, check_document, check_together

__all__ = [
    "Pipeline",
    "Problem",
    "StepFailedError",
    "YamlError",
    "json_schema",
    "load",
    "load_file",
    "load_pipelines",
    "parse_duration",
    "validate",
]

Source = str | os.PathLike[str]
Config = Mapping[str, Any] | str | os.PathLike[str] | None


@attrs.frozen
class Pipeline:
    """A loaded YAML workflow: its definition and what its file declares about it.

    Attributes:
        definition: what to register with a host.
        spec: the checked workflow (inputs with their types, outputs, steps).
    """

    definition: WorkflowDefinition
    spec: WorkflowSpec

    def initial_data(self, inputs: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The data to start the workflow with: input defaults, then ``inputs``."""
        return {**initial_data(self.spec), **(inputs or {})}


def _read(source: Source) -> tuple[str, str]:
    """(text, file name): a path (``Path`` or text without a newline) or YAML text."""
    if isinstance(source, str) and "\n" in source:
        return source, "<text>"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), str(source)
    except OSError as exc:
        raise YamlError(str(source), [Problem(
            str(source), 0, 0, f"cannot read the file ({exc.strerror or exc}); check the path",
        )]) from None


def _check(sources: Iterable[Source], variables: Mapping[str, Any]) -> tuple[list[WorkflowSpec], list[Problem]]:
    specs: list[WorkflowSpec] = []
    problems: list[Problem] = []
    docs = {}
    for source in sources:
        text, name = _read(source)
        doc = read_document(text, name, variables)
        found, found_problems = check_document(doc)
        for spec in found:
            docs[id(spec)] = doc
        specs.extend(found)
        problems.extend(found_problems)
    problems.extend(check_together(specs, lambda spec, path, message: docs[id(spec)].problem(path, message)))
    return specs, problems


def load_pipelines(
    sources: Source | Iterable[Source], *, config: Config = None, **variables: Any
) -> list[Pipeline]:
    """Load one or more files (checked together: a workflow may start one of another file).

    Raises:
        YamlError: every problem of every file; nothing is loaded.
    """
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    specs, problems = _check(items, read_config(config, variables))
    if problems:
        raise YamlError(", ".join(sorted({p.file for p in problems})), problems)
    known = {(s.id, s.version): s for s in specs}
    return [Pipeline(build_workflow(spec, known), spec) for spec in specs]


def load(source: Source, *, config: Config = None, **variables: Any) -> list[WorkflowDefinition]:
    """The definitions of a YAML file, or of YAML text (a string holding a newline).

    Args:
        source: a path, or the YAML text itself.
        config: the variables for ``((var))``: a mapping, JSON text, or a JSON/YAML file.
        **variables: more variables; they win over ``config``.

    Raises:
        YamlError: (a ``DefinitionError``) listing every problem with file, line and column.
    """
    return [p.definition for p in load_pipelines(source, config=config, **variables)]


def load_file(path: str | os.PathLike[str], *, config: Config = None, **variables: Any) -> list[WorkflowDefinition]:
    """:func:`load` for a path (never taken as text)."""
    return [p.definition for p in load_pipelines([Path(path)], config=config, **variables)]


def validate(
    sources: Source | Iterable[Source], *, config: Config = None, **variables: Any
) -> list[Problem]:
    """Every problem of the files (an empty list when they load), without raising."""
    items = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    problems: list[Problem] = []
    try:
        variables_ = read_config(config, variables)
    except YamlError as exc:
        return exc.yaml_problems
    readable = []
    for item in items:
        try:
            _read(item)
            readable.append(item)
        except YamlError as exc:
            problems.extend(exc.yaml_problems)
    problems.extend(_check(readable, variables_)[1])
    return sorted(problems, key=lambda p: (p.file, p.line, p.column))
