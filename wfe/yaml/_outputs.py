"""What the shell and Deno steps share: outputs, environments and the lines a step printed.

``ShellStep`` (``_shell``) and ``DenoStep`` (``_deno``) feed a command's stdout and stderr into a
:class:`PrintedLines`, which finds the outputs among the stdout lines and keeps a bounded tail of
everything printed; after the run the tail goes into ``ctx.pointer.extension_attributes["output"]``
(success or failure) so ``wfe show`` can show it, and the outputs are merged into the workflow data.

Output lines. A stdout line ``##wfe[output key=value]`` sets output ``key``; the value is typed
by :func:`typed_value` (``true``/``false``, ``null``, integers, decimals, else the text).

Kept lines. ``extension_attributes["output"]`` is a list of str, oldest first, each
``"[stdout] text"`` or ``"[stderr] text"``; a first ``"[wfe] ..."`` entry says how many earlier
lines were not kept. Each stream keeps its last :data:`KEPT_LINES` lines and :data:`KEPT_CHARS`
characters (so a chatty stderr does not push out the end of stdout), in the order printed.

Environment. Workflow data reaches a shell command only as environment variables, never as
command text (:func:`data_environment`): a top-level key ``build_id`` becomes ``BUILD_ID``,
strings as they are and other values as JSON. Names that steer the shell, the dynamic loader or
an interpreter (:data:`PROTECTED_NAMES`, :data:`PROTECTED_PREFIXES`) are never set from data.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wfe_core.errors import WfeError

if TYPE_CHECKING:
    from wfe_core import StepExecutionContext

__all__ = [
    "KEPT_CHARS",
    "KEPT_LINES",
    "PROTECTED_NAMES",
    "PROTECTED_PREFIXES",
    "PrintedLines",
    "StepCommandError",
    "StepConfigError",
    "data_environment",
    "env_name",
    "merge_outputs",
    "parse_output_line",
    "typed_value",
    "watch_output",
]

#: How many printed lines a step keeps of each stream, and how many characters.
KEPT_LINES = 100
KEPT_CHARS = 32 * 1024
#: A kept line longer than this is cut (the whole line is still parsed for an output).
KEPT_LINE_CHARS = 4096
#: A line longer than this is split: a command printing megabytes without a newline must not
#: grow one buffer without bound.
MAX_LINE_CHARS = 1024 * 1024
#: How many lines of each stream an error message quotes.
ERROR_TAIL_LINES = 30

#: Environment variables that workflow data never sets: they decide which programs run, which
#: libraries are loaded, which start-up files an interpreter reads, or how a shell splits words.
#: A data key ``path`` or ``bash_env`` is not passed at all. (``config.env`` may still set them:
#: that is the workflow author's choice, not data's.)
PROTECTED_NAMES = frozenset(
    {
        "PATH", "HOME", "SHELL", "IFS", "ENV", "BASH_ENV", "CDPATH", "GLOBIGNORE", "SHELLOPTS",
        "BASHOPTS", "PS4", "PROMPT_COMMAND", "USER", "LOGNAME", "PWD", "OLDPWD", "TMPDIR",
        "SHLVL", "HOSTNAME", "TERM", "LANG", "LANGUAGE", "TZ", "HOSTALIASES", "RESOLV_HOST_CONF",
        "GCONV_PATH", "LOCPATH", "NLSPATH", "PERL5LIB", "PERL5OPT", "PERLLIB", "RUBYLIB",
        "RUBYOPT", "NODE_OPTIONS", "NODE_PATH", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "CLASSPATH",
        "SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
        "GIT_SSH", "GIT_SSH_COMMAND", "GIT_EXEC_PATH", "GIT_CONFIG_GLOBAL", "EDITOR", "VISUAL",
        "PAGER", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR",
    }
)  # fmt: skip
#: Prefixes of protected names: the dynamic loader (``LD_PRELOAD``, ``LD_LIBRARY_PATH``,
#: macOS ``DYLD_*``), exported bash functions, Python's and Deno's own settings, glibc tunables,
#: and wfe's own.
PROTECTED_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_", "PYTHON", "DENO_", "MALLOC_", "GLIBC_", "LC_", "WFE_")

_OUTPUT = re.compile(r"##wfe\[output (?P<key>[^=\]]*)=(?P<value>.*)\]\s*$")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_INT = re.compile(r"-?(?:0|[1-9][0-9]*)")
_FLOAT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][-+]?[0-9]+)?|[eE][-+]?[0-9]+)")


class StepConfigError(WfeError):
    """A shell or Deno step's ``config`` is unusable (the message names the key), or what it
    names cannot be started (no such shell, working directory or Deno binary)."""


class StepCommandError(WfeError):
    """A shell command or Deno script failed: a non-zero exit, a signal or a timeout.

    Attributes:
        exit_code: the exit status, ``-N`` for "killed by signal N", None when it timed out.
        timed_out: whether wfe killed it at its ``timeout``.
        stdout_tail: the last lines it printed on stdout.
        stderr_tail: the last lines it printed on stderr.
    """

    def __init__(
        self,
        what: str,
        exit_code: int | None,
        stdout_tail: list[str],
        stderr_tail: list[str],
        *,
        timed_out: bool = False,
        hint: str = "",
    ) -> None:
        self.exit_code = exit_code
        self.timed_out = timed_out
        self.stdout_tail = stdout_tail
        self.stderr_tail = stderr_tail
        parts = [what + (f"; {hint}" if hint else "")]
        for name, tail in (("stdout", stdout_tail), ("stderr", stderr_tail)):
            if tail:
                parts.append(f"--- {name} (last {len(tail)} lines) ---")
                parts.extend(tail)
        super().__init__("\n".join(parts))


def typed_value(text: str) -> Any:
    """Type an output value: ``true``/``false`` → bool, ``null`` → None, ``12`` → int,
    ``1.5``/``1e3`` → float, anything else (``007``, ``1.2.3``, ``True``) → the text itself."""
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        value = float(text)
        if value not in (float("inf"), float("-inf")):
            return value
    return text


def parse_output_line(line: str) -> tuple[str, Any] | None:
    """The ``(key, typed value)`` of an output line ``##wfe[output key=value]``, else None.

    The value runs to the last ``]`` of the line, so it may hold ``]`` and ``=``; the key is a
    name (letters, digits, ``_``, ``.``, ``-``; not starting with a digit). Leading and trailing
    whitespace of the line is ignored; a value cannot hold a newline.
    """
    match = _OUTPUT.fullmatch(line.strip())
    if match is None:
        return None
    key = match["key"].strip()
    if not _KEY.fullmatch(key):
        return None
    return key, typed_value(match["value"])


def env_name(key: str) -> str | None:
    """The environment variable a data key becomes (``build-id`` → ``BUILD_ID``), or None when
    the key cannot be one (empty, or starts with a digit) or is protected."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", key).upper()
    if not name or name[0].isdigit():
        return None
    if name in PROTECTED_NAMES or name.startswith(PROTECTED_PREFIXES):
        return None
    return name


