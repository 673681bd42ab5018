"""``python -m benchmarks.rust_sibling`` without cargo says why and measures nothing.

The comparison itself builds the Rust sibling from crates.io (minutes) and is a benchmark, not a
test; this checks the part CI relies on: on a machine without cargo the script exits 0, names
what is missing, and prints no figure. The wfe half of it is ``_wfe_cases.chain``, which the
harness's smoke test runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_without_cargo_it_is_skipped_with_the_reason(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty directory: no cargo on the path
    out = subprocess.run([sys.executable, "-m", "benchmarks.rust_sibling"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "skipped: cargo is not installed" in out.stderr
    assert "steps/s" not in out.stdout + out.stderr
