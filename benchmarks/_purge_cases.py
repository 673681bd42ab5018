"""Retention beside running work: how fast finished workflows are purged, and what it costs.

``benchmarks.run`` runs the case in a fresh process on a fresh store (SQLite file, PostgreSQL
schema)::

    python -m benchmarks._purge_cases purge --url URL --params '{"workflows": 100000, ...}'

* ``purge``: stores ``workflows`` finished workflows (each with two pointers, completed two
  hours ago) straight through the persistence provider; runs the chain of ``_wfe_cases``
  (``chain_workflows`` x ``steps``) alone; then starts a second host with
  ``retention=1 h``, which purges them in its background batches, and runs the same chain
  again beside it. Reports the chain's throughput without and beside the purge (and their
  ratio: the target is at least 0.8), and the purge's rate: workflows purged per second from
  the retention host's start until none is left (the chain runs during the first part).

Prints one JSON object on the last line of stdout.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from wfe import WorkflowHost, WorkflowStatus
from wfe_core._models import utcnow
from wfe_core.models import ExecutionPointer, PointerStatus, WorkflowInstance
from wfe_core.providers import WorkflowPurging
from wfe_core.serialization import encode_data

from . import _wfe_cases
from ._wfe_cases import Case, run_case

#: Workflows stored per gather while seeding.
SEED_BATCH = 500


def old_workflow(when: Any) -> WorkflowInstance:
    return WorkflowInstance(
        definition_id="bench-finished", version=1, status=WorkflowStatus.COMPLETE,
        data=encode_data({"order": 42, "note": "finished long ago"}), create_time=when,
        complete_time=when, next_execution=None,
        execution_pointers=[
            ExecutionPointer(step_id=n, status=PointerStatus.COMPLETE, active=False,
                             start_time=when, end_time=when)
            for n in (0, 1)
        ],
    )


async def seed(url: str, n: int) -> float:
    """Store ``n`` finished workflows; returns the seconds it took."""
    t0 = time.perf_counter()
    when = utcnow() - timedelta(hours=2)
    async with WorkflowHost(url).open_stores() as host:
        for first in range(0, n, SEED_BATCH):
            await asyncio.gather(*(
                host.persistence.create_workflow(old_workflow(when))
                for _ in range(min(SEED_BATCH, n - first))
            ))
    return time.perf_counter() - t0


async def chain(url: str, params: dict[str, Any]) -> dict[str, Any]:
    _wfe_cases.STAMPS.clear()  # the chain checks every step it stamped, per run
    return await _wfe_cases.chain(
        url, {"workflows": params["chain_workflows"], "steps": params.get("steps", 10)}
    )


async def purge(url: str, params: dict[str, Any]) -> dict[str, Any]:
    n = params["workflows"]
    seeded_s = await seed(url, n)
    alone = await chain(url, params)
    async with WorkflowHost(url, retention=timedelta(hours=1), poll_interval=1.0) as purger:
        store = purger.persistence
        assert isinstance(store, WorkflowPurging)
        before = utcnow() - timedelta(hours=1)
        t0 = time.perf_counter()
        beside = await chain(url, params)
        while await store.count_purgeable(before, (WorkflowStatus.COMPLETE,)) > 0:
            await asyncio.sleep(0.2)
            if time.perf_counter() - t0 > params.get("timeout", 1800):
                raise RuntimeError("the purge did not finish in time")
        purge_s = time.perf_counter() - t0
    ratio = beside["steps_per_s"] / alone["steps_per_s"]
    return {
        "status": "ok",
        "workflows": n,
        "seed_s": round(seeded_s, 2),
        "purge_s": round(purge_s, 2),
        "purged_per_s": round(n / purge_s, 1),
        "chain_workflows": params["chain_workflows"],
        "chain_steps_per_s_alone": alone["steps_per_s"],
        "chain_steps_per_s_beside_purge": beside["steps_per_s"],
        "chain_ratio": round(ratio, 3),
        "target_ratio": 0.8,
        "meets_target": ratio >= 0.8,
    }


CASES: dict[str, Case] = {"purge": purge}


def main(argv: list[str] | None = None) -> None:
    run_case(CASES, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    main()
