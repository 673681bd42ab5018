"""User tasks: an expense is approved or rejected by a person, with an escalation.

Each expense waits for its approver's answer; the chosen option's body runs, then the workflow
goes on. One approver answers at once; the other expense goes unanswered and, after its
escalation time, is the director's to answer. A wrong value is refused with the options
listed. The script plays the people; at a terminal they would use ``wfe tasks --assignee NAME``
and ``wfe act KEY VALUE --user NAME`` on the same store.

Run it with ``python examples/approval.py`` (``--db URL`` for another store).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta

from wfe import OpenUserAction, WorkflowBuilder, WorkflowHost
from wfe.errors import UserActionError

#: Short, so the example does not wait long; hours or days in real life.
ESCALATE_AFTER = timedelta(milliseconds=300)

expense = (
    WorkflowBuilder(dict)
    .start_with(lambda ctx: None)
    .user_task(
        lambda d: f"Approve {d['what']} for {d['amount']} EUR?",
        assigner=lambda d: d["approver"],
        options={
            "approve": lambda b: b.start_with(lambda ctx: ctx.data.update(paid=True)),
            "reject": lambda b: b.start_with(lambda ctx: ctx.data.update(paid=False)),
        },
    )
    .escalate(after=ESCALATE_AFTER, to="director")
    .then_fn(lambda ctx: print(f"{ctx.data['what']}: {'paid' if ctx.data['paid'] else 'not paid'}"))
    .build("expense", 1)
)


async def tasks_of(host: WorkflowHost, person: str, count: int) -> list[OpenUserAction]:
    """The open tasks of ``person``, once there are ``count`` (the steps open them)."""
    for _ in range(500):
        found = await host.list_open_user_actions(assignee=person)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.02)
    raise TimeoutError(f"{person} never had {count} open task(s)")


async def main(db: str) -> None:
    async with WorkflowHost(db) as host:
        host.register(expense)
        taxi = await host.start_workflow(
            "expense", {"what": "a taxi", "amount": 40, "approver": "ann"})
        laptop = await host.start_workflow(
            "expense", {"what": "a laptop", "amount": 2400, "approver": "bob"})

        [task] = [t for t in await tasks_of(host, "ann", 1) if t.workflow_id == taxi]
        print(f"ann is asked: {task.prompt} options: {', '.join(task.options)}")
        try:
            await host.publish_user_action(task.key, "ann", "maybe")
        except UserActionError as exc:
            print(f"refused: {exc}")
        await host.publish_user_action(task.key, "ann", "approve")
        await host.wait_for_workflow(taxi, timeout=30)

        # bob does not answer; once the escalation time passed, the task is the director's.
        await asyncio.sleep(ESCALATE_AFTER.total_seconds())
        [task] = [t for t in await tasks_of(host, "director", 1) if t.workflow_id == laptop]
        print(f"escalated to {task.assigned_to}: {task.prompt}")
        await host.publish_user_action(task.key, "director", "reject")
        done = await host.wait_for_workflow(laptop, timeout=30)
        print(f"open tasks left: {len(await host.list_open_user_actions())}, "
              f"laptop workflow {done.status.value}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="memory://")
    asyncio.run(main(parser.parse_args().db))
