"""Reading YAML workflow files into plain data that remembers where each value was written.

Called by :func:`wfe.yaml.load` and ``wfe validate``. PyYAML composes the node tree (which keeps
each node's line and column), merge keys (``<<: *defaults``) are resolved on the nodes, and the
tree is turned into dicts, lists and scalars while every value's position is recorded under its
path (``("workflows", 0, "steps", 2, "name")``), so that the checks can point at the exact
place of each problem. ``((var))`` references are resolved here (:mod:`wfe.yaml._interpolate`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from wfe_core.errors import ConfigurationError

from ._interpolate import interpolate, unresolved_names
from ._problems import Problem, YamlError

__all__ = ["Document", "Located", "read_config", "read_document"]

Path_ = tuple[str | int, ...]

#: Top-level keys the format knows; any other is left alone (anchors such as ``_templates``).
WORKFLOW_KEYS = ("workflow", "workflows")


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise ConfigurationError(
            'YAML workflows need PyYAML, which is not installed; install it with: pip install "wfe[yaml]"'
        ) from exc
    return yaml


@attrs.define
class Document:
    """One file's workflows as plain data, with the position of every value.

    Attributes:
        file: the path it was read from, or ``<text>``.
        data: the top-level mapping (only its ``workflow``/``workflows`` keys are converted).
        marks: ``(line, column)``, both 1-based, by value path.
        problems: what was wrong while reading (syntax, unresolved variables, duplicate keys).
    """

    file: str
    data: dict[str, Any] = attrs.field(factory=dict)
    marks: dict[Path_, tuple[int, int]] = attrs.field(factory=dict)
    problems: list[Problem] = attrs.field(factory=list)

    def problem(self, path: Path_, message: str) -> Problem:
        """A problem placed at ``path``, or at the nearest enclosing value that has a place."""
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark is not None:
                return Problem(self.file, mark[0], mark[1], message)
        return Problem(self.file, 0, 0, message)


@attrs.define
class Located:
    """A value being walked: the loader and what it records into."""

    doc: Document
    loader: Any
    variables: Mapping[str, Any]

    def walk(self, node: Any, path: Path_) -> Any:
        yaml = _yaml()
        self.doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            # A key written twice is a mistake; a key written beside a merge (``<<: *defaults``)
            # overrides the merged one, as YAML's merge keys mean.
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.loader.construct_object(key_node, deep=True)
                if isinstance(key, (str, int)) and key in seen:
                    mark = key_node.start_mark
                    self.doc.problems.append(Problem(
                        self.doc.file, mark.line + 1, mark.column + 1,
                        f"key {key!r} is given twice in this mapping; keep one",
                    ))
                if isinstance(key, (str, int)):
                    seen.add(key)
            self.loader.flatten_mapping(node)  # merged pairs first, then the mapping's own
            winners: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int)):
                    self.doc.problems.append(self.doc.problem(
                        path, f"a key must be text, not {key!r} (quote it: YAML reads on, yes, "
                        "no and null as other values)"))
                    continue
                winners[key] = value_node
            return {key: self.walk(value_node, (*path, key)) for key, value_node in winners.items()}
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        value = self.loader.construct_object(node, deep=True)
        if isinstance(value, str):
            missing = unresolved_names(value, self.variables)
            for name in missing:
                self.doc.problems.append(self.doc.problem(
                    path, f"variable {name!r} is not set; give it in the config "
                    "(--config JSON, a config file, or a keyword argument of load)",
                ))
            if not missing:
                return interpolate(value, self.variables)
        return value


def read_document(text: str, file: str, variables: Mapping[str, Any]) -> Document:
    """Parse one file's text; problems are collected in the document, not raised."""
    yaml = _yaml()
    doc = Document(file)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        doc.problems.append(Problem(file, line, column, f"not valid YAML: {exc.problem or exc}"))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(Problem(file, 0, 0, f"not valid YAML: {exc}"))
        return doc
    finally:
        loader.dispose()
    if root is None or not isinstance(root, yaml.MappingNode):
        doc.problems.append(Problem(
            file, 1, 1, "the file must be a mapping with a `workflow:` or `workflows:` key",
        ))
        return doc
    walker = Located(doc, yaml.SafeLoader(""), variables)
    walker.doc.marks[()] = (root.start_mark.line + 1, root.start_mark.column + 1)
    try:
        walker.loader.flatten_mapping(root)
    except yaml.MarkedYAMLError as exc:
        doc.problems.append(Problem(file, 0, 0, f"not valid YAML: {exc.problem or exc}"))
        return doc
    for key_node, value_node in root.value:
        key = walker.loader.construct_object(key_node)
        if key in WORKFLOW_KEYS:
            try:
                doc.data[key] = walker.walk(value_node, (key,))
            except yaml.MarkedYAMLError as exc:
                mark = exc.problem_mark
                doc.problems.append(Problem(
                    file, mark.line + 1 if mark else 0, mark.column + 1 if mark else 0,
                    f"not valid YAML: {exc.problem or exc}",
                ))
    return doc


def read_config(config: Mapping[str, Any] | str | os.PathLike[str] | None,
                extra: Mapping[str, Any]) -> dict[str, Any]:
    """The variables for ``((var))``: ``config`` (a mapping, JSON text or a JSON/YAML file) and
    then ``extra`` (keyword arguments), which win.

    Raises:
        YamlError: the config is neither JSON nor a readable file, or not a mapping.
    """
    variables: Any = {}
    if isinstance(config, Mapping):
        variables = dict(config)
    elif config is not None:
        text = str(config)
        where = "<config>"
        if not text.lstrip().startswith("{") and Path(text).is_file():
            where = text
            text = Path(text).read_text(encoding="utf-8")
        try:
            variables = json.loads(text)
        except ValueError as exc:
            try:
                variables = _yaml().safe_load(text)
            except Exception:
                raise YamlError(where, [Problem(
                    where, 0, 0, f"the config is neither JSON nor YAML ({exc}); give a JSON "
                    "object such as '{\"env\": \"prod\"}' or the path of a JSON or YAML file",
                )]) from None
        if not isinstance(variables, Mapping):
            raise YamlError(where, [Problem(
                where, 0, 0, f"the config must be a mapping of names to values, not {variables!r}",
            )])
    return {**variables, **extra}
