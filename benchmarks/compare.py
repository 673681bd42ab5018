"""Run one harness workload on several wfe commits in the same sitting, interleaved.

``python -m benchmarks.compare REV [REV ...]`` (``.`` is this working tree). Each revision gets a
git worktree and a virtual environment of its own under ``--dir`` (made once, then reused:
entry points are per install, so a tree needs its own ``pip install -e``). Every revision runs
*this* tree's ``_wfe_cases.py``, copied into a scratch directory outside the trees, so the
workload is the same code on every commit and ``import wfe`` resolves to that revision's
install. Rounds interleave the revisions (A B C, A B C, ...) so a machine that is busier for a
while costs every revision alike; the table gives each revision's median and every round.

Examples::

    python -m benchmarks.compare 8a4916e .                      # chain_serial on SQLite, 3 rounds
    python -m benchmarks.compare 8a4916e e9e7f96 . --entry chain --provider memory --rounds 5
    python -m benchmarks.compare dae8287 . --entry chain --provider postgresql  # needs the server

This is how the issue's "same sitting" figures for an older commit are taken; it does not
write into ``benchmarks/results/`` (``--out`` keeps the rounds as JSON).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .run import (
    HERE,
    PROVIDERS,
    REPO,
    drop_postgres_schema,
    postgres_schema_url,
    run_json,
    wfe_entries,
)

#: Figures shown per revision (the case's keys); missing ones are left out.
SHOWN = ("steps_per_s", "cpu_per_step_us", "start_p50_ms", "start_p99_ms", "p50_ms", "p99_ms",
         "parked_per_s", "create_s")


def prepare(rev: str, base: Path, provider: str = "sqlite") -> tuple[str, Path]:
    """(label, python) for one revision: this tree's venv for ``.``, else a worktree and venv."""
    if rev == ".":
        return "working tree", Path(sys.executable)
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.strip()
    tree, venv = base / f"tree-{commit}", base / f"venv-{commit}"
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=REPO,
                       check=True, capture_output=True)
    python = venv / "bin" / "python"
    # The provider's extra (its driver), for a venv made for another provider too.
    extra = {"postgresql": "[postgres]"}.get(provider, "")
    driver = {"postgresql": "psycopg"}.get(provider)
    fresh = not python.exists()
    if fresh:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if fresh or (driver and subprocess.run([str(python), "-c", f"import {driver}"],
                                           capture_output=True).returncode):
        print(f"compare: installing {commit}{extra} into {venv} ...", file=sys.stderr, flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "-e", f"{tree}{extra}"], check=True)
    return commit, python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="+", help="commits to compare; '.' is this working tree")
    parser.add_argument("--entry", default="chain_serial", help="a wfe entry of the harness")
    parser.add_argument("--provider", default="sqlite", choices=["memory", "sqlite", "postgresql"],
                        help="postgresql: a schema per round on the WFE_TEST_POSTGRES_URL server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--params", default="", help="JSON overriding the entry's full params")
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "wfe-compare")
    parser.add_argument("--out", type=Path, default=None, help="write every round as JSON")
    args = parser.parse_args(argv)

    entries = {e.name: e for e in wfe_entries(20_000) if e.module == "_wfe_cases"}
    if args.entry not in entries:
        parser.error(f"unknown entry {args.entry!r}; choose from {', '.join(entries)}")
    entry = entries[args.entry]
    params = {**entry.full, **(json.loads(args.params) if args.params else {})}
    args.dir.mkdir(parents=True, exist_ok=True)
    revs = [prepare(rev, args.dir, args.provider) for rev in args.revs]

    scratch = Path(tempfile.mkdtemp(prefix="wfe-compare-"))
    (scratch / "benchmarks").mkdir()
    (scratch / "benchmarks" / "__init__.py").write_text("")
    shutil.copy(HERE / "_wfe_cases.py", scratch / "benchmarks" / "_wfe_cases.py")
    rounds: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in revs}
    try:
        for i in range(args.rounds):
            for label, python in revs:
                work = Path(tempfile.mkdtemp(prefix="wfe-compare-run-"))
                url = (postgres_schema_url(work) if args.provider == "postgresql"
                       else PROVIDERS[args.provider](work))
                try:
                    cmd = [str(python), "-m", "benchmarks._wfe_cases", entry.case,
                           "--url", url, "--params", json.dumps(params)]
                    result = run_json(cmd, timeout=1800, cwd=scratch)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                    if args.provider == "postgresql":
                        drop_postgres_schema(url)
                rounds[label].append(result)
                shown = {k: round(result[k], 2) for k in SHOWN if result.get(k) is not None}
                print(f"round {i + 1} {label}: {result.get('error') or shown}", file=sys.stderr,
                      flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print(f"{args.entry} on {args.provider}, {args.rounds} interleaved rounds, params {params}")
    for key in SHOWN:
        for label, results in rounds.items():
            values = [r[key] for r in results if r.get("status") == "ok" and r.get(key) is not None]
            if values:
                runs = ", ".join(f"{v:,.2f}" for v in values)
                print(f"  {key:<16} {label:<14} median {statistics.median(values):>10,.2f}  ({runs})")
    if args.out:
        args.out.write_text(json.dumps({"entry": args.entry, "provider": args.provider,
                                        "params": params, "rounds": rounds}, indent=2) + "\n")
    return 0 if all(r.get("status") == "ok" for rs in rounds.values() for r in rs) else 1


if __name__ == "__main__":
    sys.exit(main())
