"""The benchmark harness works: ``python -m benchmarks.run --smoke`` exits 0 and writes its JSON.

Benchmarks are not tests; this only checks that every entry of the harness runs at tiny sizes
(no timing is asserted), so that a change to the engine or the harness cannot break
``python -m benchmarks.run`` unnoticed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Every entry of the harness, and the providers each must have run on.
WFE_ENTRIES = [
    "chain",
    "chain_async",
    "chain_200",
    "wakeup_event",
    "wakeup_event_burst",
    "wakeup_delay",
    "wakeup_delay_burst",
    "long_loop",
    "sleepers",
    "fanout",
    "fanout_async",
]


@pytest.mark.slow
def test_smoke_mode_runs_every_entry(tmp_path: Path) -> None:
    out = tmp_path / "smoke.json"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["mode"] == "smoke"
    cases = results["cases"]
    for entry in WFE_ENTRIES:
        for provider in ("memory", "sqlite"):
            assert cases[entry][provider]["status"] == "ok", (entry, provider, cases[entry][provider])
    assert cases["chain"]["sqlite_normal"]["status"] == "ok"
    serial = cases["chain_serial"]["sqlite"]  # smoke runs it on SQLite only
    assert serial["status"] == "ok", serial
    assert serial["serial_starts"] and serial["start_p50_ms"] <= serial["start_p99_ms"]
    assert cases["purge"]["sqlite"]["status"] == "ok", cases["purge"]["sqlite"]
    for level in ("NORMAL", "FULL"):
        assert cases["raw_commits"][level]["status"] == "ok"
    for target in ("sqlite", "postgres"):
        assert cases["dbos_chain"][target]["status"] in ("ok", "skipped"), cases["dbos_chain"][target]
    sleepers = cases["sleepers"]["sqlite"]
    assert sleepers["parked_s"] >= sleepers["first_steps_s"] and len(sleepers["idle_cpu_per_s_pct_of_core"]) >= 1
    if "postgresql" in cases["chain"]:  # the test server is configured: its own entries ran
        for entry in ("chain_hosts_1", "chain_hosts_3", "wakeup_cross"):
            assert cases[entry]["postgresql"]["status"] == "ok", (entry, cases[entry])
        assert cases["raw_commits"]["POSTGRESQL"]["status"] == "ok"
    assert results["figures"], "no figures were computed"
    assert "steps/s" in proc.stdout
