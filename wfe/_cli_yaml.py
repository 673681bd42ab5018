"""The ``wfe`` commands of the YAML frontend: validate, schema, run.

    wfe validate FILE...            every problem as file:line:col: message (exit 1 if any)
    wfe schema                      the JSON Schema of the format, for editors
    wfe run FILE... [--workflow ID] [--config JSON|FILE] [--input KEY=VALUE]...
                    [--db URL] [--resume ID] [--lease-ttl S]

``run`` runs one workflow of the files on an embedded host (``memory://`` without ``--db``;
with ``--db`` the run is durable, and after a crash ``wfe run --resume ID --db URL FILE``
finishes it), prints each step as it starts and ends with what it printed, then a summary
table, and exits 0 only when the workflow completed (1 when it failed or was suspended, 2 for
bad files or input). ``--json`` writes one document at the end instead.

Called by :func:`wfe._cli.parser`, which hands over its ``command(name, text, run, store=True)``
helper; each command registered here gets ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from wfe_core import LifecycleEvent, LifecycleEventType, WorkflowHost, WorkflowStatus
from wfe_core.errors import WorkflowNotFoundError
from wfe_core.models import ExecutionPointer, WorkflowInstance

from . import _cli_commands as commands
from ._cli_output import Output
from .yaml._build import SECONDS_KEY
from .yaml._outputs import watch_output

__all__ = ["add_commands"]


def add_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Register this module's commands through ``command`` (see :func:`wfe._cli.parser`)."""
    check = command("validate", "check YAML workflow files; list every problem", validate, store=False)
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--config", metavar="JSON|FILE", help="variables for ((var)) references")
    command("schema", "print the JSON Schema of YAML workflow files", schema, store=False)
    runner = command("run", "run a workflow of YAML files here, printing its steps as they go",
                     run, store=False)
    runner.add_argument("files", nargs="+", metavar="FILE")
    runner.add_argument("--workflow", metavar="ID", help="which workflow (default: the file's only or first one)")
    runner.add_argument("--config", metavar="JSON|FILE", help="variables for ((var)) references")
    runner.add_argument("--input", action="append", default=[], metavar="KEY=VALUE",
                        help="a workflow input (typed as the file declares it); repeat for more")
    runner.add_argument("--db", "--persistence", dest="db", metavar="URL",
                        help="a durable store, e.g. sqlite:///runs.db (default: memory, lost on exit)")
    runner.add_argument("--resume", metavar="ID",
                        help="finish the workflow ID that a crashed run left in --db")
    runner.add_argument("--lease-ttl", type=float, default=30.0, metavar="S",
                        help="seconds a crashed run holds its workflow before --resume takes it (default 30)")


def _problems_out(out: Output, problems: Sequence[Any]) -> None:
    if out.as_json:
        out.document({"valid": not problems, "problems": [p.as_dict() for p in problems]})
    else:
        for problem in problems:
            out.line(str(problem))


def validate(args: argparse.Namespace, out: Output) -> int:
    from .yaml import validate as check

    problems = check(args.files, config=args.config)
    _problems_out(out, problems)
    if not problems and not out.as_json:
        out.line(f"{len(args.files)} file(s) valid")
    return 1 if problems else commands.OK


def schema(args: argparse.Namespace, out: Output) -> int:
    from .yaml import json_schema

    out.stream.write(json.dumps(json_schema(), indent=2) + "\n")
    return commands.OK


def _inputs(pipeline: Any, given: Sequence[str]) -> dict[str, Any] | str:
    """The data to start with, or what is wrong with ``--input``."""
    declared = pipeline.spec.inputs
    data: dict[str, Any] = {}
    for item in given:
        key, sep, text = item.partition("=")
        if not sep or not key:
            return f"--input {item!r}: write KEY=VALUE"
        if declared and key not in declared:
            return f"--input {key}: the workflow has no such input; it takes " + ", ".join(declared)
        kind = declared[key].type if key in declared else "string"
        if kind == "string":
            data[key] = text
            continue
        try:
            value = json.loads(text)
        except ValueError:
            if kind != "any":
                return f"--input {key}={text}: not a {kind} (JSON)"
            value = text
        ok = {
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
        }.get(kind, True)
        if not ok:
            return f"--input {key}={text}: not a {kind}"
        data[key] = value
    data = pipeline.initial_data(data)
    missing = [k for k, i in declared.items() if i.required and k not in data]
    if missing:
        return "missing input(s): " + ", ".join(missing) + "; give --input KEY=VALUE for each"
    return data


