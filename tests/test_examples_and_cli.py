"""Guard tests: the README's pizza example tells its story, and the ``wfe`` command works on its
store."""

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


def lines_with(out: str, text: str) -> list[int]:
    """The positions in ``out`` of every line that contains ``text``."""
    return [n for n, line in enumerate(out.splitlines()) if text in line]


@pytest.mark.parametrize("db", ["memory://", "sqlite"])
def test_pizza_runs_three_orders_through_every_feature(tmp_path: Path, db: str) -> None:
    url = f"sqlite:///{tmp_path}/pizza.db" if db == "sqlite" else db
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", url)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "order ORD-42 complete: 3 happy pizza(s), delivered by Marco after 2 ring(s)" in out
    # then_fn prints the ticket; .input gives the text step its message.
    assert "ORD-42: Margherita, Funghi, Diavola" in out
    assert "to Sienna: order ORD-42 confirmed, $42.47; the kitchen has it" in out
    # A user task: the manager is asked, the script approves, and only then is the card charged.
    asked = "the manager is asked: Approve order ORD-42: 3 pizzas for $42.47? (approve or decline)"
    assert out.index(asked) < out.index("approved order ORD-42") < out.index("charged $42.47")
    # suspend and terminate, while ORD-42 waited for the manager; ORD-43 paid with a voucher,
    # so decide().branch took it down the voucher branch, not the card's.
    assert "ORD-43 suspended: ConnectionError: voucher service unreachable" in out
    assert "ORD-44 terminated: NotOnTheMenu: Pineapple Fudge is not on the menu" in out
    assert out.index("ORD-44 terminated") < out.index("approved order ORD-42")
    assert "to the card" not in out.split("approved order ORD-42")[0]
    # recur: the oven is checked until hot, and the parallel prep waits for it.
    assert out.count("thermometer reads") == 3
    assert out.index("450°F: hot") < out.index("stretching a large base")
    # for_each(parallel=True): every pizza is stretched before any is topped (one pass each);
    # the failed quality check is retried by the default error behaviour (it has no on_error).
    assert max(lines_with(out, "stretching a")) < min(lines_with(out, "Toppings"))
    assert out.index("Margherita: cheese uneven") < out.index("Margherita: looks perfect (attempt 2)")
    # The oven is an activity answered by the worker; its result starts the cooling loop.
    assert (out.index("3 pizza(s) of ORD-42 in at 450°F") < out.index("DING! baked")
            < out.index("Cooling"))
    # schedule: the text goes out once, while the pizzas bake.
    assert out.count("your pizzas are in the oven") == 1
    assert out.index("in at 450°F") < out.index("your pizzas are in the oven") < out.index("DING!")
    # sub_workflow + attach: the delivery run rings twice, and its result reaches the order.
    assert out.index("ring 1: no answer") < out.index("ring 2: the door opens")
    # cancel_condition(proceed_after_cancel=True): nobody tipped, the offer closed when the
    # pizzas arrived, and the branch went on to thank the customer.
    assert "tip offer cancelled, tip none" in out
    assert out.index("ring 2: the door opens") < out.index("Sienna, enjoy! (tip: none)")
    # The middleware timed the steps: a line per ended workflow, and a summary.
    assert "ORD-44 terminated: 1 step run(s)" in out
    assert len(lines_with(out, "Timer          ORD-42 complete: ")) == 1
    assert len(lines_with(out, "Timer          pizza-delivery complete: 3 step run(s)")) == 1
    assert "step runs in all" in out.splitlines()[-1]
    if db == "sqlite":
        found = run("-m", "wfe._cli", "search", "--db", url, "--status", "complete")
        assert "pizza-delivery v1" in found.stdout and "pizza v1" in found.stdout, found.stdout


def test_pizza_with_a_declined_card_compensates(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", f"sqlite:///{tmp_path}/p.db",
               "--fail-payment")
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout
    # Approved, then declined: the failed step's compensation sequence first (void, then
    # text), then the completed sibling's, and no pizza.
    assert out.index("approved order ORD-42") < out.index("card declined for $42.47")
    assert (out.index("payment voided") < out.index("card declined, nothing was charged")
            < out.index("ingredients released"))
    assert "Prep" not in out and "order ORD-42 cancelled" in out


@pytest.mark.slow  # the example twice
def test_pizza_runs_again_on_the_same_file(tmp_path: Path) -> None:
    for _ in range(2):  # the default pizza.db is reused: old orders must not get in the way
        done = run(str(ROOT / "examples" / "pizza.py"), cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "order ORD-42 complete" in done.stdout and "ORD-43 suspended" in done.stdout
    assert (tmp_path / "pizza.db").exists()


@pytest.mark.slow  # the example, then six commands
def test_the_cli_lists_providers_and_shows_a_workflow(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pizza.db"
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", url)
    wid = next(line.split()[5] for line in done.stdout.splitlines() if "started workflow" in line)
    suspended = next(line.split("`wfe resume ")[1].split("`")[0]
                     for line in done.stdout.splitlines() if "wfe resume" in line)

    providers = run("-m", "wfe._cli", "providers")
    assert providers.returncode == 0
    assert "memory://" in providers.stdout and "sqlite://" in providers.stdout

    shown = run("-m", "wfe._cli", "show", "--db", url, wid)
    assert shown.returncode == 0, shown.stderr
    assert "status     complete" in shown.stdout and "Quality check" in shown.stdout
    shown = run("-m", "wfe._cli", "show", "--db", url, suspended)
    assert shown.returncode == 0, shown.stderr
    assert "status     suspended" in shown.stdout and "Redeem voucher" in shown.stdout

    found = run("-m", "wfe._cli", "search", "--db", url, "sienna", "--status", "complete")
    assert wid in found.stdout and "1 of 1" in found.stdout
    tasks = run("-m", "wfe._cli", "tasks", "--db", url)  # the manager answered the only one
    assert tasks.returncode == 0 and "no open user tasks" in tasks.stdout, tasks.stdout

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