def data_environment(data: Any) -> dict[str, str]:
    """The environment variables that carry the workflow data's top-level keys to a command.

    Strings are passed as they are, everything else as JSON (``true``, ``42``, ``{"a": 1}``,
    ``null``). Keys that are protected or cannot name a variable are left out.

    Raises:
        StepConfigError: the data is not a dict (or None), or a value holds a NUL character,
            which no environment variable can carry.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise StepConfigError(
            f"shell and Deno steps need workflow data that is a dict, not {type(data).__qualname__}"
        )
    env: dict[str, str] = {}
    for key, value in data.items():
        name = env_name(str(key))
        if name is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
        if "\0" in text:
            raise StepConfigError(
                f"workflow data {key!r} holds a NUL character, which an environment variable "
                "cannot carry; remove it from the data"
            )
        env[name] = text
    return env


def merge_outputs(ctx: StepExecutionContext, outputs: Mapping[str, Any]) -> None:
    """Merge a step's outputs into the workflow data (a dict; None becomes one)."""
    if not outputs:
        return
    if ctx.data is None:
        ctx.data = {}
    if not isinstance(ctx.data, dict):
        raise StepConfigError(
            f"step outputs need workflow data that is a dict, not {type(ctx.data).__qualname__}"
        )
    ctx.data.update(outputs)


#: Called with (ctx, stream, line) for every line a shell or Deno step prints; see watch_output.
OutputListener = Callable[["StepExecutionContext", str, str], None]
_listeners: list[OutputListener] = []