class _Printer:
    """Prints the steps of the run (and of its children) as they go.

    Lines come as the steps print them (``watch_output``); a step's end comes with its pass's
    lifecycle event, with its status and how long it ran.
    """

    def __init__(self, host: WorkflowHost, out: Output) -> None:
        self.host, self.out = host, out
        self.root = ""
        #: The steps the files name (not the ifs, sequences and compensations built around them).
        self.names: set[str] = set()
        self.seen: set[str] = set()
        self.events: asyncio.Queue[LifecycleEvent] = asyncio.Queue()

    def ours(self, workflow_id: str) -> bool:
        return bool(self.root) and (workflow_id == self.root or workflow_id.startswith(self.root + "."))

    def label(self, workflow_id: str, definition_id: str, step_name: str | None) -> str:
        name = step_name or "?"
        return self.out.bold(name if workflow_id == self.root else f"{definition_id} › {name}")

    def started(self, pointer_id: str, label: str) -> None:
        if pointer_id not in self.seen:
            self.seen.add(pointer_id)
            self.out.line(f"{label} {self.out.status('running')}")

    def line(self, ctx: Any, stream: str, text: str) -> None:
        if not self.ours(ctx.workflow.id):
            return
        label = self.label(ctx.workflow.id, ctx.workflow.definition_id, ctx.pointer.step_name)
        self.started(ctx.pointer.id, label)
        self.out.line(f"  {label} | {text}" if stream == "stdout" else f"  {label} ! {text}")

    def receive(self, event: LifecycleEvent) -> None:
        if self.ours(event.workflow_id):
            self.events.put_nowait(event)

    async def pump(self) -> None:
        ended = (LifecycleEventType.STEP_COMPLETED, LifecycleEventType.WORKFLOW_ERROR)
        while True:
            event = await self.events.get()
            if event.step_name not in self.names or event.pointer_id is None:
                continue
            label = self.label(event.workflow_id, event.definition_id, event.step_name)
            if event.type is LifecycleEventType.STEP_STARTED:
                self.started(event.pointer_id, label)
            elif event.type in ended:
                self.started(event.pointer_id, label)
                seconds = None
                with contextlib.suppress(WorkflowNotFoundError):
                    instance = await self.host.get_workflow(event.workflow_id)
                    seconds = _duration(instance.execution_pointers.get(event.pointer_id))
                took = "" if seconds is None else f" ({seconds:.2f}s)"
                if event.type is LifecycleEventType.WORKFLOW_ERROR:
                    self.out.line(f"{label} {self.out.status('failed')}{took}: {event.message}")
                else:
                    self.out.line(f"{label} {self.out.status('complete')}{took}")


def _duration(pointer: ExecutionPointer | None) -> float | None:
    """Seconds the step's command ran (its executor records them)."""
    value = pointer.extension_attributes.get(SECONDS_KEY) if pointer else None
    return float(value) if isinstance(value, (int, float)) else None


def _lines(pointer: ExecutionPointer | None) -> list[str]:
    lines = (pointer.extension_attributes.get("output") if pointer else None) or []
    return [str(line) for line in lines]


def _summary(pipeline: Any, instance: WorkflowInstance) -> list[dict[str, Any]]:
    rows = []
    for step in pipeline.spec.all_steps():
        pointers = [p for p in instance.execution_pointers if p.step_name == step.name]
        if not pointers:
            rows.append({"step": step.name, "status": "skipped" if instance.status is WorkflowStatus.COMPLETE
                         else "not run", "duration": None, "output": []})
            continue
        last = pointers[-1]
        rows.append({"step": step.name, "status": last.status.value,
                     "duration": _duration(last), "output": _lines(last)})
    return rows


