"""What a type checker sees of wfe in a user's program (issue 27).

mypy (the pinned one from the ``typecheck`` extra) runs ``--strict`` on a small user program,
on the README's tour and on ``examples/pizza.py``: the program's ``reveal_type`` lines must
show the workflow's data type flowing from ``WorkflowBuilder(Order)`` to ``ctx.data``,
``instance.data`` and ``handle.wait()``, and exactly its lines marked ``# E: text`` must be
errors saying that text. The editable-install test makes a fresh venv, installs the checkout
into it with ``pip install -e`` and runs mypy against that venv from a project elsewhere.

mypy's cache lives in the system's temp directory, keyed by mypy's version, so only a first run
on a machine pays for analysing wfe and its dependencies (mypy checks each cached module
against its source, so a stale entry is never used).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api", reason='mypy is in the "typecheck" extra')
import mypy.version  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(tempfile.gettempdir()) / f"wfe-test-typing-mypy-{mypy.version.__version__}"

USER_PROGRAM = '''
from __future__ import annotations

from datetime import timedelta

import attrs

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowHost,
)


@attrs.define
class Order:
    order_id: str = ""
    items: list[str] = attrs.Factory(list)
    paid: bool = False


@attrs.define
class Invoice:
    number: int = 0


class Charge(StepBody[Order]):
    amount: int = 0

    def run(self, ctx: StepExecutionContext[Order]) -> None:
        reveal_type(ctx.data)  # R: user.Order
        ctx.data.paid = True
        ctx.data.paidd = True  # E: "Order" has no attribute "paidd"
        ctx.data.paid = "yes"  # E: Incompatible types in assignment


class Untyped(StepBody):
    def run(self, ctx: StepExecutionContext) -> None:
        reveal_type(ctx.data)  # R: Any
        ctx.data.anything = 1


def notify(ctx: StepExecutionContext[Order]) -> None:
    print(ctx.data.order_id)


order_flow = (
    WorkflowBuilder(Order)
    .start_with(Charge)
    .output(amount=lambda step: step.amount)
    .output(bad=lambda step: step.amout)  # E: "Charge" has no attribute "amout"
    .then(Untyped)
    .then(notify)
    .then_fn(lambda ctx: print(ctx.data.order_idd))  # E: "Order" has no attribute "order_idd"
    .for_each(lambda d: d.items, lambda b: b.start_with(Charge))
    .on_error(ErrorBehavior.retry(interval=5))  # E: Argument "interval" to "retry" of "ErrorBehavior"
    .build("order", 1)
)
invoice_flow = WorkflowBuilder(Invoice).start_with(lambda ctx: ExecutionResult.next()).build("invoice")
reveal_type(order_flow)  # R: wfe_core._definition.WorkflowDefinition[user.Order]
reveal_type(WorkflowBuilder())  # R: wfe_core._builder.WorkflowBuilder[dict[str, Any]]
ExecutionResult.sleep("soon")  # E: Argument 1 to "sleep" of "ExecutionResult"


async def main() -> None:
    async with WorkflowHost() as host:
        host.register(order_flow)
        handle = await host.start(order_flow, Order("o-1", ["book"]))
        reveal_type(handle)  # R: wfe_core._handle.WorkflowHandle[user.Order]
        reveal_type(await handle.wait(timeout=5))  # R: wfe_core._models.WorkflowInstance[user.Order]
        instance = await handle.get()
        reveal_type(instance.data)  # R: user.Order
        instance.data.paidd  # E: "Order" has no attribute "paidd"
        await host.start(invoice_flow, Order())  # E: Cannot infer value of type parameter "D" of "start"
        wid = await host.start_workflow("order", Order())
        reveal_type((await host.wait_for_workflow(wid)).data)  # R: Any
'''


def _tour() -> str:
    """The first Python block of the README's "A short tour"."""
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## A short tour") :]
    match = re.search(r"```python\n(.*?)```", tour, re.S)
    assert match, "the README's tour has no python block"
    return match.group(1)


