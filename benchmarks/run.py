"""The wfe benchmark: ``python -m benchmarks.run`` (see ``benchmarks/README.md``).

Runs every wfe workload (``_wfe_cases``) on every provider URL in ``PROVIDERS``, each in a fresh
process; the raw SQLite commit rate (``_raw_commits``); and the same chain on DBOS
(``_dbos_chain``, in a virtual environment made on demand). Prints each figure next to its
target with PASS/MISS, and writes everything as JSON to ``benchmarks/results/`` (or ``--out``).

Options::

    --smoke            tiny sizes, seconds long; DBOS only if its venv is already there (CI)
    --sleepers N       workflows parked in the sleepers case (default 100000)
    --only a,b         run only these entries (names as in the table: chain, sleepers, dbos, ...)
    --providers a,b    only these providers (default: all in PROVIDERS)
    --no-dbos          skip DBOS even when it could run
    --out FILE         where to write the JSON (default benchmarks/results/<UTC time>.json)

Exit status: 0 when every entry ran (a MISS is a result, not a failure), 1 when one failed.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DBOS_VENV = HERE / ".venv-dbos"
DBOS_REQUIREMENT = "dbos==3.4.0"

#: Provider name -> URL for a fresh store in the given work directory. Every wfe entry runs on
#: each of these; adding a provider is one line here.
PROVIDERS: dict[str, Callable[[Path], str]] = {
    "memory": lambda work: "memory://",
    "sqlite": lambda work: f"sqlite:///{work}/wfe.db",  # a file; WAL, synchronous=FULL
}



def postgres_schema_url(work: Path) -> str:
    """A schema of its own on the test server (``WFE_TEST_POSTGRES_URL``) for one run."""
    base = os.environ["WFE_TEST_POSTGRES_URL"]
    parts = urlsplit(base)
    schema = "wfe_bench_" + "".join(c if c.isalnum() else "_" for c in work.name.lower())[-40:]
    query = "&".join(q for q in (parts.query, f"schema={schema}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def drop_postgres_schema(url: str) -> None:
    """Drop the schema a run's ``postgres_schema_url`` made."""
    import psycopg

    from wfe_postgres._url import parse_url

    options = parse_url(url)
    with psycopg.connect(options.conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{options.schema}" CASCADE')


def valkey_prefix_url(work: Path) -> str:
    """A key prefix of its own on the Valkey test server (``WFE_TEST_VALKEY_URL``) for one run."""
    base = os.environ["WFE_TEST_VALKEY_URL"]
    parts = urlsplit(base)
    prefix = "".join(c if c.isalnum() else "-" for c in work.name.lower())  # wfe-bench-...
    query = "&".join(q for q in (parts.query, f"prefix={prefix}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def delete_valkey_prefix(url: str) -> None:
    """Delete the keys a run's ``valkey_prefix_url`` made."""
    import redis

    from wfe_valkey import parse_url

    options = parse_url(url)
    client = redis.Redis.from_url(options.client_url, socket_connect_timeout=5)
    try:
        names = list(client.scan_iter(match=f"{options.prefix}:*", count=1000))
        if names:
            client.delete(*names)
    finally:
        client.close()


#: Provider name -> host settings beside its persistence URL (made for the same work directory).
PROVIDER_HOST: dict[str, Callable[[Path], dict[str, str]]] = {}
#: Providers that run only these entries (others run every entry that does not exclude them).
PROVIDER_ENTRIES: dict[str, tuple[str, ...]] = {
    "postgresql+valkey": ("chain", "chain_serial", "chain_start50", "wakeup_cross", "priority"),
}

# PostgreSQL runs where the test server is configured (scripts/services.sh exports it); with
# Valkey's too, also PostgreSQL persistence with Valkey lock and queue (a fresh prefix per run).
if os.environ.get("WFE_TEST_POSTGRES_URL"):
    PROVIDERS["postgresql"] = postgres_schema_url
    if os.environ.get("WFE_TEST_VALKEY_URL"):
        PROVIDERS["postgresql+valkey"] = postgres_schema_url
        PROVIDER_HOST["postgresql+valkey"] = lambda work: dict.fromkeys(
            ("lock", "queue"), valkey_prefix_url(work))

#: Extra URLs some entries also run on (``Entry.extra``).
EXTRA_PROVIDERS: dict[str, Callable[[Path], str]] = {
    "sqlite_normal": lambda work: f"sqlite:///{work}/wfe.db?synchronous=NORMAL",
}


@dataclass
class Entry:
    """One wfe workload with its full-size and smoke-size parameters."""

    name: str
    case: str
    full: dict[str, Any]
    smoke: dict[str, Any]
    extra: tuple[str, ...] = ()
    what: str = ""
    #: Full-size runs repeat this many times; the run with the median ``median_of`` is kept.
    repeat: int = 1
    median_of: str = ""
    #: The module that runs the case (``_hosts_cases`` for several host processes).
    module: str = "_wfe_cases"
    #: Only these providers (the several-host cases need a store shared across processes).
    providers: tuple[str, ...] = ()
    #: In smoke mode, only these providers (a variant whose code paths ``--smoke`` already
    #: covers elsewhere runs once, so the smoke test stays as short as it was).
    smoke_providers: tuple[str, ...] = ()


#: Throughput figures move by +-10% from run to run on 2 cores; the median of three is steadier.
CHAIN_REPEAT: dict[str, Any] = {"repeat": 3, "median_of": "steps_per_s"}


def pick_median(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run whose ``key`` is the median; every run's value is kept under ``runs``."""
    good = [r for r in runs if r.get("status") == "ok"]
    if len(good) != len(runs) or not key:
        failed = [r for r in runs if r.get("status") != "ok"]
        return failed[0] if failed else runs[-1]
    chosen = dict(sorted(good, key=lambda r: r[key])[len(good) // 2])
    chosen["runs"] = [r[key] for r in good]
    return chosen


#: DBOS's chains run just before this entry: after wfe's chains it is compared with.
DBOS_AFTER = "chain_async"


def wfe_entries(sleepers: int) -> list[Entry]:
    return [
        Entry("chain", "chain", {"workflows": 1000, "steps": 10}, {"workflows": 20, "steps": 10},
              extra=("sqlite_normal",), what="1000 workflows x 10 sync no-op steps, started at once",
              **CHAIN_REPEAT),
        Entry("chain_serial", "chain", {"workflows": 1000, "steps": 10, "serial": True},
              {"workflows": 10, "steps": 10, "serial": True}, smoke_providers=("sqlite",),
              what="the chain, each start_workflow awaited before the next (as an application "
                   "starts workflows from its requests), then all waited for",
              **CHAIN_REPEAT),
        Entry("chain_async", "chain", {"workflows": 1000, "steps": 10, "async_steps": True},
              {"workflows": 20, "steps": 10, "async_steps": True},
              what="the same with async def run (no thread hop)", **CHAIN_REPEAT),
        Entry("chain_otel", "chain",
              {"workflows": 1000, "steps": 10, "async_steps": True, "otel": True},
              {"workflows": 20, "steps": 10, "async_steps": True, "otel": True},
              what="chain_async with OpenTelemetry SDK providers (spans and metrics recorded)",
              **CHAIN_REPEAT),
        Entry("chain_200", "chain", {"workflows": 200, "steps": 10}, {"workflows": 10, "steps": 10},
              what="200 x 10 sync steps: DBOS's workload, for the like-for-like ratio",
              **CHAIN_REPEAT),
        Entry("wakeup_event", "wakeup_event", {"workflows": 200, "spacing_ms": 10},
              {"workflows": 10, "spacing_ms": 5},
              what="200 waiting workflows; one publish_event every 10 ms"),
        Entry("wakeup_event_burst", "wakeup_event", {"workflows": 200, "spacing_ms": 0},
              {"workflows": 10, "spacing_ms": 0},
              what="the same, all 200 published back to back"),
        Entry("wakeup_delay", "wakeup_delay", {"workflows": 200, "spacing_ms": 10},
              {"workflows": 10, "spacing_ms": 5},
              what="200 workflows with a 50 ms delay, started 10 ms apart"),
        Entry("wakeup_delay_burst", "wakeup_delay", {"workflows": 200, "spacing_ms": 0},
              {"workflows": 10, "spacing_ms": 0},
              what="the same, all 200 started at once"),
        Entry("long_loop", "long_loop", {"iterations": 20000, "window": 2000},
              {"iterations": 100, "window": 20},
              what="one while_do of 20000 iterations; first vs last 2000"),
        Entry("sleepers", "sleepers", {"workflows": sleepers, "batch": 1000, "idle_s": 30.0},
              {"workflows": 100, "batch": 50, "idle_s": 0.3, "queries": 3, "settle_s": 0.1},
              what=f"{sleepers} workflows in a one-hour delay: time until all are parked in the "
                   "store, then 30 s of an idle host once the backlog is gone"),
        Entry("fanout", "fanout", {"items": 1000}, {"items": 50},
              what="for_each over 1000 items in parallel, sync no-op steps"),
        Entry("fanout_async", "fanout", {"items": 1000, "async_steps": True},
              {"items": 50, "async_steps": True}, what="the same with async steps"),
        Entry("fanout_wait", "fanout", {"items": 100, "async_steps": True, "wait_ms": 10},
              {"items": 10, "async_steps": True, "wait_ms": 10},
              what="for_each over 100 items in parallel, each step awaiting 10 ms"),
        Entry("durable_chain", "durable_chain", {"workflows": 1000, "calls": 10},
              {"workflows": 20, "calls": 10}, module="_orchestration_cases",
              providers=("sqlite",),
              what="1000 durable functions x 10 async calls, then the builder's chain of 10 "
                   "async steps in the same process"),
        Entry("durable_replay", "durable_replay", {"calls": 1000, "window": 10},
              {"calls": 50, "window": 5}, module="_orchestration_cases", providers=("sqlite",),
              what="one durable function of 1000 calls: time per call at the start vs the end"),
        # Starts awaited 50 at a time: the chain that PostgreSQL + Valkey can run today (a burst
        # of more than 100 lease calls exceeds redis-py's pool; see README, PostgreSQL + Valkey).
        Entry("chain_start50", "chain", {"workflows": 1000, "steps": 10, "start_batch": 50},
              {"workflows": 20, "steps": 10, "start_batch": 5},
              providers=("postgresql", "postgresql+valkey"),
              what="the chain, its 1000 starts awaited 50 at a time", **CHAIN_REPEAT),
        Entry("chain_hosts_1", "chain_hosts", {"hosts": 1, "workflows": 1000, "steps": 10},
              {"hosts": 1, "workflows": 20, "steps": 10}, module="_hosts_cases",
              providers=("postgresql",), what="the chain from one host process, as below",
              **CHAIN_REPEAT),
        Entry("chain_hosts_3", "chain_hosts", {"hosts": 3, "workflows": 1000, "steps": 10},
              {"hosts": 3, "workflows": 21, "steps": 10}, module="_hosts_cases",
              providers=("postgresql",),
              what="the same 1000 workflows started by three host processes on one database",
              **CHAIN_REPEAT),
        Entry("wakeup_cross", "wakeup_cross", {"workflows": 200, "spacing_ms": 10},
              {"workflows": 10, "spacing_ms": 5, "warmup": 5}, module="_hosts_cases",
              providers=("postgresql", "postgresql+valkey"),
              what="200 workflows waiting in one host process; events published by another "
                   "(after 20 warm-up events, reported apart)"),
        Entry("purge", "purge", {"workflows": 100_000, "chain_workflows": 1000},
              {"workflows": 2000, "chain_workflows": 20}, module="_purge_cases",
              providers=("sqlite", "postgresql"),
              what="100,000 finished workflows purged by a host's retention, and the chain "
                   "(1000 x 10) beside it vs alone"),
        Entry("priority", "priority", {"workflows": 2000}, {"workflows": 20, "slots": 2},
              module="_priority_cases", what="2,000 level-7 workflows held behind a gate (100 "
              "slots), then one level-0: the share of them it completes before (target 90 %)"),
        # Search in OpenSearch, where the test node is configured (scripts/services.sh).
        *([Entry("search_latency", "search_latency", {"workflows": 200, "spacing_ms": 20},
                 {"workflows": 10, "spacing_ms": 5}, module="_search_cases", providers=("sqlite",),
                 what="200 one-step workflows 20 ms apart; completion -> found in OpenSearch"),
           Entry("chain_search", "chain_search", {"workflows": 1000, "steps": 10, "pairs": 3},
                 {"workflows": 20, "steps": 10, "pairs": 1}, module="_search_cases",
                 providers=("sqlite",),
                 what="the chain on SQLite, its own index vs OpenSearch, alternately x3")]
          if os.environ.get("WFE_TEST_OPENSEARCH_URL") else []),
    ]


# -- running things ---------------------------------------------------------------------------


def run_json(cmd: list[str], timeout: float, env: dict[str, str] | None = None,
             cwd: Path = REPO) -> dict[str, Any]:
    """Run a command that prints a JSON object on its last stdout line; a failure record if not."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        return {"status": "failed", "error": f"exit {proc.returncode}: " + "\n".join(tail)}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"status": "failed", "error": f"no JSON on the last line: {lines[-1][:200]}"}
    result["status"] = "ok"
    result["process_wall_s"] = wall
    warnings = [line for line in proc.stderr.splitlines() if line.strip()]
    if warnings:
        result["stderr_lines"] = len(warnings)
        result["stderr_sample"] = warnings[:5]
    return result


def run_wfe(entry: Entry, provider: str, url_for: Callable[[Path], str], smoke: bool,
            between: Callable[[], None] | None = None) -> dict[str, Any]:
    """The entry's rounds on one provider, ``between`` called after each (a peer's round)."""
    runs = []
    for _ in range(1 if smoke else entry.repeat):
        runs.append(run_wfe_once(entry, provider, url_for, smoke))
        if between is not None:
            between()
    return pick_median(runs, entry.median_of)


def _masked(url: str) -> str:
    return url.replace(urlsplit(url).password or "\0", "***")


def run_wfe_once(entry: Entry, provider: str, url_for: Callable[[Path], str],
                 smoke: bool) -> dict[str, Any]:
    params = dict(entry.smoke if smoke else entry.full)
    work = Path(tempfile.mkdtemp(prefix=f"wfe-bench-{entry.name}-"))
    url, host = "", dict[str, str]()
    try:
        url = url_for(work)
        host = PROVIDER_HOST[provider](work) if provider in PROVIDER_HOST else {}
        if host:  # the cases hand params["host"] to every WorkflowHost they make
            params["host"] = {**params.get("host", {}), **host}
        cmd = [sys.executable, "-m", f"benchmarks.{entry.module}", entry.case, "--url", url,
               "--params", json.dumps(params)]
        load = os.getloadavg()[0]  # other work on the machine moves every figure
        result = run_json(cmd, timeout=120 if smoke else 3600)
        result["load_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]  # before, after
        result["url"] = _masked(url)
        result["params"] = {**params, "host": {k: _masked(v) for k, v in host.items()}} if host else params
        return result
    finally:
        if url and url_for is postgres_schema_url:
            drop_postgres_schema(url)
        if "queue" in host:
            delete_valkey_prefix(host["queue"])
        shutil.rmtree(work, ignore_errors=True)


def run_raw(smoke: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="wfe-bench-raw-"))
    try:
        for level in ("NORMAL", "FULL"):
            cmd = [sys.executable, "-m", "benchmarks._raw_commits", str(work / "raw.db"), level,
                   "0.2" if smoke else "3"]
            out[level] = run_json(cmd, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = os.environ.get("WFE_TEST_POSTGRES_URL")
    if base:  # one connection's autocommit INSERTs, on the server wfe's rows use
        cmd = [sys.executable, "-m", "benchmarks._raw_pg_commits", base, "0.2" if smoke else "3"]
        runs = [run_json(cmd, timeout=120) for _ in range(1 if smoke else 3)]
        out["POSTGRESQL"] = pick_median(runs, "commits_per_s")
    return out


def dbos_python() -> Path:
    return DBOS_VENV / "bin" / "python"


def dbos_installed() -> bool:
    if not dbos_python().exists():
        return False
    probe = subprocess.run([str(dbos_python()), "-c", "import dbos"], capture_output=True,
                           check=False)
    return probe.returncode == 0


def ensure_dbos() -> str | None:
    """Create the DBOS venv if needed; returns why it cannot be used, or None."""
    if dbos_installed():
        return None
    print(f"benchmarks: installing {DBOS_REQUIREMENT} into {DBOS_VENV.relative_to(REPO)} ...",
          file=sys.stderr, flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(DBOS_VENV)],
        [str(dbos_python()), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         DBOS_REQUIREMENT],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            return f"{' '.join(cmd[:3])} failed: {proc.stderr.strip()[-500:]}"
    return None if dbos_installed() else "dbos does not import in its venv"


def postgres_bench_url(base: str) -> str:
    """The test server's URL with its own database, so DBOS's tables stay out of wfe's."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, "/wfe_dbos_bench", parts.query, ""))


#: The DBOS chain each wfe chain is compared with: (entry, provider) -> DBOS target. Their
#: rounds alternate (wfe, DBOS, wfe, DBOS, ...), so each ratio is of figures taken within the
#: same minute: this machine's speed moves by a third within an hour.
DBOS_PAIRS: dict[tuple[str, str], str] = {
    ("chain", "sqlite"): "sqlite",
    ("chain", "postgresql"): "postgres",
    ("chain_serial", "sqlite"): "sqlite_serial",
    ("chain_serial", "postgresql"): "postgres_serial",
}


class Dbos:
    """DBOS's chain on SQLite and PostgreSQL; ``<target>_serial``: its ``chain_serial`` mirror.

    ``once`` runs one round of a target (a round alternating with wfe's, see ``DBOS_PAIRS``);
    ``results`` runs what no wfe round asked for and gives each target its median round.
    """

    def __init__(self, smoke: bool, enabled: bool) -> None:
        self.smoke = smoke
        pg = os.environ.get("WFE_TEST_POSTGRES_URL") or None
        self.targets = {"sqlite": None, "postgres": pg, "sqlite_serial": None,
                        "postgres_serial": pg}
        self.rounds: dict[str, list[dict[str, Any]]] = {}
        self.urls: dict[str, str] = {}
        #: Targets whose rounds alternated with a wfe entry's.
        self.alternated: set[str] = set()
        self._work: Path | None = None
        self.refused: dict[str, dict[str, Any]] = {}
        if not enabled:
            self.refused = {name: {"status": "skipped", "reason": "--no-dbos"} for name in self.targets}
            return
        if smoke and not dbos_installed():
            reason = f"smoke mode installs nothing; {DBOS_VENV.relative_to(REPO)} is not there"
            self.refused = {name: {"status": "skipped", "reason": reason} for name in self.targets}
            return
        problem = None if smoke else ensure_dbos()
        if problem is not None:
            self.refused = {name: {"status": "failed", "error": problem} for name in self.targets}
            return
        for name, base in self.targets.items():
            if smoke and name.endswith("_serial"):  # keeps --smoke as short as it was
                self.refused[name] = {"status": "skipped",
                                      "reason": "smoke mode skips the serial mirror"}
            elif name.startswith("postgres") and base is None:
                self.refused[name] = {"status": "skipped",
                                      "reason": "WFE_TEST_POSTGRES_URL is not set "
                                                "(eval \"$(bash scripts/services.sh)\" sets it)"}

    def runs(self, name: str) -> bool:
        return name not in self.refused

    def once(self, name: str) -> None:
        """One round of target ``name``, on a fresh SQLite file (as wfe's) or schema."""
        base = self.targets[name]
        if self._work is None:
            self._work = Path(tempfile.mkdtemp(prefix="wfe-bench-dbos-"))
        db = self._work / f"{name}.sqlite"
        url = f"sqlite:///{db}" if base is None else postgres_bench_url(base)
        self.urls[name] = url
        cmd = [str(dbos_python()), str(HERE / "_dbos_chain.py"), "--url", url,
               "--workflows", "10" if self.smoke else "200", "--steps", "10"]
        if name.endswith("_serial"):
            cmd.append("--serial")
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        for stale in self._work.glob(f"{name}.sqlite*"):
            stale.unlink()
        result = run_json(cmd, timeout=300 if self.smoke else 1800, env=env)
        if base is None and result.get("status") == "ok":
            with sqlite3.connect(db) as conn:
                result["journal_mode"] = conn.execute("PRAGMA journal_mode").fetchone()[0]
            result["synchronous"] = "FULL (SQLite's default; DBOS sets none)"
        self.rounds.setdefault(name, []).append(result)

    def results(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            for name in self.targets:
                if name in self.refused:
                    out[name] = self.refused[name]
                    continue
                if name not in self.rounds:  # no wfe round alternated with it: its rounds alone
                    for _ in range(1 if self.smoke else 3):
                        self.once(name)
                result = pick_median(self.rounds[name], "steps_per_s")
                result["url"] = _masked(self.urls[name])
                result["alternated_with_wfe"] = name in self.alternated
                out[name] = result
        finally:
            if self._work is not None:
                shutil.rmtree(self._work, ignore_errors=True)
        return out


# -- figures and targets ----------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    figure: str
    provider: str
    value: float | None
    unit: str
    target: str = ""
    verdict: str = ""  # PASS, MISS or "" (no target)
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _ok(results: dict[str, Any], *path: str) -> dict[str, Any] | None:
    node = _get(results, *path)
    return node if isinstance(node, dict) and node.get("status") == "ok" else None


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def figures(results: dict[str, Any], providers: list[str]) -> list[Figure]:
    """Every figure of the run, with its target and verdict where the issue sets one."""
    out: list[Figure] = []
    cases = results["cases"]
    raw_normal = _ok(cases, "raw_commits", "NORMAL")
    raw_full = _ok(cases, "raw_commits", "FULL")
    raw_pg = _ok(cases, "raw_commits", "POSTGRESQL")
    dbos_sqlite = _ok(cases, "dbos_chain", "sqlite")
    dbos_pg = _ok(cases, "dbos_chain", "postgres")
    dbos_serial = {"sqlite": _ok(cases, "dbos_chain", "sqlite_serial"),
                   "postgresql": _ok(cases, "dbos_chain", "postgres_serial")}

    for name, kind in (("chain", "sync"), ("chain_serial", "sync, starts one by one"),
                       ("chain_async", "async"), ("chain_otel", "async, OTel SDK"),
                       ("chain_200", "sync"), ("chain_start50", "sync, 50 starts at a time")):
        for provider in [*providers, "sqlite_normal"]:
            r = _ok(cases, name, provider)
            if r is None:
                continue
            label = f"chain {r['workflows']}x{r['steps']} {kind}"
            sps = r["steps_per_s"]
            target, verdict = "", ""
            if name in ("chain", "chain_async") and provider == "memory":
                target, verdict = ">= 20,000", _verdict(sps >= 20_000)
            out.append(Figure(label, "steps/s", provider, sps, "steps/s", target, verdict))
            out.append(Figure(label, "workflows/s", provider, r["workflows_per_s"], "wf/s"))
            out.append(Figure(label, "step gap p50", provider, r["gap_p50_ms"], "ms"))
            out.append(Figure(label, "step gap p99", provider, r["gap_p99_ms"], "ms"))
            out.append(Figure(label, "CPU per step", provider, r["cpu_per_step_us"], "us"))
            if name == "chain":
                out.append(Figure(label, "peak RSS", provider, r["peak_rss_mb"], "MB"))
            if name == "chain_serial":
                out.append(Figure(label, "start_workflow p50", provider, r["start_p50_ms"], "ms"))
                out.append(Figure(label, "start_workflow p99", provider, r["start_p99_ms"], "ms"))
                peer = dbos_serial.get(provider)
                if peer:  # issue 25: >= 15x DBOS started one by one, SQLite and PostgreSQL
                    ratio = sps / peer["steps_per_s"]
                    out.append(Figure(label, "x DBOS serial, same store", provider, ratio, "x",
                                      ">= 15x", _verdict(ratio >= 15)))
            no_sdk = _ok(cases, "chain_async", provider)
            if name == "chain_otel" and no_sdk:
                # The cost of recording; without an SDK the engine skips it (chain_async).
                out.append(Figure(label, "x no-SDK chain_async", provider,
                                  sps / no_sdk["steps_per_s"], "x"))
            if provider.startswith("sqlite") and dbos_sqlite and name in ("chain", "chain_200"):
                ratio = sps / dbos_sqlite["steps_per_s"]
                ok = ratio >= 50 if provider == "sqlite" and name == "chain" else None  # issue 25
                out.append(Figure(label, "x DBOS on SQLite", provider, ratio, "x",
                                  ">= 50x" if ok is not None else "", _verdict(ok)))
            if provider == "sqlite" and dbos_pg and name in ("chain", "chain_200"):
                out.append(Figure(label, "x DBOS on PostgreSQL", provider,
                                  sps / dbos_pg["steps_per_s"], "x"))
            # The target compares wfe's default (synchronous=FULL) with raw commits at FULL.
            if provider == "sqlite" and raw_full and name in ("chain", "chain_200"):
                frac = sps / raw_full["commits_per_s"]
                ok = frac >= 0.5 if name == "chain" else None
                out.append(Figure(label, "x raw commits (FULL)", provider, frac, "x",
                                  ">= 0.5x" if ok is not None else "", _verdict(ok)))
            if provider == "postgresql" and dbos_pg and name in ("chain", "chain_200"):
                ratio = sps / dbos_pg["steps_per_s"]
                ok = ratio >= 30 if name == "chain" else None  # issue 25
                out.append(Figure(label, "x DBOS on PostgreSQL", provider, ratio, "x",
                                  ">= 30x" if ok is not None else "", _verdict(ok)))
            # Group commit should beat one connection's raw commit rate, as on SQLite.
            if provider == "postgresql" and raw_pg and name in ("chain", "chain_200"):
                frac = sps / raw_pg["commits_per_s"]
                ok = frac >= 1 if name == "chain" else None
                out.append(Figure(label, "x raw commits (1 connection)", provider, frac, "x",
                                  ">= 1x" if ok is not None else "", _verdict(ok)))
            # Valkey takes leases and queues off the database: the same chain, same run.
            pg_alone = _ok(cases, name, "postgresql")
            if provider == "postgresql+valkey" and pg_alone:
                out.append(Figure(label, "x PostgreSQL alone", provider,
                                  sps / pg_alone["steps_per_s"], "x"))
            if provider == "sqlite_normal" and raw_normal:
                out.append(Figure(label, "x raw commits (NORMAL)", provider,
                                  sps / raw_normal["commits_per_s"], "x"))

    for name, label in (("wakeup_event", "wake-up: event, paced"),
                        ("wakeup_event_burst", "wake-up: event, burst")):
        for provider in providers:
            r = _ok(cases, name, provider)
            if r is None:
                continue
            targeted = name == "wakeup_event" and provider == "sqlite"
            out.append(Figure(label, "publish -> step p50", provider, r["p50_ms"], "ms"))
            out.append(Figure(label, "publish -> step p99", provider, r["p99_ms"], "ms",
                              "< 20 ms" if targeted else "",
                              _verdict(r["p99_ms"] < 20) if targeted else ""))
    for name, label in (("wakeup_delay", "wake-up: 50 ms delay, paced"),
                        ("wakeup_delay_burst", "wake-up: 50 ms delay, burst")):
        for provider in providers:
            r = _ok(cases, name, provider)
            if r is None:
                continue
            targeted = name == "wakeup_delay"
            out.append(Figure(label, "lateness p50", provider, r["p50_ms"], "ms"))
            out.append(Figure(label, "lateness p99", provider, r["p99_ms"], "ms",
                              "< 20 ms" if targeted else "",
                              _verdict(r["p99_ms"] < 20) if targeted else ""))

    for provider in providers:
        r = _ok(cases, "long_loop", provider)
        if r is None:
            continue
        label = f"long loop {r['iterations']} iterations"
        out.append(Figure(label, f"first {r['window']} per iteration", provider, r["first_ms"], "ms"))
        out.append(Figure(label, f"last {r['window']} per iteration", provider, r["last_ms"], "ms"))
        out.append(Figure(label, "last / first", provider, r["last_over_first"], "x", "<= 1.3x",
                          _verdict(r["last_over_first"] <= 1.3)))

    for provider in providers:
        r = _ok(cases, "sleepers", provider)
        if r is None:
            continue
        label = f"sleepers {r['workflows']:,}"
        out.append(Figure(label, "creation (start to parked)", provider, r["parked_s"], "s"))
        if r.get("parked_per_s") is not None:  # issue 25: >= 5,000/s on the durable stores
            durable = provider in ("sqlite", "postgresql")
            out.append(Figure(label, "parked per second", provider, r["parked_per_s"], "wf/s",
                              ">= 5,000" if durable else "",
                              _verdict(r["parked_per_s"] >= 5000) if durable else ""))
        idle_label = f"idle host CPU ({r.get('idle_window_s', 5):g} s, backlog gone)"
        out.append(Figure(label, idle_label, provider, r["idle_cpu_pct_of_core"],
                          "% of a core", "<= 1%", _verdict(r["idle_cpu_pct_of_core"] <= 1)))
        out.append(Figure(label, "RSS", provider, r["rss_mb"], "MB"))
        out.append(Figure(label, "poller query (median)", provider, r["poller_query_median_ms"],
                          "ms", "< 50 ms", _verdict(r["poller_query_median_ms"] < 50)))
        out.append(Figure(label, "poller query (max)", provider, r["poller_query_max_ms"], "ms"))

    for name, kind in (("fanout", "sync"), ("fanout_async", "async")):
        for provider in providers:
            r = _ok(cases, name, provider)
            if r is None:
                continue
            label = f"fan-out {r['items']} {kind}"
            out.append(Figure(label, "elapsed", provider, r["elapsed_s"] * 1000, "ms"))
            out.append(Figure(label, "items/s", provider, r["items_per_s"], "items/s"))
    for provider in providers:
        r = _ok(cases, "fanout_wait", provider)
        if r is None:
            continue
        targeted = provider == "memory"
        elapsed_ms = r["elapsed_s"] * 1000
        out.append(Figure(f"fan-out {r['items']} x {r['wait_ms']} ms awaits", "elapsed", provider,
                          elapsed_ms, "ms", "< 100 ms" if targeted else "",
                          _verdict(elapsed_ms < 100) if targeted else ""))
    r = _ok(cases, "durable_chain", "sqlite")
    if r is not None:
        label = f"durable {r['workflows']} x {r['calls']} calls"
        out.append(Figure(label, "calls/s", "sqlite", r["durable_calls_per_s"], "calls/s"))
        out.append(Figure(label, "builder chain, same run", "sqlite", r["chain_steps_per_s"], "steps/s"))
        out.append(Figure(label, "durable / builder", "sqlite", r["durable_over_chain"], "x"))
        if dbos_sqlite:  # DBOS's decorators: its chain of sync steps, run above
            out.append(Figure(label, "x DBOS on SQLite", "sqlite",
                              r["durable_calls_per_s"] / dbos_sqlite["steps_per_s"], "x",
                              note=f"DBOS: {dbos_sqlite['steps_per_s']:,.0f} steps/s"))
    r = _ok(cases, "durable_replay", "sqlite")
    if r is not None:
        label = f"durable replay, {r['calls']} calls"
        out.append(Figure(label, "first calls", "sqlite", r["first_ms_per_call"], "ms/call"))
        out.append(Figure(label, "last calls", "sqlite", r["last_ms_per_call"], "ms/call"))
        out.append(Figure(label, "last / first", "sqlite", r["last_over_first"], "x"))

    for level, r in (("NORMAL", raw_normal), ("FULL", raw_full)):
        if r is not None:
            out.append(Figure("raw SQLite commits", f"synchronous={level}", "sqlite",
                              r["commits_per_s"], "commits/s"))
    if raw_pg is not None:
        out.append(Figure("raw PostgreSQL commits", "1 connection, autocommit INSERT",
                          "postgresql", raw_pg["commits_per_s"], "commits/s",
                          note=f"synchronous_commit={raw_pg.get('synchronous_commit')}"))

    for provider, wake_target in (("postgresql", 50), ("postgresql+valkey", 20)):  # issues 10, 11
        one, three = _ok(cases, "chain_hosts_1", provider), _ok(cases, "chain_hosts_3", provider)
        for r in (one, three):
            if r is not None:
                out.append(Figure(f"chain {r['workflows']}x{r['steps']} on {r['hosts']} host(s)",
                                  "steps/s", provider, r["steps_per_s"], "steps/s"))
        if one and three:
            ratio = three["steps_per_s"] / one["steps_per_s"]
            out.append(Figure("chain on 3 hosts", "x 1 host", provider, ratio, "x", ">= 1x",
                              _verdict(ratio >= 1)))
        cross = _ok(cases, "wakeup_cross", provider)
        if cross is not None:
            label = "wake-up: event, other host"
            out.append(Figure(label, "publish -> step p50", provider, cross["p50_ms"], "ms"))
            out.append(Figure(label, "publish -> step p99", provider, cross["p99_ms"], "ms",
                              f"< {wake_target} ms", _verdict(cross["p99_ms"] < wake_target)))
            if cross.get("cold_max_ms") is not None:
                out.append(Figure(label, f"first {cross['warmup']} events max", provider,
                                  cross["cold_max_ms"], "ms"))
    for provider, r, kind in (("sqlite", dbos_sqlite, ""), ("postgres", dbos_pg, ""),
                              ("sqlite", dbos_serial["sqlite"], ", async starts one by one"),
                              ("postgres", dbos_serial["postgresql"], ", async starts one by one")):
        if r is not None:
            label = f"DBOS chain {r['workflows']}x{r['steps']}{kind}"
            out.append(Figure(label, "steps/s", provider, r["steps_per_s"], "steps/s"))
            if r.get("start_p50_ms") is not None:
                out.append(Figure(label, "start_workflow p50", provider, r["start_p50_ms"], "ms"))
                out.append(Figure(label, "start_workflow p99", provider, r["start_p99_ms"], "ms"))
            out.append(Figure(label, "workflows/s", provider, r["workflows_per_s"], "wf/s"))
            out.append(Figure(label, "step gap p50", provider, r["gap_p50_ms"], "ms"))
            out.append(Figure(label, "step gap p99", provider, r["gap_p99_ms"], "ms"))
    from . import _search_cases

    out.extend(Figure(*row) for row in _search_cases.figure_rows(cases))
    return out


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "x":
        return f"{value:.2f}x"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render(rows: list[Figure]) -> str:
    header = ("case", "figure", "provider", "value", "unit", "target", "")
    table = [header] + [
        (r.section, r.figure, r.provider, _fmt(r.value, r.unit), r.unit if r.unit != "x" else "",
         r.target, r.verdict)
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = []
    for i, row in enumerate(table):
        cells = [str(c).rjust(w) if j == 3 else str(c).ljust(w) for j, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def engine_version() -> str:
    """The commit the engine is at, with ``+uncommitted`` when its files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                capture_output=True, text=True, check=False).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--", *ENGINE_PATHS], cwd=REPO,
                                capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"
    return (commit or "unknown") + ("+uncommitted" if status else "")


#: What the figures depend on; the harness records their version with every entry.
ENGINE_PATHS = ("wfe", "wfe_core", "wfe_sqlite", "wfe_postgres", "wfe_valkey", "wfe_opensearch",
                "pyproject.toml")


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as meminfo:
            info["memory_gb"] = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    info["wfe_commit"] = engine_version()
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="wfe benchmarks (see benchmarks/README.md)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; checks the harness")
    parser.add_argument("--sleepers", type=int, default=100_000)
    parser.add_argument("--only", default="", help="comma-separated entry names")
    parser.add_argument("--providers", default="", help="comma-separated provider names")
    parser.add_argument("--no-dbos", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    from . import _wfe_cases

    entries = wfe_entries(args.sleepers)
    names = [e.name for e in entries] + ["raw_commits", "dbos_chain"]
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    if "dbos" in only:
        only = (only - {"dbos"}) | {"dbos_chain"}
    if "durable_chain" in only:  # its figures compare it with DBOS's chain, in the same run
        only.add("dbos_chain")
    unknown = only - set(names)
    if unknown:
        parser.error(f"unknown entries {sorted(unknown)}; choose from {', '.join(names)}")
    providers = [p.strip() for p in args.providers.split(",") if p.strip()] or list(PROVIDERS)
    bad = set(providers) - set(PROVIDERS)
    if bad:
        parser.error(f"unknown providers {sorted(bad)}; choose from {', '.join(PROVIDERS)}")

    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "mode": "smoke" if args.smoke else "full",
        # Every entry on every provider: what benchmarks.readme takes its figures from.
        "complete": not (args.smoke or only or args.providers or args.no_dbos),
        "params": {"sleepers": args.sleepers},
        "started": started.isoformat(),
        "machine": machine(),
        "host_settings": _wfe_cases.HOST_SETTINGS,
        "cases": {},
    }
    failed = 0
    versions: set[str] = {results["machine"]["wfe_commit"]}

    def log(message: str) -> None:
        print(f"benchmarks: {message}", file=sys.stderr, flush=True)

    def record(name: str, key: str, result: dict[str, Any]) -> None:
        nonlocal failed
        results["cases"].setdefault(name, {})[key] = result
        if result.get("status") == "failed":
            failed += 1
            log(f"{name} [{key}] FAILED: {result.get('error')}")
        elif result.get("status") == "skipped":
            log(f"{name} [{key}] skipped: {result.get('reason')}")

    wants_dbos = not only or "dbos_chain" in only
    peer = Dbos(args.smoke, wants_dbos and not args.no_dbos)

    def dbos() -> None:
        log("dbos_chain ...")
        for target, result in peer.results().items():
            record("dbos_chain", target, result)

    for entry in entries:
        if wants_dbos and entry.name == DBOS_AFTER:
            # DBOS's results right after wfe's chains: targets no wfe round alternated with
            # (--only, --providers) run here, not at the end of the run.
            dbos()
            wants_dbos = False
        if only and entry.name not in only:
            continue
        targets = [(p, PROVIDERS[p]) for p in providers
                   if (not entry.providers or p in entry.providers)
                   and (not args.smoke or not entry.smoke_providers or p in entry.smoke_providers)
                   and entry.name in PROVIDER_ENTRIES.get(p, (entry.name,))]
        targets += [(p, EXTRA_PROVIDERS[p]) for p in entry.extra if "sqlite" in providers]
        for provider, url_for in targets:
            log(f"{entry.name} [{provider}] ...")
            version = engine_version()
            pair = DBOS_PAIRS.get((entry.name, provider))
            between = None
            if wants_dbos and pair is not None and peer.runs(pair):
                peer.alternated.add(pair)
                log(f"  rounds alternate with dbos_chain [{pair}]")
                between = functools.partial(peer.once, pair)
            result = run_wfe(entry, provider, url_for, args.smoke, between)
            result["wfe_commit"] = version
            versions.add(version)
            record(entry.name, provider, result)
    if not only or "raw_commits" in only:
        log("raw_commits ...")
        for level, result in run_raw(args.smoke).items():
            record("raw_commits", level, result)
    if wants_dbos:
        dbos()

    rows = figures(results, providers)
    if args.smoke:
        for row in rows:  # tiny sizes say nothing about the targets
            row.verdict = ""
    results["figures"] = [r.as_dict() for r in rows]
    results["finished"] = datetime.now(UTC).isoformat()
    results["failed_entries"] = failed
    versions.add(engine_version())
    results["engine_versions"] = sorted(versions)

    out = args.out
    if out is None:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}{'-smoke' if args.smoke else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")

    m = results["machine"]
    print(f"wfe benchmarks ({results['mode']}) on {m.get('cpus')} CPUs ({m.get('cpu_model', '?')}), "
          f"Python {m['python']}, SQLite {m['sqlite']}, wfe {m.get('wfe_commit', '?')}")
    settings = results["host_settings"]
    print("host settings: " + (f"{json.dumps(settings)} (others default)" if settings else "the defaults"))
    if len(versions) > 1:
        print(f"WARNING: the engine changed during the run ({', '.join(sorted(versions))}); "
              "each entry's wfe_commit in the JSON says which it ran on")
    print()
    print(render(rows))
    misses = [r for r in rows if r.verdict == "MISS"]
    print()
    if args.smoke:
        print("smoke mode: tiny sizes, so no verdicts; run without --smoke for the figures")
    print(f"{sum(r.verdict == 'PASS' for r in rows)} PASS, {len(misses)} MISS, "
          f"{failed} failed entr{'y' if failed == 1 else 'ies'}; JSON: {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
