"""``WorkflowExecutor`` on its own: one pass over an in-memory instance, no host, no provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    PointerStatus,
    StepBody,
    WorkflowBuilder,
    WorkflowStatus,
)
from wfe_core import (
    ExecutionError,
    ExecutionPointer,
    ExecutionPointers,
    WorkflowDefinition,
    WorkflowInstance,
)
from wfe_core._definition import WorkflowStep
from wfe_core._executor import PRIMITIVE_ROUNDS, PassResult, WorkflowExecutor
from wfe_core._lifecycle import LifecycleEventType
from wfe_core._primitives import EPOCH, Primitive
from wfe_core.testing import FakeClock

START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

#: Every body run, as (step class name, data snapshot); reset per test.
RUNS: list[str] = []


@pytest.fixture(autouse=True)
def _reset_runs() -> None:
    RUNS.clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


class Record(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        RUNS.append(type(self).__name__)


class A(Record):
    pass


class B(Record):
    pass


class C(Record):
    pass


def make_instance(
    definition: WorkflowDefinition, data: Any = None, **fields: Any
) -> WorkflowInstance:
    return WorkflowInstance(
        definition_id=definition.id,
        version=definition.version,
        data={} if data is None else data,
        next_execution=START,
        execution_pointers=[ExecutionPointer(step_id=0)],
        **fields,
    )


async def run_pass(
    clock: FakeClock, instance: WorkflowInstance, definition: WorkflowDefinition
) -> PassResult:
    return await WorkflowExecutor(clock).execute(instance, definition)


def pointers_at(instance: WorkflowInstance, step_id: int) -> list[ExecutionPointer]:
    return [p for p in instance.execution_pointers if p.step_id == step_id]


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


# -- next and outcomes ------------------------------------------------------------------------


def test_a_pass_result_lists_what_it_records_and_shares_no_list_with_another() -> None:
    first, second = PassResult(), PassResult()
    errors = [
        ExecutionError(workflow_id="w", execution_pointer_id="p", message=m, error_time=START)
        for m in ("one", "two")
    ]
    first.add_error(errors[0])
    first.add_error(errors[1])
    assert first.errors == errors
    assert list(second.errors) == [] and list(second.subscriptions) == []
    second.add_error(errors[1])
    assert second.errors == [errors[1]] and first.errors == errors


async def test_next_closes_the_pointer_and_creates_the_successor(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(A).then(B).build("ab")
    instance = make_instance(definition)
    first = only(instance.execution_pointers.open())

    result = await run_pass(clock, instance, definition)

    assert RUNS == ["A"]
    assert result.steps_run == 1
    assert first.status is PointerStatus.COMPLETE
    assert first.active is False
    assert (first.start_time, first.end_time) == (START, START)
    successor = only(instance.execution_pointers.open())
    assert successor.step_id == 1
    assert successor.predecessor_id == first.id
    assert successor.status is PointerStatus.PENDING and successor.active
    assert result.changed == {first.id, successor.id}
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.next_execution == START
    assert list(result.errors) == [] and list(result.subscriptions) == []


async def test_the_last_step_completes_the_workflow(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(A).then(B).build("ab")
    instance = make_instance(definition)
    await run_pass(clock, instance, definition)
    clock.advance(timedelta(seconds=1))
    result = await run_pass(clock, instance, definition)
    assert RUNS == ["A", "B"]
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.complete_time == START + timedelta(seconds=1)
    assert instance.next_execution is None
    assert instance.execution_pointers.open() == []
    kinds = [e.type for e in result.events]
    assert kinds == [
        LifecycleEventType.STEP_STARTED,
        LifecycleEventType.STEP_COMPLETED,
        LifecycleEventType.WORKFLOW_COMPLETED,
    ]


async def test_a_pass_runs_only_pointers_due_at_its_start(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(A).then(B).then(C).build("abc")
    instance = make_instance(definition)
    await run_pass(clock, instance, definition)
    await run_pass(clock, instance, definition)
    assert RUNS == ["A", "B"]


class Route(StepBody):
    blocking = False

    def run(self, ctx: Any) -> ExecutionResult:
        return ExecutionResult.outcome(ctx.data["route"])


@pytest.mark.parametrize(("route", "expected_step"), [("left", 1), ("right", 2)])
async def test_outcome_routing_follows_only_the_matching_branch(
    clock: FakeClock, route: str, expected_step: int
) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(Route)
        .branch("left", lambda b: b.start_with(A))
        .branch("right", lambda b: b.start_with(B))
        .build("route")
    )
    instance = make_instance(definition, {"route": route})
    first = only(instance.execution_pointers.open())
    result = await run_pass(clock, instance, definition)
    assert first.outcome == route
    successor = only(instance.execution_pointers.open())
    assert successor.step_id == expected_step
    assert result.changed == {first.id, successor.id}


async def test_an_outcome_matching_no_branch_ends_the_path(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder().start_with(Route).branch("left", lambda b: b.start_with(A)).build("route")
    )
    instance = make_instance(definition, {"route": "nowhere"})
    await run_pass(clock, instance, definition)
    assert instance.execution_pointers.open() == []
    assert instance.status is WorkflowStatus.COMPLETE


async def test_decide_routes_by_its_expression(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .decide(lambda d: d["n"] % 2)
        .branch(0, lambda b: b.start_with(B))
        .branch(1, lambda b: b.start_with(C))
        .build("decide")
    )
    instance = make_instance(definition, {"n": 7})
    for _ in range(4):
        await run_pass(clock, instance, definition)
    assert RUNS == ["A", "C"]
    assert instance.status is WorkflowStatus.COMPLETE


# -- results that do not proceed ----------------------------------------------------------------


class PersistOnce(StepBody):
    blocking = False

    def run(self, ctx: Any) -> ExecutionResult:
        RUNS.append(f"persist:{ctx.persistence_data}")
        if ctx.persistence_data is None:
            return ExecutionResult.persist({"count": 1})
        return ExecutionResult.next()


async def test_persist_keeps_data_and_runs_again(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(PersistOnce).then(A).build("persist")
    instance = make_instance(definition)
    pointer = only(instance.execution_pointers.open())
    result = await run_pass(clock, instance, definition)
    assert pointer.persistence_data == {"count": 1}
    assert pointer.status is PointerStatus.RUNNING
    assert pointer.active and pointer.end_time is None and pointer.sleep_until is None
    assert only(instance.execution_pointers.open()) is pointer
    assert result.changed == {pointer.id}
    assert instance.next_execution == START
    await run_pass(clock, instance, definition)
    assert RUNS == ["persist:None", "persist:{'count': 1}"]
    assert pointer.status is PointerStatus.COMPLETE


class Nap(StepBody):
    blocking = False

    def run(self, ctx: Any) -> ExecutionResult:
        RUNS.append("nap")
        if ctx.persistence_data is None:
            return ExecutionResult.sleep(timedelta(minutes=5), persistence_data="slept")
        return ExecutionResult.next()


async def test_sleep_sets_sleep_until_and_waits_for_it(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(Nap).then(A).build("nap")
    instance = make_instance(definition)
    pointer = only(instance.execution_pointers.open())
    await run_pass(clock, instance, definition)
    assert pointer.status is PointerStatus.SLEEPING
    assert pointer.sleep_until == START + timedelta(minutes=5)
    assert pointer.persistence_data == "slept"
    assert pointer.active and pointer.end_time is None
    assert instance.next_execution == START + timedelta(minutes=5)

    clock.advance(timedelta(minutes=4, seconds=59))
    early = await run_pass(clock, instance, definition)
    assert RUNS == ["nap"]
    assert early.steps_run == 0 and early.changed == set()
    assert instance.next_execution == START + timedelta(minutes=5)

    clock.advance(timedelta(seconds=1))
    await run_pass(clock, instance, definition)
    assert RUNS == ["nap", "nap"]
    assert pointer.status is PointerStatus.COMPLETE
    assert pointer.sleep_until is None


class Fan(StepBody):
    blocking = False

    def run(self, ctx: Any) -> ExecutionResult:
        if ctx.persistence_data is None:
            return ExecutionResult.branch(["x", "y", "z"], persistence_data={"fanned": True})
        return ExecutionResult.next()


class Leaf(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        RUNS.append(f"leaf:{ctx.item}")


def _fan_definition() -> WorkflowDefinition:
    return WorkflowDefinition(
        id="fan",
        version=1,
        steps=[
            WorkflowStep(id=0, body=Fan, children=[1], blocking=False),
            WorkflowStep(id=1, body=Leaf, blocking=False),
        ],
    )


async def test_branch_starts_the_children_once_per_value(clock: FakeClock) -> None:
    definition = _fan_definition()
    instance = make_instance(definition)
    parent = only(instance.execution_pointers.open())
    result = await run_pass(clock, instance, definition)
    children = pointers_at(instance, 1)
    assert [c.context_item for c in children] == ["x", "y", "z"]
    assert parent.children == [c.id for c in children]
    assert all(c.scope == [parent.id] and c.predecessor_id == parent.id for c in children)
    assert all(c.active and c.status is PointerStatus.PENDING for c in children)
    assert parent.persistence_data == {"fanned": True}
    assert parent.end_time is None
    assert result.changed == {parent.id, *(c.id for c in children)}
    await run_pass(clock, instance, definition)
    assert sorted(RUNS) == ["leaf:x", "leaf:y", "leaf:z"]


async def test_foreach_branches_one_child_per_item(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .for_each(lambda d: d["items"], lambda b: b.start_with(Leaf), parallel=True)
        .build("fe")
    )
    instance = make_instance(definition, {"items": [1, 2]})
    for _ in range(6):
        await run_pass(clock, instance, definition)
    assert RUNS == ["A", "leaf:1", "leaf:2"]
    assert instance.status is WorkflowStatus.COMPLETE


async def test_sequential_foreach_runs_items_in_order(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .for_each(lambda d: d["items"], lambda b: b.start_with(Leaf).then(B), parallel=False)
        .build("fe")
    )
    instance = make_instance(definition, {"items": [1, 2, 3]})
    for _ in range(20):
        await run_pass(clock, instance, definition)
    assert RUNS == ["A", "leaf:1", "B", "leaf:2", "B", "leaf:3", "B"]
    assert instance.status is WorkflowStatus.COMPLETE


class Wait(StepBody):
    blocking = False

    def run(self, ctx: Any) -> ExecutionResult:
        if not ctx.pointer.event_published:
            return ExecutionResult.wait_for_event(
                "order.paid", ctx.data["key"], ctx.data.get("as_of")
            )
        ctx.data["got"] = ctx.pointer.event_data
        return ExecutionResult.next()


@pytest.mark.parametrize("as_of", [None, datetime(2023, 6, 1, tzinfo=UTC)])
async def test_wait_for_event_subscribes_and_deactivates_the_pointer(
    clock: FakeClock, as_of: datetime | None
) -> None:
    definition = WorkflowBuilder().start_with(Wait).then(A).build("wait")
    instance = make_instance(definition, {"key": "order-1", "as_of": as_of})
    pointer = only(instance.execution_pointers.open())
    result = await run_pass(clock, instance, definition)
    assert pointer.status is PointerStatus.WAITING_FOR_EVENT
    assert pointer.active is False
    assert (pointer.event_name, pointer.event_key, pointer.event_published) == (
        "order.paid",
        "order-1",
        False,
    )
    sub = only(result.subscriptions)
    assert (sub.workflow_id, sub.step_id, sub.execution_pointer_id) == (instance.id, 0, pointer.id)
    assert (sub.event_name, sub.event_key) == ("order.paid", "order-1")
    assert sub.subscribe_as_of == (as_of or START)
    assert result.changed == {pointer.id}
    assert instance.next_execution is None
    assert instance.status is WorkflowStatus.RUNNABLE


async def test_a_waiting_pointer_does_not_run_until_the_event_is_delivered(
    clock: FakeClock,
) -> None:
    definition = WorkflowBuilder().start_with(Wait).then(A).build("wait")
    instance = make_instance(definition, {"key": "k"})
    pointer = only(instance.execution_pointers.open())
    await run_pass(clock, instance, definition)
    idle = await run_pass(clock, instance, definition)
    assert idle.steps_run == 0 and idle.changed == set() and list(idle.subscriptions) == []
    # what the host does when the event arrives
    pointer.event_published = True
    pointer.event_data = {"amount": 5}
    pointer.active = True
    await run_pass(clock, instance, definition)
    assert instance.data["got"] == {"amount": 5}
    assert pointer.status is PointerStatus.COMPLETE


async def test_wait_for_primitive_subscribes_from_the_epoch_or_the_effective_date(
    clock: FakeClock,
) -> None:
    when = datetime(2024, 1, 1, 11, tzinfo=UTC)
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .parallel(
            lambda par: par.branch(lambda b: b.wait_for("e1", lambda d: d["k"])).branch(
                lambda b: b.wait_for("e2", 42, effective_date=lambda d: when)
            )
        )
        .build("waits")
    )
    instance = make_instance(definition, {"k": "key-1"})
    subs = []
    for _ in range(4):
        subs += (await run_pass(clock, instance, definition)).subscriptions
    by_name = {s.event_name: s for s in subs}
    assert set(by_name) == {"e1", "e2"}
    assert (by_name["e1"].event_key, by_name["e1"].subscribe_as_of) == ("key-1", EPOCH)
    assert (by_name["e2"].event_key, by_name["e2"].subscribe_as_of) == ("42", when)


async def test_an_inactive_pointer_does_not_run(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(A).build("a")
    instance = WorkflowInstance(
        definition_id="a", data={}, execution_pointers=[ExecutionPointer(step_id=0, active=False)]
    )
    result = await run_pass(clock, instance, definition)
    assert RUNS == []
    assert result.steps_run == 0 and result.changed == set()
    assert instance.status is WorkflowStatus.RUNNABLE
    assert instance.next_execution is None


async def test_a_pass_on_a_workflow_that_is_not_runnable_runs_nothing(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(A).build("a")
    instance = make_instance(definition, status=WorkflowStatus.SUSPENDED)
    result = await run_pass(clock, instance, definition)
    assert RUNS == [] and result.steps_run == 0
    assert instance.status is WorkflowStatus.SUSPENDED


# -- inputs, outputs, context ---------------------------------------------------------------------


class Mapped(StepBody):
    blocking = False
    x: Any = None
    y: Any = None
    z: Any = None
    answer: Any = None

    def run(self, ctx: Any) -> ExecutionResult:
        RUNS.append(f"saw {self.x} {self.y} {self.z}")
        self.answer = (self.x or 0) + 1
        if ctx.data.get("hold"):
            return ExecutionResult.persist(None)
        return ExecutionResult.next()


def _mapped_definition() -> WorkflowDefinition:
    return (
        WorkflowBuilder()
        .start_with(Mapped)
        .input(x=lambda d: d["in"], y="constant", z=lambda d, ctx: ctx.pointer.step_id)
        .output(lambda step, data: data.setdefault("actions", []).append(step.answer))
        .output(
            copied="answer",
            doubled=lambda step: step.answer * 2,
            both=lambda step, data: (step.answer, data["in"]),
        )
        .build("mapped")
    )


async def test_inputs_are_applied_before_run_and_outputs_after(clock: FakeClock) -> None:
    definition = _mapped_definition()
    instance = make_instance(definition, {"in": 10})
    await run_pass(clock, instance, definition)
    assert RUNS == ["saw 10 constant 0"]
    assert instance.data == {
        "in": 10,
        "actions": [11],
        "copied": 11,
        "doubled": 22,
        "both": (11, 10),
    }


async def test_outputs_are_not_applied_when_the_step_does_not_proceed(clock: FakeClock) -> None:
    definition = _mapped_definition()
    instance = make_instance(definition, {"in": 10, "hold": True})
    await run_pass(clock, instance, definition)
    assert RUNS == ["saw 10 constant 0"]
    assert instance.data == {"in": 10, "hold": True}


async def test_outputs_write_attributes_of_object_data(clock: FakeClock) -> None:
    class Data:
        def __init__(self) -> None:
            self.in_ = 1
            self.result = None

    definition = (
        WorkflowBuilder()
        .start_with(Mapped)
        .input(x=lambda d: d.in_)
        .output(result="answer")
        .build("obj")
    )
    data = Data()
    data.get = lambda key: None  # type: ignore[attr-defined]
    instance = make_instance(definition, data)
    await run_pass(clock, instance, definition)
    assert data.result == 2


class SeesContext(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        RUNS.append(
            repr(
                (
                    ctx.data is ctx.workflow.data,
                    ctx.step.id,
                    ctx.pointer.step_id,
                    ctx.item,
                    ctx.persistence_data,
                )
            )
        )


async def test_the_context_shows_data_workflow_step_pointer_item(clock: FakeClock) -> None:
    definition = WorkflowBuilder().start_with(SeesContext).build("ctx")
    instance = WorkflowInstance(
        definition_id="ctx",
        data={"a": 1},
        execution_pointers=[
            ExecutionPointer(step_id=0, context_item="item", persistence_data="kept")
        ],
    )
    await run_pass(clock, instance, definition)
    assert RUNS == [repr((True, 0, 0, "item", "kept"))]


async def test_sync_async_and_function_steps_all_run(clock: FakeClock) -> None:
    class Blocking(StepBody):
        def run(self, ctx: Any) -> None:
            ctx.data["order"].append("thread")

    class Async(StepBody):
        async def run(self, ctx: Any) -> ExecutionResult:
            ctx.data["order"].append("async")
            return ExecutionResult.next()

    async def async_fn(ctx: Any) -> None:
        ctx.data["order"].append("async_fn")

    definition = (
        WorkflowBuilder()
        .start_with(Blocking)
        .then(Async)
        .then_fn(lambda ctx: ctx.data["order"].append("fn"))
        .then(async_fn)
        .build("kinds")
    )
    instance = make_instance(definition, {"order": []})
    for _ in range(4):
        await run_pass(clock, instance, definition)
    assert instance.data["order"] == ["thread", "async", "fn", "async_fn"]
    assert instance.status is WorkflowStatus.COMPLETE


# -- errors -------------------------------------------------------------------------------------


class Boom(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        RUNS.append("boom")
        raise ValueError("the oven is on fire")


def _boom(
    behavior: ErrorBehavior | None, default: ErrorBehavior | None = None
) -> WorkflowDefinition:
    builder: WorkflowBuilder[Any] = WorkflowBuilder(dict, default_error_behavior=default)
    step = builder.start_with(Boom).output(never="x")
    if behavior is not None:
        step = step.on_error(behavior)
    return step.then(A).build("boom")


async def test_an_exception_is_recorded_and_the_step_retried_with_backoff(clock: FakeClock) -> None:
    behavior = ErrorBehavior.retry(
        interval=timedelta(seconds=1), backoff=2.0, max_interval=timedelta(seconds=3)
    )
    definition = _boom(behavior)
    instance = make_instance(definition)
    pointer = only(instance.execution_pointers.open())
    waits = []
    for attempt in range(1, 5):
        result = await run_pass(clock, instance, definition)
        error = only(result.errors)
        assert error.message == "ValueError: the oven is on fire"
        assert error.error_type == "ValueError"
        assert (error.workflow_id, error.execution_pointer_id, error.step_id) == (
            instance.id,
            pointer.id,
            0,
        )
        assert error.error_time == clock.now()
        assert pointer.retry_count == attempt
        assert pointer.status is PointerStatus.FAILED
        assert pointer.active and pointer.end_time is None
        assert result.changed == {pointer.id}
        assert instance.status is WorkflowStatus.RUNNABLE
        assert instance.next_execution == pointer.sleep_until
        waits.append(pointer.sleep_until - clock.now())
        assert [e.type for e in result.events][-1] is LifecycleEventType.WORKFLOW_ERROR
        # not before it is due
        assert (await run_pass(clock, instance, definition)).steps_run == 0
        clock.set(pointer.sleep_until)
    assert waits == [timedelta(seconds=s) for s in (1, 2, 3, 3)]
    assert RUNS == ["boom"] * 4
    assert "never" not in instance.data


async def test_exhausted_retries_suspend_the_workflow_and_say_so(clock: FakeClock) -> None:
    definition = _boom(ErrorBehavior.retry(interval=timedelta(seconds=1), max_retries=2))
    instance = make_instance(definition)
    pointer = only(instance.execution_pointers.open())
    errors = []
    for _ in range(3):
        errors += (await run_pass(clock, instance, definition)).errors
        clock.advance(timedelta(seconds=1))
    assert RUNS == ["boom"] * 3
    assert instance.status is WorkflowStatus.SUSPENDED
    assert instance.next_execution is None
    assert pointer.retry_count == 2
    assert [e.error_type for e in errors] == [
        "ValueError",
        "ValueError",
        "ValueError",
        "RetriesExhaustedError",
    ]
    final = errors[-1]
    assert "retries exhausted after 2 retries" in final.message
    assert "suspended" in final.message and "Boom" in final.message
    # a suspended workflow runs no more
    assert (await run_pass(clock, instance, definition)).steps_run == 0


async def test_a_non_retryable_error_suspends_at_once(clock: FakeClock) -> None:
    definition = _boom(ErrorBehavior.retry(non_retryable=(ValueError,)))
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert "ValueError is not retryable" in result.errors[-1].message


async def test_suspend_behaviour_suspends(clock: FakeClock) -> None:
    definition = _boom(ErrorBehavior.suspend())
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.SUSPENDED
    assert instance.next_execution is None
    assert only(result.errors).message == "ValueError: the oven is on fire"
    assert LifecycleEventType.WORKFLOW_SUSPENDED in [e.type for e in result.events]


async def test_terminate_behaviour_terminates(clock: FakeClock) -> None:
    definition = _boom(ErrorBehavior.terminate())
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.TERMINATED
    assert instance.complete_time == START
    assert instance.next_execution is None
    assert LifecycleEventType.WORKFLOW_TERMINATED in [e.type for e in result.events]
    assert pointers_at(instance, 2) == []


async def test_the_definition_default_applies_when_the_step_has_none(clock: FakeClock) -> None:
    definition = _boom(None, default=ErrorBehavior.terminate())
    instance = make_instance(definition)
    await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.TERMINATED


async def test_the_step_behaviour_beats_the_definition_default(clock: FakeClock) -> None:
    definition = _boom(ErrorBehavior.suspend(), default=ErrorBehavior.terminate())
    instance = make_instance(definition)
    await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.SUSPENDED


async def test_without_any_behaviour_the_engine_retries(clock: FakeClock) -> None:
    definition = _boom(None)
    instance = make_instance(definition)
    pointer = only(instance.execution_pointers.open())
    await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.RUNNABLE
    assert pointer.retry_count == 1
    assert pointer.sleep_until == START + timedelta(seconds=1)


async def test_returning_something_else_is_a_step_failure(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(lambda ctx: 42)
        .on_error(ErrorBehavior.suspend())
        .build("bad-return")
    )
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    assert "TypeError" in only(result.errors).message
    assert "ExecutionResult" in result.errors[0].message
    assert instance.status is WorkflowStatus.SUSPENDED


async def test_an_error_in_an_input_function_is_a_step_failure(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .input(x=lambda d: d["missing"])
        .on_error(ErrorBehavior.suspend())
        .build("bad-input")
    )
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    assert RUNS == []
    assert "KeyError" in only(result.errors).message
    assert instance.status is WorkflowStatus.SUSPENDED


async def test_other_pointers_keep_running_after_one_fails(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .parallel(
            lambda par: par.branch(
                lambda b: b.start_with(Boom).on_error(ErrorBehavior.retry())
            ).branch(lambda b: b.start_with(B).then(C))
        )
        .build("par")
    )
    instance = make_instance(definition)
    for _ in range(4):
        await run_pass(clock, instance, definition)
    assert RUNS.count("boom") == 1
    assert "B" in RUNS and "C" in RUNS


async def test_an_end_step_completes_the_workflow_at_once(clock: FakeClock) -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .parallel(
            lambda par: par.branch(lambda b: b.start_with(Wait)).branch(
                lambda b: b.start_with(B).end()
            )
        )
        .build("end")
    )
    instance = make_instance(definition, {"key": "k"})
    for _ in range(5):
        await run_pass(clock, instance, definition)
    assert instance.status is WorkflowStatus.COMPLETE
    assert instance.complete_time == START


# -- what changed, and long histories ----------------------------------------------------------


class Increment(StepBody):
    blocking = False

    def run(self, ctx: Any) -> None:
        ctx.data["i"] += 1


def _closed(step_id: int, scope: list[str], n: int) -> list[ExecutionPointer]:
    done = START - timedelta(hours=1)
    return [
        ExecutionPointer(
            step_id=step_id,
            active=False,
            status=PointerStatus.COMPLETE,
            start_time=done,
            end_time=done,
            scope=list(scope),
        )
        for _ in range(n)
    ]


async def test_a_pass_at_step_10000_of_a_while_loop_looks_only_at_open_pointers(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 10_000
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .while_do(lambda d: d["i"] < n + 5, lambda b: b.start_with(Increment))
        .then(B)
        .build("long")
    )
    first = ExecutionPointer(step_id=0, active=False, status=PointerStatus.COMPLETE, end_time=START)
    loop = ExecutionPointer(
        step_id=1,
        status=PointerStatus.RUNNING,
        persistence_data={"children_active": True},
        start_time=START,
        predecessor_id=first.id,
    )
    history = _closed(2, [loop.id], n)
    body = ExecutionPointer(step_id=2, scope=[loop.id], predecessor_id=loop.id)
    instance = WorkflowInstance(
        definition_id="long",
        data={"i": n},
        next_execution=START,
        execution_pointers=[first, loop, *history, body],
    )
    snapshot = [(p.id, p.status, p.end_time) for p in history]

    iterations = 0
    real_iter = ExecutionPointers.__iter__

    def counting_iter(self: ExecutionPointers) -> Any:
        nonlocal iterations
        iterations += 1
        return real_iter(self)

    monkeypatch.setattr(ExecutionPointers, "__iter__", counting_iter)

    result = await run_pass(clock, instance, definition)

    assert iterations == 0, "a normal pass must not walk the whole history"
    assert instance.data["i"] == n + 1
    # The body ran first; the loop then saw it end in the same pass and reset for its next
    # iteration: those two pointers are written, and nothing of the history.
    assert result.changed == {body.id, loop.id}
    assert body.status is PointerStatus.COMPLETE
    assert loop.persistence_data is None

    # the loop re-checks its condition and runs its body again (in one pass: the rounds of
    # primitives before the body's user step run in it); the history is untouched
    result = await run_pass(clock, instance, definition)
    assert len(result.changed) <= 2
    assert instance.data["i"] == n + 2
    assert iterations == 0
    monkeypatch.undo()
    assert [(p.id, p.status, p.end_time) for p in history] == snapshot
    assert loop in instance.execution_pointers.open()
    assert len(instance.execution_pointers.open()) <= 2


async def _changes_per_pass(clock: FakeClock) -> list[tuple[set[str], set[str], set[str]]]:
    """(reported, really changed, open containers) after each pass of a parallel workflow."""
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .parallel(
            lambda par: par.branch(lambda b: b.start_with(B)).branch(lambda b: b.start_with(Nap))
        )
        .then(C)
        .build("changed")
    )
    instance = make_instance(definition)
    passes = []
    for _ in range(10):
        if instance.status is not WorkflowStatus.RUNNABLE:
            break
        assert instance.next_execution is not None
        if instance.next_execution > clock.now():
            clock.set(instance.next_execution)  # as the host does
        before = {p.id: repr(p) for p in instance.execution_pointers}
        result = await run_pass(clock, instance, definition)
        after = {p.id: repr(p) for p in instance.execution_pointers}
        really_changed = {pid for pid, text in after.items() if before.get(pid) != text}
        waiting_containers = {
            p.id for p in instance.execution_pointers.open() if p.children and p.end_time is None
        }
        passes.append((result.changed, really_changed, waiting_containers))
    assert instance.status is WorkflowStatus.COMPLETE
    assert RUNS == ["A", "B", "nap", "nap", "C"]
    return passes


async def test_changed_never_misses_a_pointer_that_changed(clock: FakeClock) -> None:
    for reported, really_changed, waiting_containers in await _changes_per_pass(clock):
        assert really_changed <= reported
        # anything more is a container that ran, found its body still busy and kept waiting
        assert reported - really_changed <= waiting_containers


async def test_changed_lists_exactly_the_pointers_that_changed(clock: FakeClock) -> None:
    for reported, really_changed, _ in await _changes_per_pass(clock):
        assert reported == really_changed


# -- rounds of primitives ----------------------------------------------------------------------


#: The clock a ``Slow`` step moves on, as a step that takes its time moves the real one.
SLOW_CLOCK: list[FakeClock] = []


class Slow(Record):
    """A step that takes 5 s of the test clock."""

    def run(self, ctx: Any) -> None:
        SLOW_CLOCK[0].advance(timedelta(seconds=5))
        super().run(ctx)


async def test_a_delay_after_a_step_in_its_pass_counts_from_after_the_step(
    clock: FakeClock,
) -> None:
    """The delay starts in the step's pass (one write), but from the time the step ended, not
    the time the pass began."""
    SLOW_CLOCK[:] = [clock]
    definition = (
        WorkflowBuilder().start_with(Slow).delay(timedelta(seconds=10)).then(B).build("slow")
    )
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)
    delay = only(pointers_at(instance, 1))
    assert RUNS == ["Slow"] and delay.id in result.changed
    assert delay.sleep_until == START + timedelta(seconds=15)
    assert instance.next_execution == START + timedelta(seconds=15)


async def test_a_received_event_and_the_step_after_it_are_one_pass(clock: FakeClock) -> None:
    """The wait ends and the next step runs before the pass is written: one write, not two."""
    definition = WorkflowBuilder().start_with(A).wait_for("paid", "k").then(B).build("w")
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)  # A, and its wait subscribes
    waiting = only(pointers_at(instance, 1))
    assert waiting.status is PointerStatus.WAITING_FOR_EVENT
    assert result.subscriptions and RUNS == ["A"]
    waiting.event_published, waiting.event_data, waiting.active = True, "paid!", True
    waiting.status = PointerStatus.PENDING

    result = await run_pass(clock, instance, definition)

    assert RUNS == ["A", "B"]
    assert waiting.status is PointerStatus.COMPLETE
    after = only(pointers_at(instance, 2))
    assert after.status is PointerStatus.COMPLETE
    assert result.changed >= {waiting.id, after.id}
    assert instance.status is WorkflowStatus.COMPLETE


async def test_a_round_of_primitives_that_opens_a_wait_ends_the_pass(clock: FakeClock) -> None:
    """The branch decides and its wait subscribes in one pass, but the step after the wait
    does not run: the subscription must be stored (and earlier events looked up) first."""
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .if_do(lambda d: True, lambda b: b.wait_for("paid", "k").then(B))
        .then(C)
        .build("branch-wait")
    )
    instance = make_instance(definition)
    result = await run_pass(clock, instance, definition)  # A, the if, then its wait
    assert RUNS == ["A"]
    assert [s.event_name for s in result.subscriptions] == ["paid"]
    assert instance.status is WorkflowStatus.RUNNABLE


class Spin(Primitive):
    """A primitive that does nothing but go on (as a loop's condition check does)."""

    def run(self, ctx: Any) -> ExecutionResult:
        RUNS.append("Spin")
        return ExecutionResult.next()


async def test_a_loop_of_primitives_alone_still_ends_its_pass(clock: FakeClock) -> None:
    """Rounds without a user step are capped, so such a loop writes (and yields) as it goes."""
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .while_do(lambda d: True, lambda b: b.start_with(Spin))
        .build("spin")
    )
    instance = make_instance(definition)
    await run_pass(clock, instance, definition)  # A, then the loop's first rounds
    assert RUNS[0] == "A" and 1 <= RUNS.count("Spin") < PRIMITIVE_ROUNDS
    per_pass = []
    for _ in range(4):
        before = RUNS.count("Spin")
        await run_pass(clock, instance, definition)  # returns: the rounds are capped
        per_pass.append(RUNS.count("Spin") - before)
        assert instance.status is WorkflowStatus.RUNNABLE
        assert instance.next_execution == START  # due again at once: the host goes on
    # each pass went round the loop (several primitives each), none more than its rounds
    assert all(1 <= n < PRIMITIVE_ROUNDS for n in per_pass), per_pass


async def test_a_loops_bodies_share_one_scope_list(clock: FakeClock) -> None:
    """Every pointer of a loop's bodies has the scope [loop], in one list: a long loop keeps
    one object fewer per iteration for the collector to walk."""
    definition = (
        WorkflowBuilder(dict)
        .start_with(A)
        .while_do(lambda d: d.setdefault("i", 0) < 3, lambda b: b.start_with(B).then(C))
        .build("loop")
    )
    instance = make_instance(definition)
    for _ in range(12):
        if instance.status is not WorkflowStatus.RUNNABLE:
            break
        await run_pass(clock, instance, definition)
        instance.data["i"] = RUNS.count("C")
    assert RUNS.count("C") == 3 and instance.status is WorkflowStatus.COMPLETE
    loop = only(pointers_at(instance, 1))
    body = [p for p in instance.execution_pointers if p.scope]
    assert len(body) == 6
    assert all(p.scope == [loop.id] for p in body)
    assert len({id(p.scope) for p in body}) == 1
