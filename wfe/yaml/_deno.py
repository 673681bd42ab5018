"""The Deno step of YAML workflows: JavaScript or TypeScript in Deno's permission sandbox.

``DenoStep`` is what the YAML builder mapping puts behind ``type: deno``:
``.start_with(DenoStep).input(config={...})``. It runs ``deno run`` (the binary of the ``deno``
package on PyPI, ``pip install "wfe[deno]"``) through the shell step's process runner, so a
timeout ends it and whatever it started.

The script API is a prelude loaded with ``--preload`` before the script: ``Wfe.getData()``
returns (a copy of) the workflow data, ``Wfe.setOutput(key, value)`` sets an output merged into
the data when the script succeeds. The data travels inside the prelude as a JSON literal, and
outputs come back as stdout lines that start with a marker made afresh for each run, so neither
needs a permission and no line a script prints by chance is taken for an output.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wfe_core import StepBody, StepExecutionContext

from ._outputs import PrintedLines, StepCommandError, StepConfigError, merge_outputs
from ._shell import check_timeout, run_process

__all__ = ["DenoPermissionError", "DenoStep", "deno_arguments", "find_deno"]

#: Allow-lists of ``permissions`` and the Deno flag each one becomes (empty or absent: denied).
PERMISSION_LISTS = {"net": "--allow-net", "read": "--allow-read", "write": "--allow-write", "env": "--allow-env"}
#: Booleans of ``permissions`` (false or absent: denied).
PERMISSION_FLAGS = ("run", "dynamic_import")

_KEY_PATTERN = "^[A-Za-z_][A-Za-z0-9_.-]*$"  # the same names as ##wfe[output key=value] takes

# The Wfe API. __PAYLOAD__ becomes {"data": ..., "marker": ...} as JSON in a JavaScript string
# literal: parsed by JSON.parse, not evaluated as an object literal (where a "__proto__" key
# would set the prototype instead of a property). The marker stays in this module's scope.
_PRELUDE = """\
// The wfe script API, loaded by `deno run --preload` before the step's script.
const payload = JSON.parse(__PAYLOAD__);
const encoder = new TextEncoder();
const stdout = Deno.stdout;

function writeAll(bytes) {
  let written = 0;
  while (written < bytes.length) written += stdout.writeSync(bytes.subarray(written));
}