def run(args: argparse.Namespace, out: Output) -> Any:
    from .yaml import YamlError, load_pipelines

    try:
        pipelines = load_pipelines(args.files, config=args.config)
    except YamlError as exc:
        _problems_out(out, exc.yaml_problems)
        return commands.BAD_INPUT
    chosen = [p for p in pipelines if args.workflow in (None, p.spec.id)]
    if not chosen:
        ids = ", ".join(sorted({p.spec.id for p in pipelines}))
        return _refuse(out, f"no workflow {args.workflow!r} in the files; give --workflow one of {ids}")
    pipeline = max((p for p in chosen if p.spec.id == chosen[0].spec.id), key=lambda p: p.spec.version)
    data = _inputs(pipeline, args.input)
    if isinstance(data, str):
        return _refuse(out, data)
    if args.resume and not args.db:
        return _refuse(out, "--resume needs the store the run was in: give --db URL")
    return _run(args, out, pipelines, pipeline, data)


def _refuse(out: Output, message: str) -> int:
    if out.as_json:
        out.document({"error": {"code": commands.BAD_INPUT, "message": message}})
    print(f"wfe: {message}", file=sys.stderr)
    return commands.BAD_INPUT


async def _run(args: argparse.Namespace, out: Output, pipelines: list[Any], pipeline: Any,
               data: dict[str, Any]) -> int:
    # A resumed run takes the workflow once the crashed run's lease has expired: the poller
    # looks often enough to notice that soon after.
    host = WorkflowHost(args.db or "memory://", lease_ttl=args.lease_ttl,
                       poll_interval=max(0.2, min(args.lease_ttl / 4, 10.0)))
    printer = _Printer(host, out)
    printer.names = {step.name for p in pipelines for step in p.spec.all_steps()}
    async with host:
        for p in pipelines:
            host.register(p.definition)
        if not out.as_json:
            host.lifecycle.subscribe(printer.receive)
        pump = asyncio.create_task(printer.pump())
        watching = contextlib.ExitStack()
        if not out.as_json:
            watching.enter_context(watch_output(printer.line))
        try:
            if args.resume:
                printer.root = wid = args.resume
                instance = await host.get_workflow(wid)  # not found: exit 3 from wfe._cli
                if instance.status is WorkflowStatus.SUSPENDED:
                    await host.resume_workflow(wid)
                if not out.as_json:
                    out.line(f"resuming workflow {wid} ({instance.definition_id}) in {args.db}")
            else:
                wid = await host.start_workflow(pipeline.spec.id, data, version=pipeline.spec.version)
                printer.root = wid
                if not out.as_json:
                    out.line(f"workflow {wid} ({pipeline.spec.id}) started"
                             + (f" in {args.db}" if args.db else ""))
            instance = await host.wait_for_workflow(wid, timeout=None)
            while not printer.events.empty():
                await asyncio.sleep(0.01)
        finally:
            pump.cancel()
            watching.close()
        errors = await host.get_execution_errors(wid)
    ran = next((p for p in pipelines if p.spec.id == instance.definition_id), pipeline)
    rows = _summary(ran, instance)
    outputs = {k: instance.data.get(k) for k in ran.spec.outputs} if isinstance(instance.data, dict) else {}
    if out.as_json:
        out.document({"workflow_id": wid, "definition_id": instance.definition_id,
                      "status": instance.status.value, "data": instance.data, "outputs": outputs,
                      "steps": rows, "errors": [e.message for e in errors]})
    else:
        out.line()
        out.table(("STEP", "STATUS", "DURATION"),
                  [(r["step"], r["status"], "-" if r["duration"] is None else f"{r['duration']:.2f}s")
                   for r in rows], status_column=1)
        for key, value in outputs.items():
            out.line(f"output {key} = {json.dumps(value)}")
        for error in errors:
            out.line(f"error: {error.message}")
        out.line(f"workflow {wid} {out.status(instance.status.value)}")
    return commands.OK if instance.status is WorkflowStatus.COMPLETE else 1