@contextmanager
def watch_output(listener: OutputListener) -> Iterator[None]:
    """Call ``listener(ctx, stream, line)`` for each line any shell or Deno step of this process
    prints while the block runs (``stream`` is ``"stdout"`` or ``"stderr"``), as it is printed.

    For ``wfe run``, which streams each step's output under its name. The listener runs on the
    event loop: it must be quick and must not raise (what it raises is ignored).
    """
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class PrintedLines:
    """Takes a command's stdout and stderr as bytes and keeps what matters of them.

    Args:
        ctx: the step's context (passed to the listeners of :func:`watch_output`).
        parse: finds an output in a stdout line: ``(key, value)``, or None for a plain line.
        keep: whether a line that held an output is kept with the printed lines.
    """

    def __init__(
        self,
        ctx: StepExecutionContext | None,
        parse: Callable[[str], tuple[str, Any] | None] = parse_output_line,
        *,
        keep_output_lines: bool = True,
    ) -> None:
        self.ctx = ctx
        self.parse = parse
        self.keep_output_lines = keep_output_lines
        self.outputs: dict[str, Any] = {}
        # Per stream: (order printed, line); merged by order for kept().
        self.lines: dict[str, deque[tuple[int, str]]] = {
            "stdout": deque(maxlen=KEPT_LINES),
            "stderr": deque(maxlen=KEPT_LINES),
        }
        self.dropped = 0
        self._count = 0
        self.notes: list[str] = []
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, stream: str, chunk: bytes) -> None:
        """Take the next bytes of ``stream``; complete lines are handled at once."""
        buffer = self._partial[stream] + chunk
        *complete, rest = buffer.split(b"\n")
        for raw in complete:
            self._line(stream, raw)
        while len(rest) > MAX_LINE_CHARS:
            self._line(stream, rest[:MAX_LINE_CHARS])
            rest = rest[MAX_LINE_CHARS:]
        self._partial[stream] = rest

    def close(self) -> None:
        """The streams ended: handle what is left after their last newline."""
        for stream, rest in self._partial.items():
            if rest:
                self._line(stream, rest)
            self._partial[stream] = b""

    def note(self, text: str) -> None:
        """Keep a line of wfe's own (``[wfe] ...``) after the printed lines."""
        self.notes.append(f"[wfe] {text}")

    def _line(self, stream: str, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").removesuffix("\r")
        keep = True
        if stream == "stdout" and "##wfe" in line:
            found = self.parse(line)
            if found is not None:
                key, value = found
                self.outputs[key] = value
                keep = self.keep_output_lines
        if keep:
            kept = self.lines[stream]
            if len(kept) == KEPT_LINES:
                self.dropped += 1
            cut = line if len(line) <= KEPT_LINE_CHARS else line[:KEPT_LINE_CHARS] + " …[cut]"
            kept.append((self._count, cut))
            self._count += 1
        for listener in list(_listeners):
            if self.ctx is not None:
                try:
                    listener(self.ctx, stream, line)
                except Exception:  # a listener must not fail the step it watches
                    pass

    def tail(self, stream: str, count: int = ERROR_TAIL_LINES) -> list[str]:
        """The last ``count`` kept lines of one stream."""
        return [text for _, text in list(self.lines[stream])[-count:]]

    def kept(self) -> list[str]:
        """The kept lines, oldest first, as stored in ``extension_attributes["output"]``."""
        entries: list[tuple[int, str]] = []
        dropped = self.dropped
        for stream, lines in self.lines.items():
            tagged = [(order, f"[{stream}] {text}") for order, text in lines]
            total, start = 0, len(tagged)
            while start > 0 and total + len(tagged[start - 1][1]) <= KEPT_CHARS:
                start -= 1
                total += len(tagged[start][1])
            dropped += start
            entries += tagged[start:]
        entries.sort()
        head = [f"[wfe] {dropped} earlier lines not kept"] if dropped else []
        return head + [text for _, text in entries] + self.notes

    def keep_with(self, ctx: StepExecutionContext) -> None:
        """Store the kept lines with the step's execution pointer (persisted with the pass)."""
        ctx.pointer.extension_attributes["output"] = self.kept()