const Wfe = Object.freeze({
  /** The workflow data (a copy: change it with Wfe.setOutput). */
  getData() {
    return structuredClone(payload.data);
  },
  /** Set an output, merged into the workflow data when the script succeeds. */
  setOutput(key, value) {
    if (typeof key !== "string" || !/__KEY__/.test(key)) {
      throw new TypeError(
        `Wfe.setOutput: the key must be a name (letters, digits, _ . -), not ${String(key)}`);
    }
    const text = JSON.stringify(value === undefined ? null : value);
    if (text === undefined) {
      throw new TypeError(`Wfe.setOutput(${key}): a ${typeof value} cannot be stored as JSON`);
    }
    writeAll(encoder.encode(`${payload.marker} {"key": ${JSON.stringify(key)}, "value": ${text}}\\n`));
  },
});
Object.defineProperty(globalThis, "Wfe", { value: Wfe, enumerable: false });
"""

_DENIED = [
    (re.compile(r'NotCapable: Requires (\w+) access to "([^"]*)"'), None),
    (re.compile(r'Requires (import) access to "([^"]*)"'), None),
    (re.compile(r'A remote specifier was requested: "([^"]*)", but --no-remote'), "import"),
    (re.compile(r"(npm) specifiers were requested; but --no-npm"), "import"),
]


class DenoPermissionError(StepCommandError):
    """A Deno script failed because a permission it needs was not given.

    Attributes:
        permission: the key of ``permissions`` to give (``net``, ``read``, ``write``, ``env``,
            ``run`` or ``dynamic_import``), or Deno's name (``sys``, ``ffi``) when wfe has none.
        target: what the script tried to reach (a host, a path, a variable, a program).
    """

    def __init__(self, permission: str, target: str, *args: Any, **kwargs: Any) -> None:
        self.permission = permission
        self.target = target
        super().__init__(*args, **kwargs)


def find_deno() -> str:
    """The Deno binary: ``$WFE_DENO``, else the ``deno`` package's, else ``deno`` on the PATH.

    Raises:
        StepConfigError: there is none (the message says how to install it).
    """
    chosen = os.environ.get("WFE_DENO")
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise StepConfigError(f"WFE_DENO is {chosen!r}, which is not an executable file")
        return chosen
    try:
        # Imported by name: the package ships no type information.
        return os.fsdecode(importlib.import_module("deno").find_deno_bin())
    except (ImportError, FileNotFoundError):
        pass
    found = shutil.which("deno")
    if found:
        return found
    raise StepConfigError(
        'Deno steps need the Deno binary, which is not installed: pip install "wfe[deno]" '
        "(or set WFE_DENO to a deno executable)"
    )


def deno_arguments(permissions: Mapping[str, Any]) -> list[str]:
    """The ``deno run`` flags for a step's ``permissions`` (everything not listed is denied).

    ``net``, ``read``, ``write`` and ``env`` are allow-lists (``--allow-net=a,b``); ``run: true``
    gives ``--allow-run`` (any program: a script that may run programs is out of the sandbox);
    ``dynamic_import: true`` lets the script load code from remote hosts and npm
    (``--allow-import``), which is otherwise refused altogether (``--no-remote --no-npm``:
    Deno would otherwise fetch from a default list of hosts). ``sys`` and ``ffi`` are never
    given. ``--no-prompt`` makes a missing permission an error, never a question.

    Raises:
        StepConfigError: a permission of the wrong shape; the message names it.
    """
    if not isinstance(permissions, Mapping):
        raise StepConfigError(f"config.permissions must be a mapping, not {permissions!r}")
    unknown = sorted(set(permissions) - set(PERMISSION_LISTS) - set(PERMISSION_FLAGS))
    if unknown:
        raise StepConfigError(
            f"config.permissions.{unknown[0]} is not a permission; use "
            + ", ".join([*PERMISSION_LISTS, *PERMISSION_FLAGS])
        )
    flags = ["--no-prompt"]
    for key, flag in PERMISSION_LISTS.items():
        allowed = permissions.get(key) or []
        if not isinstance(allowed, list | tuple) or not all(
            isinstance(item, str) and item and "," not in item for item in allowed
        ):
            raise StepConfigError(
                f"config.permissions.{key} must be a list of what to allow (without commas), "
                f"e.g. [\"api.example.com\"], not {allowed!r}"
            )
        if allowed:
            flags.append(f"{flag}={','.join(allowed)}")
    for key in PERMISSION_FLAGS:
        if not isinstance(permissions.get(key, False), bool):
            raise StepConfigError(f"config.permissions.{key} must be true or false, not {permissions[key]!r}")
    if permissions.get("run"):
        flags.append("--allow-run")
    flags += ["--allow-import"] if permissions.get("dynamic_import") else ["--no-remote", "--no-npm"]
    return flags


def deno_dir() -> str:
    """Where Deno keeps its caches: ``$DENO_DIR``, else a directory of the user's in the temp
    directory (never the home directory, which Deno would otherwise fill)."""
    return os.environ.get("DENO_DIR") or os.path.join(tempfile.gettempdir(), f"wfe-deno-{os.getuid()}")


class DenoStep(StepBody):
    """Runs a JavaScript or TypeScript script with Deno; the ``type: deno`` step of YAML workflows.

    ``config`` keys: ``script`` (the code, run as TypeScript, which plain JavaScript is too) or
    ``file`` (a ``.js``/``.ts`` path), ``permissions`` (see :func:`deno_arguments`; everything
    denied by default), ``timeout`` (seconds; None for none).

    In the script, ``Wfe.getData()`` returns the workflow data and ``Wfe.setOutput(key, value)``
    sets an output. Values keep their JSON type (numbers, booleans, null, strings, objects,
    arrays; ``undefined`` becomes null), as a shell output's typed text would.

    Raises:
        StepConfigError: ``config`` is unusable (the message names the key) or Deno is missing.
        DenoPermissionError: the script needed a permission it was not given (the message
            names it and the ``permissions`` entry that allows it).
        StepCommandError: the script failed otherwise, was killed or timed out.
    """

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}

    async def run(self, ctx: StepExecutionContext) -> None:
        config = self.config
        if not isinstance(config, Mapping):
            raise StepConfigError(f"a deno step needs config (a mapping), not {config!r}")
        script, file = config.get("script"), config.get("file")
        if (script is None) == (file is None):
            raise StepConfigError("a deno step needs exactly one of config.script (code) and config.file")
        flags = deno_arguments(config.get("permissions") or {})
        timeout = check_timeout(config)
        if ctx.data is not None and not isinstance(ctx.data, Mapping):
            raise StepConfigError(
                f"deno steps need workflow data that is a dict, not {type(ctx.data).__qualname__}"
            )
        marker = f"##wfe-output-{secrets.token_hex(16)}"
        try:
            payload = json.dumps(
                {"data": ctx.data, "marker": marker}, ensure_ascii=True, allow_nan=False, default=str
            )
        except ValueError as exc:
            raise StepConfigError(f"the workflow data cannot be passed to Deno as JSON: {exc}") from exc
        deno = find_deno()
        lines = PrintedLines(ctx, _marker_parser(marker), keep_output_lines=False)
        with tempfile.TemporaryDirectory(prefix="wfe-deno-") as tmp:
            prelude = Path(tmp, "wfe_prelude.js")
            prelude.write_text(
                _PRELUDE.replace("__KEY__", _KEY_PATTERN).replace("__PAYLOAD__", json.dumps(payload)), encoding="utf-8"
            )
            if script is not None:
                if not isinstance(script, str) or not script.strip():
                    raise StepConfigError(f"config.script must be the script's code, not {script!r}")
                main = Path(tmp, "step.ts")
                main.write_text(script, encoding="utf-8")
                # The script is ours, in a temporary directory: no deno.json around it applies.
                flags.append("--no-config")
            else:
                if not isinstance(file, str | os.PathLike) or not os.path.isfile(file):
                    raise StepConfigError(f"config.file must be the path of a script file, not {file!r}")
                main = Path(file).resolve()
            argv = [deno, "run", *flags, "--preload", str(prelude), str(main)]
            env = {**os.environ, "DENO_DIR": deno_dir(), "NO_COLOR": "1", "DENO_NO_PROMPT": "1"}
            try:
                end = await run_process(argv, lines, env=env, timeout=timeout)
            finally:
                lines.keep_with(ctx)
        if end.code != 0:
            what = end.describe("the Deno script", timeout)
            stdout, stderr = lines.tail("stdout"), lines.tail("stderr")
            denied = _denied(stderr)
            if denied is not None:
                permission, target, hint = denied
                denial = (
                    f"it may not load remote code ({target})"
                    if permission == "dynamic_import"
                    else f"it was denied {permission} access to {target!r}"
                )
                raise DenoPermissionError(
                    permission, target, f"{what}: {denial}",
                    end.code, stdout, stderr, timed_out=end.timed_out, hint=hint,
                )  # fmt: skip
            raise StepCommandError(what, end.code, stdout, stderr, timed_out=end.timed_out)
        merge_outputs(ctx, lines.outputs)


def _marker_parser(marker: str) -> Any:
    """Finds ``marker {"key": ..., "value": ...}`` in a stdout line (the prelude's output)."""

    def parse(line: str) -> tuple[str, Any] | None:
        at = line.find(marker)
        if at < 0:
            return None
        try:
            found = json.loads(line[at + len(marker) :])
            return str(found["key"]), found["value"]
        except (ValueError, KeyError, TypeError):
            return None

    return parse


def _denied(stderr: list[str]) -> tuple[str, str, str] | None:
    """(permission, target, hint) when Deno's error says a permission was missing."""
    for line in reversed(stderr):
        for pattern, kind in _DENIED:
            match = pattern.search(line)
            if match is None:
                continue
            if kind is None:
                kind, target = match[1], match[2]
            else:
                target = next(group for group in match.groups() if group)
            if kind in PERMISSION_LISTS:
                return kind, target, f"allow it in the step's config: permissions: {{{kind}: [{json.dumps(target)}]}}"
            if kind == "run":
                return "run", target, "allow it in the step's config: permissions: {run: true}"
            if kind == "import":
                return (
                    "dynamic_import",
                    target,
                    "remote code is refused unless the step's config has permissions: {dynamic_import: true}",
                )
            return kind, target, f"wfe gives Deno steps no {kind} access"
    return None
