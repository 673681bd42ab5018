"""Writes the recorded benchmark figures into the READMEs, so the prose cannot drift from them.

``python -m benchmarks.readme`` takes the latest full run in ``benchmarks/results/`` (a JSON
that ``python -m benchmarks.run`` wrote without ``--smoke``, ``--only``, ``--providers`` or
``--no-dbos``; commit it with ``git add -f``, the directory is ignored) and rewrites the table
between the ``FIGURES_BEGIN`` and ``FIGURES_END`` markers of ``README.md`` (headline figures,
see ``HEADLINES``) and of ``benchmarks/README.md`` (every figure), each under a line naming the
JSON, the commit, the date and the machine. ``--check`` changes nothing and exits 1 when a
table differs from what the run gives. ``tests/benchmarks/test_readme_figures.py`` reads the
tables back and fails on any figure the latest run does not show.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
FIGURES_BEGIN = "<!-- benchmark figures: written by python -m benchmarks.readme; do not edit -->"
FIGURES_END = "<!-- end of benchmark figures -->"
#: (section starts with, figure starts with) of the figures the project README quotes.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("chain 1000x10 sync", "steps/s"),
    ("chain 1000x10 sync", "CPU per step"),
    ("chain 1000x10 sync", "x DBOS"),
    ("chain 1000x10 sync, starts one by one", "steps/s"),
    ("chain 1000x10 sync, starts one by one", "start_workflow p"),
    ("chain 1000x10 sync, starts one by one", "x DBOS"),
    ("wake-up: event, paced", "publish -> step p99"),
    ("wake-up: 50 ms delay, paced", "lateness p99"),
    ("long loop", "last / first"),
    ("sleepers", "parked per second"),
    ("sleepers", "idle host CPU"),
)
COLUMNS = ("case", "figure", "provider", "value", "target", "")


@dataclass(frozen=True)
class Row:
    """One figure as the README shows it (the value already formatted)."""

    case: str
    figure: str
    provider: str
    value: str
    target: str
    verdict: str


def full_runs(results: Path = RESULTS) -> list[Path]:
    """The complete full runs recorded in ``results``, oldest first."""
    runs = []
    for path in sorted(results.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("mode") == "full" and data.get("complete") is True:
            runs.append(path)
    return runs


def latest_run(results: Path = RESULTS) -> Path:
    """The latest complete full run; a clear error when there is none."""
    runs = full_runs(results)
    if not runs:
        raise SystemExit(f"no complete full run in {results}: run `python -m benchmarks.run` "
                         "(without --smoke, --only, --providers or --no-dbos) first")
    return runs[-1]


def _value(figure: dict[str, Any]) -> str:
    from .run import _fmt

    unit = figure["unit"]
    text = _fmt(figure["value"], unit)
    return text if unit == "x" or figure["value"] is None else f"{text} {unit}"


def rows_of(run: dict[str, Any], headline_only: bool) -> list[Row]:
    """The run's figures as README rows: every one, or the ``HEADLINES`` (default settings)."""
    out = []
    for f in run["figures"]:
        if headline_only and f["provider"] == "sqlite_normal":
            continue
        if headline_only and not any(
            f["section"].startswith(s) and f["figure"].startswith(g)
            and (s != "chain 1000x10 sync" or f["section"] == s)  # not its serial sibling
            for s, g in HEADLINES
        ):
            continue
        out.append(Row(f["section"], f["figure"], f["provider"], _value(f), f["target"],
                       f["verdict"]))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def provenance(path: Path, run: dict[str, Any]) -> str:
    """The line above a table: which run, commit, date and machine the figures come from."""
    m = run["machine"]
    count = run.get("params", {}).get("sleepers")
    sleepers = f"{count:,}" if isinstance(count, int) else "?"
    versions = run.get("engine_versions", [])
    changed = (f"; the engine changed during the run ({len(versions)} versions: others' commits "
               "in the shared tree; each entry's `wfe_commit` in the JSON says which it ran on)"
               if len(versions) > 1 else "")
    took = ""
    if run.get("finished"):
        minutes = (datetime.fromisoformat(run["finished"])
                   - datetime.fromisoformat(run["started"])).total_seconds() / 60
        took = f" ({minutes:.0f} min)"
    return (f"Run `{path.relative_to(REPO).as_posix()}`: wfe `{m.get('wfe_commit', '?')}`, "
            f"{run['started'][:16].replace('T', ' ')} UTC{took}, {m.get('cpus')} CPUs "
            f"({m.get('cpu_model', '?')}), {m.get('memory_gb', '?')} GB, Python {m['python']}, "
            f"SQLite {m['sqlite']}; {sleepers} sleepers{changed}.")


