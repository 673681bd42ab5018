"""The checks of the YAML format, and the checked form they produce (``WorkflowSpec``, ``StepSpec``).

:func:`check_document` reads one document's plain data (from :mod:`wfe.yaml._loader`) and
reports every problem it finds, each placed at its value's line and column; what it returns has
every default filled in and every duration in seconds. :func:`check_together` then looks across
all the workflows of a load (duplicate ids, ``type: workflow`` references and their cycles).
:mod:`wfe.yaml._build` turns the result into definitions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import attrs

from wfe_core import ErrorBehavior

from ._conditions import Condition, field_path, fields, parse_condition
from ._durations import parse_duration
from ._loader import Document
from ._problems import Problem

__all__ = ["INPUT_TYPES", "STEP_TYPES", "StepSpec", "WorkflowSpec", "check_document", "check_together"]

Path_ = tuple[str | int, ...]
STEP_TYPES = ("shell", "deno", "workflow")
INPUT_TYPES = ("string", "integer", "number", "boolean", "object", "array", "any")
WORKFLOW_KEYS = ("id", "version", "description", "inputs", "outputs", "error_behavior", "steps")
STEP_KEYS = ("name", "type", "description", "config", "inputs", "outputs", "parallel", "when",
             "error_behavior", "on_success", "on_failure", "ensure")
HOOKS = ("on_success", "on_failure", "ensure")
CONFIG_KEYS = {
    "shell": ("run", "file", "shell", "env", "working_dir", "timeout"),
    "deno": ("script", "file", "permissions", "timeout"),
    "workflow": ("workflow", "version"),
}
PERMISSION_LISTS = ("net", "read", "write", "env")
PERMISSION_FLAGS = ("run", "dynamic_import")
BEHAVIORS = ("retry", "suspend", "terminate", "compensate")
RETRY_KEYS = ("type", "interval", "backoff", "max_retries", "max_interval")


@attrs.define
class InputSpec:
    type: str = "any"
    required: bool = True
    default: Any = None


@attrs.define
class StepSpec:
    """A checked step. ``type`` is ``parallel`` for a step that holds ``parallel`` steps."""

    name: str
    type: str
    path: Path_
    config: dict[str, Any] = attrs.field(factory=dict)
    inputs: dict[str, str] = attrs.field(factory=dict)
    outputs: dict[str, str] = attrs.field(factory=dict)
    parallel: list[StepSpec] = attrs.field(factory=list)
    when: Condition | None = None
    error_behavior: ErrorBehavior | None = None
    on_success: list[StepSpec] = attrs.field(factory=list)
    on_failure: list[StepSpec] = attrs.field(factory=list)
    ensure: list[StepSpec] = attrs.field(factory=list)

    def walk(self) -> list[StepSpec]:
        """This step and every step inside it (parallel children and hooks), depth first."""
        found = [self]
        for child in (*self.parallel, *self.on_success, *self.on_failure, *self.ensure):
            found.extend(child.walk())
        return found


@attrs.define
class WorkflowSpec:
    """A checked workflow of one file."""

    id: str
    version: int
    file: str
    path: Path_
    description: str | None = None
    inputs: dict[str, InputSpec] = attrs.field(factory=dict)
    outputs: list[str] = attrs.field(factory=list)
    error_behavior: ErrorBehavior | None = None
    steps: list[StepSpec] = attrs.field(factory=list)

    def all_steps(self) -> list[StepSpec]:
        return [s for step in self.steps for s in step.walk()]


class _Checker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def report(self, path: Path_, message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def unknown_keys(self, raw: Mapping[str, Any], known: tuple[str, ...], path: Path_, what: str) -> None:
        for key in raw:
            if key not in known and not str(key).startswith("_"):
                self.report((*path, key), f"unknown key {key!r} in {what}; known keys: "
                            + ", ".join(known))

    # -- workflows ---------------------------------------------------------------------------

    def document(self) -> list[WorkflowSpec]:
        data = self.doc.data
        if "workflow" in data and "workflows" in data:
            self.report(("workflows",), "give either `workflow:` (one) or `workflows:` (a list), not both")
            return []
        if "workflow" in data:
            return [w for w in [self.workflow(data["workflow"], ("workflow",))] if w]
        if "workflows" in data:
            items = data["workflows"]
            if not isinstance(items, list) or not items:
                self.report(("workflows",), "`workflows:` takes a non-empty list of workflows")
                return []
            return [w for i, raw in enumerate(items) if (w := self.workflow(raw, ("workflows", i)))]
        if not self.doc.problems:
            self.report((), "the file has no `workflow:` or `workflows:` key")
        return []

    def workflow(self, raw: Any, path: Path_) -> WorkflowSpec | None:
        if not isinstance(raw, Mapping):
            self.report(path, "a workflow is a mapping with id, version and steps")
            return None
        self.unknown_keys(raw, WORKFLOW_KEYS, path, "a workflow")
        wid = raw.get("id")
        if not isinstance(wid, str) or not wid.strip():
            self.report(path, "the workflow needs an `id`: a non-empty string")
            wid = "?"
        version = raw.get("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            self.report((*path, "version"), f"`version` is a whole number of 1 or more, not {version!r}")
            version = 1
        description = raw.get("description")
        if description is not None and not isinstance(description, str):
            self.report((*path, "description"), "`description` is text")
            description = None
        spec = WorkflowSpec(wid, version, self.doc.file, path, description)
        spec.inputs = self.inputs(raw.get("inputs", {}), (*path, "inputs"))
        spec.outputs = self.names(raw.get("outputs", []), (*path, "outputs"), "workflow outputs")
        if "error_behavior" in raw:
            spec.error_behavior = self.behavior(raw["error_behavior"], (*path, "error_behavior"))
        steps = raw.get("steps")
        if not isinstance(steps, list) or not steps:
            self.report((*path, "steps") if "steps" in raw else path,
                        "the workflow needs `steps`: a non-empty list of steps")
            return spec
        spec.steps = [s for i, r in enumerate(steps) if (s := self.step(r, (*path, "steps", i)))]
        self.names_unique(spec)
        self.when_fields(spec)
        return spec

    def inputs(self, raw: Any, path: Path_) -> dict[str, InputSpec]:
        if not isinstance(raw, Mapping):
            self.report(path, "`inputs` maps each input's name to its type, e.g. {branch: string}")
            return {}
        found = {}
        for name, declared in raw.items():
            spec = InputSpec()
            kind = declared
            if isinstance(declared, Mapping):
                kind = declared.get("type", "any")
                spec.required = "default" not in declared and declared.get("required", True) is not False
                spec.default = declared.get("default")
            if isinstance(kind, str) and kind.endswith("?"):
                kind, spec.required = kind[:-1], False
            if kind not in INPUT_TYPES:
                self.report((*path, name), f"input {name!r} has unknown type {kind!r}; use one of "
                            + ", ".join(INPUT_TYPES) + " (a trailing ? makes it optional)")
                continue
            spec.type = kind
            found[str(name)] = spec
        return found

    def names(self, raw: Any, path: Path_, what: str) -> list[str]:
        """A list of names, or a mapping whose keys are the names (values are types or notes)."""
        if isinstance(raw, Mapping):
            return [str(k) for k in raw]
        if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
            return list(raw)
        self.report(path, f"{what} are a list of names or a mapping of names to types")
        return []

    def behavior(self, raw: Any, path: Path_) -> ErrorBehavior | None:
        if isinstance(raw, str):
            raw = {"type": raw}
        if not isinstance(raw, Mapping) or raw.get("type") not in BEHAVIORS:
            self.report(path, "`error_behavior` is one of " + ", ".join(BEHAVIORS)
                        + ", or a mapping {type: retry, interval: 5s, backoff: 2, max_retries: 3}")
            return None
        kind = raw["type"]
        self.unknown_keys(raw, RETRY_KEYS if kind == "retry" else ("type",), path, "error_behavior")
        if kind != "retry":
            return getattr(ErrorBehavior, kind)()  # type: ignore[no-any-return]
        interval = self.duration(raw.get("interval", 1), (*path, "interval"))
        ceiling = raw.get("max_interval")
        max_interval = None if ceiling is None else self.duration(ceiling, (*path, "max_interval"))
        retries = raw.get("max_retries", 3)
        if retries is not None and (not isinstance(retries, int) or isinstance(retries, bool) or retries < 0):
            self.report((*path, "max_retries"), f"`max_retries` is a whole number of 0 or more, not {retries!r}")
            return None
        backoff = raw.get("backoff", 1.0)
        try:
            return ErrorBehavior.retry(
                timedelta(seconds=interval or 0), max_retries=retries, backoff=backoff,
                max_interval=None if max_interval is None else timedelta(seconds=max_interval),
            )
        except (ValueError, TypeError) as exc:
            self.report(path, f"{exc}".removeprefix("ErrorBehavior: "))
            return None

    def duration(self, raw: Any, path: Path_) -> float | None:
        try:
            return parse_duration(raw)
        except ValueError as exc:
            self.report(path, str(exc))
            return None

    # -- steps -------------------------------------------------------------------------------

    def step(self, raw: Any, path: Path_) -> StepSpec | None:
        if not isinstance(raw, Mapping):
            self.report(path, "a step is a mapping with at least a `name`")
            return None
        self.unknown_keys(raw, STEP_KEYS, path, "a step")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.report(path, "the step needs a `name`: a non-empty string, unique in its workflow")
            name = f"?{path}"
        if "parallel" in raw:
            spec = StepSpec(name, "parallel", path)
            for key in ("type", "config", "inputs", "outputs"):
                if key in raw:
                    self.report((*path, key), f"a `parallel` step holds steps and takes no `{key}`; "
                                "give it to the steps inside")
            children = raw["parallel"]
            if not isinstance(children, list) or not children:
                self.report((*path, "parallel"), "`parallel` takes a non-empty list of steps")
            else:
                spec.parallel = [s for i, r in enumerate(children)
                                 if (s := self.step(r, (*path, "parallel", i)))]
        else:
            kind = raw.get("type", "shell")
            if kind not in STEP_TYPES:
                self.report((*path, "type"), f"unknown step type {kind!r}; use one of "
                            + ", ".join(STEP_TYPES))
            spec = StepSpec(name, str(kind), path)
            if kind in STEP_TYPES:
                spec.config = self.config(kind, raw.get("config"), (*path, "config"))
                spec.inputs = self.step_inputs(kind, raw.get("inputs"), (*path, "inputs"))
                spec.outputs = self.step_outputs(kind, raw.get("outputs"), (*path, "outputs"))
        if "when" in raw:
            spec.when = parse_condition(raw["when"], (*path, "when"), self.report)
        if "error_behavior" in raw:
            spec.error_behavior = self.behavior(raw["error_behavior"], (*path, "error_behavior"))
        for hook in HOOKS:
            if hook in raw:
                setattr(spec, hook, self.hook(raw[hook], (*path, hook)))
        behavior = spec.error_behavior
        if (spec.on_failure or spec.ensure) and behavior is not None and behavior.kind is ErrorBehavior.Kind.RETRY:
            self.report((*path, "error_behavior"),
                        "retry cannot be combined with on_failure or ensure (they run once the step "
                        "has failed for good): put the retried work in a step of its own")
        if behavior is not None and behavior.kind is ErrorBehavior.Kind.COMPENSATE and not (
            spec.on_failure or spec.ensure
        ):
            self.report((*path, "error_behavior"),
                        "compensate needs `on_failure` (or `ensure`) steps that undo the step")
        return spec

    def hook(self, raw: Any, path: Path_) -> list[StepSpec]:
        items = raw if isinstance(raw, list) else [raw]
        paths = [(*path, i) for i in range(len(items))] if isinstance(raw, list) else [path]
        return [s for r, p in zip(items, paths) if (s := self.step(r, p))]

    def config(self, kind: str, raw: Any, path: Path_) -> dict[str, Any]:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.report(path, f"`config` of a {kind} step is a mapping")
            return {}
        self.unknown_keys(raw, CONFIG_KEYS[kind], path, f"the config of a {kind} step")
        config = dict(raw)
        if kind == "shell":
            self.exactly_one(config, ("run", "file"), path, kind)
            config.setdefault("shell", "bash")
            for key in ("run", "file", "shell", "working_dir"):
                if key in config and not isinstance(config[key], str):
                    self.report((*path, key), f"`{key}` is text")
            env = config.get("env", {})
            if not isinstance(env, Mapping) or any(
                isinstance(v, (dict, list)) for v in env.values()
            ):
                self.report((*path, "env"), "`env` maps variable names to text, numbers or booleans")
                env = {}
            config["env"] = {str(k): _env_text(v) for k, v in env.items()}
        elif kind == "deno":
            self.exactly_one(config, ("script", "file"), path, kind)
            config["permissions"] = self.permissions(config.get("permissions", {}), (*path, "permissions"))
        else:
            if not isinstance(config.get("workflow"), str) or not config["workflow"]:
                self.report(path, "a workflow step needs `config.workflow`: the id of the workflow to start")
            version = config.get("version")
            if version is not None and (not isinstance(version, int) or isinstance(version, bool) or version < 1):
                self.report((*path, "version"), f"`version` is a whole number of 1 or more, not {version!r}")
            config.setdefault("version", None)
        if kind != "workflow":
            timeout = config.get("timeout")
            config["timeout"] = None if timeout is None else self.duration(timeout, (*path, "timeout"))
        return config

    def exactly_one(self, config: Mapping[str, Any], keys: tuple[str, str], path: Path_, kind: str) -> None:
        given = [k for k in keys if k in config]
        if len(given) != 1:
            self.report(path, f"a {kind} step needs exactly one of `config.{keys[0]}` (inline) or "
                        f"`config.{keys[1]}` (a path)")

    def permissions(self, raw: Any, path: Path_) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.report(path, "`permissions` is a mapping: net, read, write, env (lists), run, dynamic_import")
            return {}
        self.unknown_keys(raw, PERMISSION_LISTS + PERMISSION_FLAGS, path, "permissions")
        found: dict[str, Any] = {}
        for key in PERMISSION_LISTS:
            value = raw.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.report((*path, key), f"`{key}` is a list of what to allow, e.g. [\"api.example.com\"]")
                value = []
            found[key] = value
        for key in PERMISSION_FLAGS:
            value = raw.get(key, False)
            if not isinstance(value, bool):
                self.report((*path, key), f"`{key}` is true or false")
                value = False
            found[key] = value
        return found

    def step_inputs(self, kind: str, raw: Any, path: Path_) -> dict[str, str]:
        if raw is None:
            return {}
        if kind == "deno":
            self.report(path, "a deno step reads the workflow data with Wfe.getData(); it takes no `inputs`")
            return {}
        if not isinstance(raw, Mapping) or not all(isinstance(v, str) for v in raw.values()):
            what = "the child workflow's input" if kind == "workflow" else "an environment variable"
            self.report(path, f"`inputs` maps {what} to a data path, e.g. {{version: outputs.version}}")
            return {}
        return {str(k): v for k, v in raw.items()}

    def step_outputs(self, kind: str, raw: Any, path: Path_) -> dict[str, str]:
        if raw is None:
            return {}
        if kind == "workflow" and isinstance(raw, Mapping):
            if not all(isinstance(v, str) for v in raw.values()):
                self.report(path, "`outputs` of a workflow step maps a data key to the child's data path")
                return {}
            return {str(k): v for k, v in raw.items()}
        return {n: n for n in self.names(raw, path, "step outputs")}

    # -- across a workflow -------------------------------------------------------------------

    def names_unique(self, spec: WorkflowSpec) -> None:
        seen: dict[str, StepSpec] = {}
        for step in spec.all_steps():
            if step.name in seen:
                line = self.doc.problem(seen[step.name].path, "").line
                self.report((*step.path, "name"), f"step name {step.name!r} is already used "
                            f"(line {line}); names are unique in a workflow, hooks and parallel steps included")
            else:
                seen[step.name] = step

    def when_fields(self, spec: WorkflowSpec) -> None:
        known = set(spec.inputs) | set(spec.outputs)
        for step in spec.all_steps():
            known |= set(step.outputs)
        for step in spec.all_steps():
            if step.when is None:
                continue
            for comparison in fields(step.when):
                head = field_path(comparison.field)[0]
                if head not in known:
                    self.report((*step.path, "when"), f"`when` field {comparison.field!r} names nothing: "
                                f"declare {head!r} in the workflow's inputs or in a step's outputs")


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def check_document(doc: Document) -> tuple[list[WorkflowSpec], list[Problem]]:
    """The workflows of ``doc`` and every problem found in them (the reading's ones included)."""
    checker = _Checker(doc)
    specs = checker.document()
    return specs, [*doc.problems, *checker.problems]


def check_together(
    specs: list[WorkflowSpec], locate: Callable[[WorkflowSpec, Path_, str], Problem]
) -> list[Problem]:
    """Problems across the workflows of one load: duplicate ids, references to workflows that
    are not there, and cycles of ``type: workflow`` references."""
    problems: list[Problem] = []
    by_key: dict[tuple[str, int], WorkflowSpec] = {}
    by_id: dict[str, list[WorkflowSpec]] = {}
    for spec in specs:
        key = (spec.id, spec.version)
        if key in by_key:
            problems.append(locate(spec, (*spec.path, "id"),
                                   f"workflow {spec.id!r} version {spec.version} is defined twice"))
        by_key[key] = spec
        by_id.setdefault(spec.id, []).append(spec)

    def target(step: StepSpec) -> WorkflowSpec | None:
        versions = by_id.get(step.config.get("workflow", ""), [])
        wanted = step.config.get("version")
        found = [w for w in versions if wanted is None or w.version == wanted]
        return max(found, key=lambda w: w.version) if found else None

    edges: dict[tuple[str, int], list[tuple[StepSpec, WorkflowSpec]]] = {}
    for spec in specs:
        for step in spec.all_steps():
            if step.type != "workflow" or not step.config.get("workflow"):
                continue
            child = target(step)
            if child is None:
                version = step.config.get("version")
                problems.append(locate(spec, (*step.path, "config", "workflow"),
                    f"step {step.name!r} starts workflow {step.config['workflow']!r}"
                    + (f" version {version}" if version else "")
                    + ", which is not among the workflows loaded; define it in the file (or load its file too)"))
                continue
            edges.setdefault((spec.id, spec.version), []).append((step, child))
    # Depth-first colouring: a grey node met again closes a cycle.
    colour: dict[tuple[str, int], int] = {}

    def visit(spec: WorkflowSpec, trail: list[str]) -> None:
        key = (spec.id, spec.version)
        colour[key] = 1
        for step, child in edges.get(key, []):
            child_key = (child.id, child.version)
            if colour.get(child_key) == 1:
                cycle = " -> ".join([*trail[trail.index(child.id):], child.id]) if child.id in trail else child.id
                problems.append(locate(spec, (*step.path, "config", "workflow"),
                    f"step {step.name!r} closes a cycle of workflow steps ({cycle}): a workflow "
                    "would start itself without end"))
            elif child_key not in colour:
                visit(child, [*trail, child.id])
        colour[key] = 2

    for spec in specs:
        if (spec.id, spec.version) not in colour:
            visit(spec, [spec.id])
    return problems
