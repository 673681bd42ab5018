"""The READMEs quote only figures the latest recorded benchmark run shows.

``python -m benchmarks.readme`` writes the performance tables from the latest full run's JSON
in ``benchmarks/results/``; these tests read the tables back (no benchmark runs) and fail when
one quotes a figure, target or verdict that run does not have, when a table names another run,
or when the README's Performance prose states a figure outside the generated table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import readme

LATEST = readme.latest_run()
RUN = json.loads(LATEST.read_text())


@pytest.mark.parametrize("path", [p for p, _ in readme.TARGETS], ids=lambda p: p.parent.name)
def test_readme_quotes_only_the_latest_run(path: Path) -> None:
    where = str(path.relative_to(readme.REPO))
    assert readme.unbacked(path.read_text(), where, LATEST, RUN) == []
    assert len(readme.quoted_rows(path.read_text(), where)) >= 4


def test_a_changed_or_invented_figure_is_caught() -> None:
    text = (readme.REPO / "README.md").read_text()
    row = readme.quoted_rows(text, "README.md")[0]
    old = f"| {row.value} |"
    assert old in text
    changed = text.replace(old, "| 99,999 steps/s |", 1)
    problems = readme.unbacked(changed, "README.md", LATEST, RUN)
    assert len(problems) == 1 and "99,999 steps/s" in problems[0]
    invented = text.replace(readme.FIGURES_END,
                            "| chain 1x1 | steps/s | memory | 1 steps/s |  |  |\n" + readme.FIGURES_END)
    problems = readme.unbacked(invented, "README.md", LATEST, RUN)
    assert problems == [f"README.md: 'chain 1x1 / steps/s / memory' is not in {LATEST.name}"]


def test_the_tables_are_what_the_generator_writes() -> None:
    for path, text in readme.render(LATEST).items():
        assert path.read_text() == text, f"{path.name} is stale: run python -m benchmarks.readme"


def test_the_performance_prose_states_no_figure() -> None:
    text = (readme.REPO / "README.md").read_text()
    section = text[text.index("## Performance"):]
    section = section[: section.index("\n## ", 1)]
    start, end = readme.between_markers(section, "README.md")
    prose = section[: start - len(readme.FIGURES_BEGIN)] + section[end:]
    figure = re.compile(r"\d[\d,.]*\s*(?:k\b|steps/s|ms\b|µs|us\b|%|×|x\b|MB\b|s\b)")
    assert figure.findall(prose) == []
