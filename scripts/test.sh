#!/usr/bin/env bash
# The test command (README quick start, and .ci/run): installs wfe and its test dependencies
# into .venv, starts the services it can (scripts/services.sh), and runs the whole pytest suite
# on WFE_TEST_WORKERS processes (pytest-xdist, 4 by default: the tests mostly wait on I/O and
# timers), then prints the 15 slowest tests. Arguments go to pytest, e.g.
# `bash scripts/test.sh tests/unit -q`, or `-n 0` to run in this process.
# Under WFE_REQUIRE_SERVICES=1 a service that cannot be started fails the run instead of
# skipping its tests.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "test.sh: creating .venv" >&2
    "$python" -m venv .venv
fi
# The checkers too: the dogfood pipeline's preflight (tests/yaml/test_dogfood.py) needs them.
echo "test.sh: installing wfe with its test extras and the checkers" >&2
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,typecheck,lint]"

require=()
[ "${WFE_REQUIRE_SERVICES:-0}" = "1" ] && require=(--require)
echo "test.sh: starting services" >&2
exports=$(bash scripts/services.sh "${require[@]}") || {
    echo "test.sh: required services are unavailable (see above)" >&2
    exit 1
}
eval "$exports"

workers=${WFE_TEST_WORKERS:-4}
exec .venv/bin/python -m pytest -n "$workers" --dist worksteal --durations=15 "$@"
