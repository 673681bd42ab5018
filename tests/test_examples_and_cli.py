"""Guard tests: the README's pizza example runs, and the ``wfe`` command works on its store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("db", ["memory://", "sqlite"])
def test_pizza_completes_the_order(tmp_path: Path, db: str) -> None:
    url = f"sqlite:///{tmp_path}/pizza.db" if db == "sqlite" else db
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for line in ("Margherita: cheese uneven", "looks perfect (attempt 2)", "DING!",
                 "Marco is driving", "order ORD-42 complete: 2 happy pizza(s)"):
        assert line in out
    assert out.index("DING!") < out.index("Cooling")  # the oven timer event came first
    # recur: the oven is checked until hot, and the parallel prep waits for it.
    assert out.count("thermometer reads") == 3
    assert out.index("450°F: hot") < out.index("stretching a large base")
    # schedule: the text goes out once, after the pizzas went in.
    assert out.count("your pizzas are in the oven") == 1
    assert out.index("pizza(s) in at 450°F") < out.index("your pizzas are in the oven")
    # sub_workflow + attach: the delivery run rings twice, and its result reaches the order.
    assert out.index("ring 1: no answer") < out.index("ring 2: the door opens")
    assert "delivered by Marco after 2 ring(s)" in out
    # cancel_condition: nobody tipped, so the offer closed when the pizzas arrived.
    assert "tip offer cancelled, tip none" in out
    if db == "sqlite":
        found = run("-m", "wfe._cli", "search", "--db", url, "--status", "complete")
        assert "pizza-delivery v1" in found.stdout and "pizza v1" in found.stdout, found.stdout


def test_pizza_with_a_declined_card_compensates(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", f"sqlite:///{tmp_path}/p.db",
               "--fail-payment")
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout
    # The failed step's compensation sequence first (void, then text), then the completed
    # sibling's, and no pizza.
    assert (out.index("payment voided") < out.index("card declined, nothing was charged")
            < out.index("ingredients released"))
    assert "Prep" not in out and "order ORD-42 cancelled" in out


def test_pizza_runs_again_on_the_same_file(tmp_path: Path) -> None:
    for _ in range(2):  # the default pizza.db is reused: old orders must not get in the way
        done = run(str(ROOT / "examples" / "pizza.py"), cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "order ORD-42 complete" in done.stdout
    assert (tmp_path / "pizza.db").exists()


def test_the_cli_lists_providers_and_shows_a_workflow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pizza.db"
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", url)
    wid = next(line.split()[5] for line in done.stdout.splitlines() if "started workflow" in line)

    providers = run("-m", "wfe._cli", "providers")
    assert providers.returncode == 0
    assert "memory://" in providers.stdout and "sqlite://" in providers.stdout

    shown = run("-m", "wfe._cli", "show", "--db", url, wid)
    assert shown.returncode == 0, shown.stderr
    assert "status     complete" in shown.stdout and "Quality check" in shown.stdout

    found = run("-m", "wfe._cli", "search", "--db", url, "sienna", "--status", "complete")
    assert wid in found.stdout and "1 of 1" in found.stdout

    missing = run("-m", "wfe._cli", "show", "--db", url, "no-such-id")
    assert missing.returncode == 3 and "no workflow with id 'no-such-id'" in missing.stderr


def test_telemetry_example_prints_one_trace_and_the_metrics() -> None:
    done = run(str(ROOT / "examples" / "telemetry.py"))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "span tree (one trace):" in out and out.count("wfe.start_workflow") == 1
    assert "step.name=ChargeCard, step.attempt=1, step.outcome=failed" in out
    assert "step.name=ChargeCard, step.attempt=2, step.outcome=next" in out
    assert "step.name=MakeSauce" in out and "step.name=GrateCheese" in out
    assert "wfe.steps.retries            1" in out
    assert "wfe.workflows.completed      1" in out
