#!/usr/bin/env bash
# Tries wfe against the newest releases of everything it depends on, upper bounds lifted.
#
# pyproject.toml bounds each dependency below its next major release (and pins the checkers to
# a minor one), so a new release cannot turn CI red by surprise. This script is how a new
# release is taken on purpose: it makes .venv-latest, installs wfe without its dependencies,
# installs every dependency of wfe[test,typecheck,lint] at the newest version the index serves
# (ignoring the bounds), prints the versions that are newer than the bounds allow, and runs the
# test suite, ruff and mypy there. When it passes, raise the bounds in pyproject.toml.
#
# Usage: bash scripts/latest.sh [pytest args]      (services as for scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=.venv-latest
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .

# The names of every requirement of the extras, without their version bounds.
names=$("$venv/bin/python" - <<'PY'
import re
import tomllib

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = list(project["dependencies"])
for extra in project["optional-dependencies"].values():
    requirements += [r for r in extra if not r.startswith("wfe[")]
names = {re.split(r"[<>=!~ ;]", r, maxsplit=1)[0] for r in requirements}
print(" ".join(sorted(names)))
PY
)
echo "latest.sh: installing the newest $names" >&2
# shellcheck disable=SC2086
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade $names packaging

echo "latest.sh: installed versions outside pyproject.toml's bounds:" >&2
"$venv/bin/python" - <<'PY' >&2
import importlib.metadata as md
import tomllib

from packaging.requirements import Requirement

project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = list(project["dependencies"])
for extra in project["optional-dependencies"].values():
    requirements += [r for r in extra if not r.startswith("wfe[")]
outside = 0
for text in requirements:
    requirement = Requirement(text)
    try:
        version = md.version(requirement.name)
    except md.PackageNotFoundError:
        continue
    if not requirement.specifier.contains(version, prereleases=True):
        outside += 1
        print(f"  {requirement.name} {version} (bounds: {requirement.specifier})")
if not outside:
    print("  none: the bounds already allow the newest releases")
PY

require=()
[ "${WFE_REQUIRE_SERVICES:-0}" = "1" ] && require=(--require)
exports=$(bash scripts/services.sh "${require[@]}") || exit 1
eval "$exports"
rc=0
"$venv/bin/python" -m pytest -n "${WFE_TEST_WORKERS:-4}" --dist worksteal -q -p no:cacheprovider "$@" || rc=$?
"$venv/bin/python" -m ruff check . || rc=1
"$venv/bin/python" -m mypy || rc=1
exit "$rc"