def table(path: Path, run: dict[str, Any], headline_only: bool) -> str:
    """The block between the markers (markers excluded)."""
    lines = [provenance(path, run), "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    for r in rows_of(run, headline_only):
        cells = (r.case, r.figure, r.provider, r.value, r.target, r.verdict)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def between_markers(text: str, where: str) -> tuple[int, int]:
    """(start, end) of the block between the markers in ``text``; names ``where`` if absent."""
    start, end = text.find(FIGURES_BEGIN), text.find(FIGURES_END)
    if start < 0 or end < start:
        raise SystemExit(f"{where} has no figures block: add the lines\n{FIGURES_BEGIN}\n"
                         f"{FIGURES_END}\nwhere the table goes")
    return start + len(FIGURES_BEGIN), end


def quoted_rows(text: str, where: str) -> list[Row]:
    """The rows of the table between the markers of a README (for the test)."""
    start, end = between_markers(text, where)
    rows = []
    for line in text[start:end].splitlines():
        if not line.startswith("| ") or line.startswith("| case |"):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        rows.append(Row(*cells))
    return rows


def unbacked(text: str, where: str, path: Path, run: dict[str, Any]) -> list[str]:
    """What the README's block quotes that the run at ``path`` does not show; [] when all is.

    Each quoted row must be one of the run's figures with the same value, target and verdict
    as formatted here, and the line above the table must name that run.
    """
    start, end = between_markers(text, where)
    problems = []
    if provenance(path, run) not in text[start:end]:
        problems.append(f"{where}: the table does not say it comes from "
                        f"{path.relative_to(REPO).as_posix()} (run python -m benchmarks.readme)")
    shown = {(r.case, r.figure, r.provider): r for r in rows_of(run, headline_only=False)}
    quoted = quoted_rows(text, where)
    if not quoted:
        problems.append(f"{where}: the figures block has no table")
    for row in quoted:
        recorded = shown.get((row.case, row.figure, row.provider))
        if recorded is None:
            problems.append(f"{where}: '{row.case} / {row.figure} / {row.provider}' is not in "
                            f"{path.name}")
        elif recorded != row:
            problems.append(f"{where}: '{row.case} / {row.figure} / {row.provider}' says "
                            f"{row.value} {row.target} {row.verdict}, {path.name} has "
                            f"{recorded.value} {recorded.target} {recorded.verdict}")
    return problems


#: The README files with a figures block, and whether theirs shows only the headlines.
TARGETS: tuple[tuple[Path, bool], ...] = ((REPO / "README.md", True), (HERE / "README.md", False))


def render(path: Path | None = None) -> dict[Path, str]:
    """Each README's text with its block rewritten from the run at ``path`` (default: latest)."""
    path = path or latest_run()
    run = json.loads(path.read_text())
    out = {}
    for readme, headline_only in TARGETS:
        text = readme.read_text()
        start, end = between_markers(text, str(readme.relative_to(REPO)))
        out[readme] = text[:start] + "\n" + table(path, run, headline_only) + "\n" + text[end:]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.readme",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--run", type=Path, default=None, help="a run's JSON (default: latest)")
    args = parser.parse_args(argv)
    path = (args.run or latest_run()).resolve()
    stale = []
    for readme, text in render(path).items():
        if readme.read_text() != text:
            stale.append(readme.relative_to(REPO))
            if not args.check:
                readme.write_text(text)
    verb = "out of date" if args.check else "rewritten"
    print(f"figures from {path.relative_to(REPO)}: "
          + (f"{', '.join(map(str, stale))} {verb}" if stale else "every README up to date"))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
