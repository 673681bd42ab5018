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


def test_pizza_with_a_declined_card_compensates(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "pizza.py"), "--db", f"sqlite:///{tmp_path}/p.db",
               "--fail-payment")
    assert done.returncode == 3, done.stdout + done.stderr
    out = done.stdout
    # The failed step's compensation first, then the completed sibling's, and no pizza.
    assert out.index("payment voided") < out.index("ingredients released")
    assert "Prep" not in out and "order ORD-42 cancelled" in out


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
    assert missing.returncode == 2 and "no workflow with id 'no-such-id'" in missing.stderr
