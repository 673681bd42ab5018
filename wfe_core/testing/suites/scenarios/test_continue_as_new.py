"""Continue-as-new: ``ExecutionResult.continue_as_new(data)`` and the builder's
``.continue_as_new(fn)`` start a workflow over from its first step with new data, keeping its
id, reference and deadline, and the store drops the pointers of the rounds before: a loop of
many rounds ends with as many stored pointers as a loop of ten.

On ``memory`` the long loop goes round 10,000 times; on the stores that write to disk or a
server, 300 times, which shows the same bound at a cost the suite can pay (every round is one
durable write; ``benchmarks/`` runs 100,000).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from wfe import ExecutionResult, WorkflowBuilder, WorkflowStatus
from wfe_core._deadline import deadline_of


def count_round(ctx):
    data = ctx.data
    data["i"] += 1
    if data["i"] < data["n"]:
        return ExecutionResult.continue_as_new({"i": data["i"], "n": data["n"], "tag": data["tag"]})
    return ExecutionResult.next()


def finish(ctx):
    ctx.data["done"] = True


by_result = WorkflowBuilder().start_with(count_round).then(finish).build("ContinueByResult", 1)
by_builder = (
    WorkflowBuilder()
    .start_with(lambda ctx: ctx.data.update(i=ctx.data["i"] + 1))
    .if_do(
        lambda data: data["i"] < data["n"],
        lambda b: b.start_with(lambda ctx: None).continue_as_new(lambda data: {**data, "looped": True}),
    )
    .then(finish)
    .build("ContinueByBuilder", 1)
)


async def test_continue_as_new_keeps_the_stored_size_bounded(host, stores):
    host.register(by_result)
    host.register(by_builder)
    many = 10_000 if stores.set.persistence == "memory" else 300
    reference = f"ref-{uuid.uuid4()}"
    short = await host.start_workflow("ContinueByResult", {"i": 0, "n": 10, "tag": "s"})
    long = await host.start_workflow(
        "ContinueByResult", {"i": 0, "n": many, "tag": "l"}, reference=reference,
        timeout=timedelta(days=1),
    )
    built = await host.start_workflow("ContinueByBuilder", {"i": 0, "n": 5})

    short_end = await host.wait_for_workflow(short, timeout=60)
    long_end = await host.wait_for_workflow(long, timeout=120)
    built_end = await host.wait_for_workflow(built, timeout=60)

    for end, rounds in ((short_end, 10), (long_end, many)):
        assert end.status is WorkflowStatus.COMPLETE
        assert end.data["i"] == rounds and end.data["done"] is True
    assert long_end.id == long and long_end.reference == reference
    assert deadline_of(long_end) is not None  # carried to each round's first pointer
    # Stored pointers: the last round's only, however many rounds ran.
    assert len(long_end.execution_pointers) == len(short_end.execution_pointers) == 2

    assert built_end.status is WorkflowStatus.COMPLETE
    assert built_end.data == {"i": 5, "n": 5, "looped": True, "done": True}
    assert len(built_end.execution_pointers) <= 4  # the last round: step, if, then
    assert await host.get_execution_errors(long) == []