def _run_mypy(project: Path, files: list[Path], *extra: str) -> list[tuple[str, int, str, str]]:
    """mypy --strict on ``files``: (file name, line, severity, message) for each diagnostic."""
    config = project / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {ROOT}\n")
    # mypy raises the process's recursion limit for good; the tests that run after this one
    # in the same worker expect Python's own.
    limit = sys.getrecursionlimit()
    try:
        out, err, status = mypy_api.run(
            ["--strict", "--config-file", str(config), "--cache-dir", str(CACHE),
             "--hide-error-context", "--no-pretty", "--show-error-codes", *extra,
             *map(str, files)]
        )
    finally:
        sys.setrecursionlimit(limit)
    assert status in (0, 1), f"mypy could not run:\n{out}{err}"
    found = []
    for line in out.splitlines():
        m = re.match(r"(.+?):(\d+): (error|note): (.*)", line)
        if m:
            found.append((Path(m[1]).name, int(m[2]), m[3], m[4]))
    return found


def _marked(source: str, mark: str) -> dict[int, str]:
    """Line number -> the text after ``# {mark}:`` on that line."""
    return {
        n: line.split(f"# {mark}: ", 1)[1].strip()
        for n, line in enumerate(source.splitlines(), 1)
        if f"# {mark}: " in line
    }


@pytest.mark.slow  # a first run on a machine analyses wfe and its dependencies (~5 s)
def test_the_checker_sees_the_data_type_in_a_user_program_the_tour_and_the_pizza_shop(
    tmp_path: Path,
) -> None:
    user = tmp_path / "user.py"
    user.write_text(USER_PROGRAM)
    tour = tmp_path / "tour.py"
    tour.write_text(_tour())
    found = _run_mypy(tmp_path, [user, tour, ROOT / "examples" / "pizza.py"])

    others = [f for f in found if f[0] != "user.py"]
    assert others == [], "the README's tour and examples/pizza.py must pass mypy --strict"

    reveals = {line: msg for name, line, sev, msg in found if sev == "note" and "Revealed type" in msg}
    for line, expected in _marked(USER_PROGRAM, "R").items():
        assert reveals.get(line) == f'Revealed type is "{expected}"', (line, found)
    assert set(reveals) == set(_marked(USER_PROGRAM, "R"))

    errors = {line: msg for name, line, sev, msg in found if sev == "error"}
    expected_errors = _marked(USER_PROGRAM, "E")
    assert set(errors) == set(expected_errors), found
    for line, text in expected_errors.items():
        assert text in errors[line], (line, errors[line])


def _base_python() -> Path:
    """The interpreter this venv was made from: a fresh venv is made from it."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (Path(sys.base_prefix) / "bin" / name, Path(sys.base_prefix) / "bin" / "python3"):
        if candidate.exists():
            return candidate
    pytest.skip(f"no base interpreter under {sys.base_prefix}")


@pytest.mark.slow  # a venv, an editable install and a mypy run (~8 s)
def test_an_editable_install_is_visible_to_mypy(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([str(_base_python()), "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This environment's packages (setuptools, attrs, ...) stand in for what pip would fetch:
    # --no-deps and --no-build-isolation keep the install offline and quick. PYTHONPATH
    # entries are not site directories, so their .pth files (this checkout's own editable
    # install) do not count: only what the fresh venv holds can make `wfe` visible.
    ours = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": ours, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--no-build-isolation", "-e", str(ROOT)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )
    assert not list(site.glob("__editable___*finder.py")), "an import-hook finder mypy cannot follow"

    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text(textwrap.dedent('''
        import attrs
        from wfe import StepExecutionContext, WorkflowBuilder

        @attrs.define
        class Order:
            paid: bool = False

        def pay(ctx: StepExecutionContext[Order]) -> None:
            ctx.data.paid = True

        flow = WorkflowBuilder(Order).start_with(pay).build("order")
        reveal_type(flow)
    '''))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", "--cache-dir",
         str(CACHE), "--python-executable", str(python), "app.py"],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )
    assert checked.stdout.strip() == (
        'app.py:13: note: Revealed type is "wfe_core._definition.WorkflowDefinition[app.Order]"'
    ), checked.stdout + checked.stderr
