"""``WorkflowBuilder``: every method of the contract builds the expected graph, and ``build()``
reports every problem of an invalid definition at once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from wfe import ErrorBehavior, ExecutionResult, StepBody, WorkflowBuilder
from wfe.errors import DefinitionError, WfeError
from wfe_core import StepBuilder, WorkflowDefinition
from wfe_core import _primitives as p
from wfe_core._definition import NO_VALUE


class A(StepBody):
    def run(self, ctx: Any) -> None:
        return None


class B(StepBody):
    def run(self, ctx: Any) -> ExecutionResult:
        return ExecutionResult.next()


class C(StepBody):
    async def run(self, ctx: Any) -> None:
        return None


class Undo(StepBody):
    def run(self, ctx: Any) -> None:
        return None


@attrs.define
class AttrsData:
    n: int = 0


@dataclasses.dataclass
class DataclassData:
    n: int = 0


def edges(definition: WorkflowDefinition, step_id: int) -> list[tuple[int, Any]]:
    """(next step, value) of each outcome; ``None`` for an unconditional edge."""
    return [
        (o.next_step, None if o.value is NO_VALUE else o.value)
        for o in definition.steps[step_id].outcomes
    ]


def inputs(definition: WorkflowDefinition, step_id: int) -> dict[str, Any]:
    return dict(definition.steps[step_id].inputs)


# -- steps ------------------------------------------------------------------------------------


def test_start_with_then_name_id_build_a_chain() -> None:
    definition = (
        WorkflowBuilder(dict)
        .start_with(A)
        .name("first")
        .id("ext-a")
        .then(B)
        .name("second")
        .then(C)
        .end_workflow()
        .build("chain", 3)
    )
    assert isinstance(definition, WorkflowDefinition)
    assert (definition.id, definition.version, definition.data_type) == ("chain", 3, dict)
    assert [s.id for s in definition.steps] == [0, 1, 2]
    assert [s.body for s in definition.steps] == [A, B, C]
    assert [s.name for s in definition.steps] == ["first", "second", None]
    assert definition.steps[0].external_id == "ext-a"
    assert edges(definition, 0) == [(1, None)]
    assert edges(definition, 1) == [(2, None)]
    assert edges(definition, 2) == []
    assert definition.steps[2].is_async is False  # an async *method* is detected at run time


def test_start_with_and_then_take_a_name_keyword() -> None:
    definition = WorkflowBuilder().start_with(A, name="a").then(B, name="b").build("named")
    assert [s.display_name for s in definition.steps] == ["a", "b"]


def test_display_name_defaults_to_the_class_name() -> None:
    definition = WorkflowBuilder().start_with(A).build("x")
    assert definition.steps[0].display_name == "A"


def test_then_fn_and_then_take_functions() -> None:
    def sync_fn(ctx: Any) -> None:
        return None

    async def async_fn(ctx: Any) -> None:
        return None

    definition = (
        WorkflowBuilder()
        .start_with(sync_fn)
        .then_fn(lambda ctx: None)
        .then(async_fn)
        .then_fn(async_fn)
        .build("fns")
    )
    assert definition.steps[0].body is sync_fn
    assert callable(definition.steps[1].body)
    assert [s.is_async for s in definition.steps] == [False, False, True, True]
    assert [s.is_primitive for s in definition.steps] == [False] * 4
    assert edges(definition, 0) == [(1, None)]


def test_input_and_output_are_recorded_in_order() -> None:
    def total(step: Any) -> int:
        return 1

    def action(step: Any, data: Any) -> None:
        return None

    definition = (
        WorkflowBuilder()
        .start_with(A)
        .input(x=1, y=lambda d: d["y"])
        .input(z=lambda d, ctx: ctx.item)
        .output(action, result="value", total=total)
        .build("io")
    )
    step = definition.steps[0]
    assert [name for name, _ in step.inputs] == ["x", "y", "z"]
    assert step.inputs[0] == ("x", 1)
    assert step.outputs == [(None, action), ("result", "value"), ("total", total)]


# -- containers -------------------------------------------------------------------------------


def test_if_do_makes_a_container_and_continues_after_it() -> None:
    cond = lambda d: d["go"]
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .if_do(cond, lambda b: b.start_with(B).then(C))
        .then(Undo)
        .build("if")
    )
    assert definition.steps[1].body is p.If
    assert definition.steps[1].children == [2]
    assert inputs(definition, 1)["condition"] is cond
    assert edges(definition, 0) == [(1, None)]
    assert edges(definition, 2) == [(3, None)]  # inside the body
    assert edges(definition, 3) == []  # the body ends
    assert edges(definition, 1) == [(4, None)]  # then() continues after the container
    assert definition.steps[4].body is Undo


def test_while_do_makes_a_container() -> None:
    cond = lambda d: d["n"] < 3
    definition = (
        WorkflowBuilder().start_with(A).while_do(cond, lambda b: b.start_with(B)).then(C).build("w")
    )
    assert definition.steps[1].body is p.While
    assert definition.steps[1].children == [2]
    assert inputs(definition, 1)["condition"] is cond
    assert edges(definition, 1) == [(3, None)]


@pytest.mark.parametrize("parallel", [True, False])
def test_for_each_records_items_and_mode(parallel: bool) -> None:
    items = lambda d: d["items"]
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .for_each(items, lambda b: b.start_with(B).then(C), parallel=parallel)
        .build("fe")
    )
    step = definition.steps[1]
    assert step.body is p.Foreach
    assert step.children == [2]
    assert inputs(definition, 1) == {"collection": items, "parallel": parallel}
    assert edges(definition, 2) == [(3, None)]


def test_for_each_is_parallel_by_default() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .for_each(lambda d: [], lambda b: b.start_with(B))
        .build("fe")
    )
    assert inputs(definition, 1)["parallel"] is True


def test_parallel_branches_are_children_of_one_container() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .parallel(
            lambda par: (
                par.branch(lambda b: b.start_with(B).then(C))
                .branch(lambda b: b.start_with(C))
                .branch(lambda b: b.start_with(Undo))
            )
        )
        .then(A)
        .build("par")
    )
    container = definition.steps[1]
    assert container.body is p.Sequence
    assert container.children == [2, 4, 5]
    assert edges(definition, 2) == [(3, None)]
    assert edges(definition, 4) == []
    assert edges(definition, 1) == [(6, None)]


def test_saga_reverts_and_does_not_resume_its_children() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .saga(lambda s: s.start_with(B).compensate_with(Undo).then(C).compensate_with(Undo))
        .then(A)
        .build("saga")
    )
    saga = definition.steps[1]
    assert saga.body is p.Saga
    assert (saga.resume_children, saga.revert_children) == (False, True)
    assert saga.children == [2]
    # B(2) -> compensation 3, then C(4) -> compensation 5
    assert definition.steps[2].compensation_step_id == 3
    assert definition.steps[4].compensation_step_id == 5
    assert definition.steps[3].body is Undo and definition.steps[5].body is Undo
    assert edges(definition, 2) == [(4, None)]
    assert edges(definition, 1) == [(6, None)]


def test_compensate_with_adds_an_unreachable_compensation_step() -> None:
    definition = WorkflowBuilder().start_with(A).compensate_with(Undo).then(B).build("comp")
    assert definition.steps[0].compensation_step_id == 1
    assert definition.steps[1].body is Undo
    assert definition.steps[1].name == "compensate A"
    assert edges(definition, 0) == [(2, None)]
    assert all(o.next_step != 1 for s in definition.steps for o in s.outcomes)


def test_compensate_with_sequence_adds_a_compensation_container() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .compensate_with_sequence(lambda b: b.start_with(Undo).then(B))
        .then(C)
        .build("seq")
    )
    comp_id = definition.steps[0].compensation_step_id
    assert comp_id == 1
    assert definition.steps[1].body is p.Sequence
    assert definition.steps[1].children == [2]
    assert edges(definition, 2) == [(3, None)]
    assert edges(definition, 0) == [(4, None)]


def test_wait_for_records_name_key_and_effective_date() -> None:
    key = lambda d: d["id"]
    when = datetime(2024, 1, 1, tzinfo=UTC)
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .wait_for("oven.timer", key)
        .output(value=lambda step: step.event_data)
        .wait_for("other", "fixed-key", effective_date=when)
        .build("wait")
    )
    assert definition.steps[1].body is p.WaitFor
    assert definition.steps[1].name == "wait for oven.timer"
    assert inputs(definition, 1) == {"event_name": "oven.timer", "event_key": key}
    assert inputs(definition, 2) == {
        "event_name": "other",
        "event_key": "fixed-key",
        "effective_date": when,
    }
    assert [t for t, _ in definition.steps[1].outputs] == ["value"]


def test_delay_takes_a_timedelta_or_a_function() -> None:
    fn = lambda d: timedelta(seconds=d["s"])
    definition = WorkflowBuilder().start_with(A).delay(timedelta(hours=1)).delay(fn).build("delay")
    assert definition.steps[1].body is p.Delay
    assert inputs(definition, 1) == {"period": timedelta(hours=1)}
    assert inputs(definition, 2) == {"period": fn}


def test_on_error_sets_the_step_behaviour() -> None:
    retry = ErrorBehavior.retry(interval=timedelta(milliseconds=100), max_retries=3, backoff=2.0)
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .on_error(retry)
        .then(B)
        .on_error(ErrorBehavior.suspend())
        .then(C)
        .on_error(ErrorBehavior.terminate())
        .then(Undo)
        .on_error(ErrorBehavior.compensate())
        .then(A)
        .build("errors")
    )
    kinds = [s.error_behavior.kind if s.error_behavior else None for s in definition.steps]
    K = ErrorBehavior.Kind
    assert kinds == [K.RETRY, K.SUSPEND, K.TERMINATE, K.COMPENSATE, None]
    assert definition.steps[0].error_behavior == retry


def test_default_error_behavior_on_the_builder() -> None:
    by_kwarg = (
        WorkflowBuilder(dict, default_error_behavior=ErrorBehavior.terminate())
        .start_with(A)
        .build("d1")
    )
    assert by_kwarg.default_error_behavior == ErrorBehavior.terminate()
    by_method: WorkflowBuilder[Any] = WorkflowBuilder(dict).default_error_behavior(
        ErrorBehavior.suspend()
    )
    assert isinstance(by_method, WorkflowBuilder)
    assert by_method.start_with(A).build("d2").default_error_behavior == ErrorBehavior.suspend()
    assert WorkflowBuilder().start_with(A).build("d3").default_error_behavior is None


def test_decide_and_branch_route_by_outcome() -> None:
    expr = lambda d: d["kind"]
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .decide(expr)
        .branch("pickup", lambda b: b.start_with(B))
        .branch("delivery", lambda b: b.start_with(C).then(Undo))
        .build("decide")
    )
    assert definition.steps[1].body is p.Decide
    assert inputs(definition, 1) == {"expression": expr}
    assert edges(definition, 1) == [(2, "pickup"), (3, "delivery")]
    assert edges(definition, 3) == [(4, None)]


def test_branch_on_a_user_step_routes_its_outcome() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .branch(1, lambda b: b.start_with(B))
        .branch(2, lambda b: b.start_with(C))
        .build("branch")
    )
    assert edges(definition, 0) == [(1, 1), (2, 2)]


def test_when_builds_one_switch_with_a_case_per_value() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .when("a", lambda b: b.start_with(B))
        .when("b", lambda b: b.start_with(C))
        .then(Undo)
        .build("when")
    )
    switch = definition.steps[1]
    assert switch.body is p.OutcomeSwitch
    assert edges(definition, 0) == [(1, None)]
    assert switch.children == [2, 4]
    assert definition.steps[2].body is p.When and inputs(definition, 2) == {"expected": "a"}
    assert definition.steps[4].body is p.When and inputs(definition, 4) == {"expected": "b"}
    assert definition.steps[2].children == [3] and definition.steps[4].children == [5]
    assert edges(definition, 1) == [(6, None)]


def test_cancel_condition_marks_the_step_cancellable() -> None:
    cond = lambda d: d["cancel"]
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .wait_for("ev", "k")
        .cancel_condition(cond, proceed_after_cancel=True)
        .then(B)
        .cancel_condition(cond)
        .build("cancel")
    )
    assert definition.steps[1].cancel_condition is cond
    assert definition.steps[1].proceed_on_cancel is True
    assert definition.steps[2].proceed_on_cancel is False
    assert definition.cancellable_steps == [definition.steps[1], definition.steps[2]]


def test_schedule_runs_beside_the_workflow() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .schedule(timedelta(minutes=5), lambda b: b.start_with(B))
        .then(C)
        .build("schedule")
    )
    assert definition.steps[1].body is p.Schedule
    assert inputs(definition, 1) == {"interval": timedelta(minutes=5)}
    assert definition.steps[1].children == [2]
    # schedule() returns the builder of the step before it: then() forks beside the schedule
    assert edges(definition, 0) == [(1, None), (3, None)]
    assert edges(definition, 1) == []


def test_recur_runs_beside_the_workflow_until_its_condition() -> None:
    until = lambda d: d["done"]
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .recur(timedelta(seconds=30), until, lambda b: b.start_with(B))
        .then(C)
        .build("recur")
    )
    recur = definition.steps[1]
    assert recur.body is p.Recur
    assert inputs(definition, 1) == {"interval": timedelta(seconds=30), "stop_condition": until}
    assert recur.cancel_condition is until
    assert recur.children == [2]
    assert edges(definition, 0) == [(1, None), (3, None)]
    assert definition.cancellable_steps == [recur]


def test_sub_workflow_records_the_child_definition() -> None:
    data_fn = lambda d: {"x": d["x"]}
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .sub_workflow("child", data_fn, version=2)
        .output(child_result="result")
        .build("parent")
    )
    step = definition.steps[1]
    assert step.body is p.SubWorkflow
    assert inputs(definition, 1) == {"definition_id": "child", "version": 2, "child_data": data_fn}
    assert step.outputs == [("child_result", "result")]


def test_attach_jumps_to_an_external_id() -> None:
    definition = (
        WorkflowBuilder().start_with(A).id("top").then(B).then(C).attach("top").build("loop")
    )
    assert edges(definition, 2) == [(0, None)]


def test_attach_can_jump_forward() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .decide(lambda d: d["k"])
        .branch("skip", lambda b: b.start_with(B).attach("tail"))
        .then(C)
        .then(Undo)
        .id("tail")
        .build("fwd")
    )
    tail = next(s.id for s in definition.steps if s.external_id == "tail")
    assert edges(definition, 2) == [(tail, None)]


def test_end_adds_an_end_step() -> None:
    definition = WorkflowBuilder().start_with(A).end().build("end")
    assert definition.steps[1].is_end is True
    assert definition.steps[1].body is p.EndStep
    assert edges(definition, 0) == [(1, None)]


def test_end_workflow_returns_the_workflow_builder() -> None:
    builder: WorkflowBuilder[AttrsData] = WorkflowBuilder(AttrsData)
    assert builder.start_with(A).then(B).end_workflow() is builder


def test_step_builder_build_is_a_shortcut() -> None:
    definition = WorkflowBuilder().start_with(A).then(B).build("short", 2)
    assert (definition.id, definition.version, len(definition.steps)) == ("short", 2, 2)
    assert isinstance(WorkflowBuilder().start_with(A), StepBuilder)


def test_version_defaults_to_one() -> None:
    assert WorkflowBuilder().start_with(A).build("v").version == 1


@pytest.mark.parametrize("data_type", [dict, dict[str, Any], AttrsData, DataclassData])
def test_data_types_that_are_accepted(data_type: Any) -> None:
    assert WorkflowBuilder(data_type).start_with(A).build("dt").data_type == data_type


def test_description_is_kept() -> None:
    definition = WorkflowBuilder(description="makes pizza").start_with(A).build("desc")
    assert definition.description == "makes pizza"


def test_a_body_may_begin_with_a_container_without_start_with() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .if_do(lambda d: True, lambda b: b.wait_for("ev", "k").then(B))
        .build("implicit")
    )
    first = definition.steps[2]
    assert definition.steps[1].children == [2]
    assert first.name == "start" and first.is_primitive
    assert definition.steps[3].body is p.WaitFor
    assert edges(definition, 2) == [(3, None)]


def test_nested_containers_build() -> None:
    definition = (
        WorkflowBuilder()
        .start_with(A)
        .for_each(
            lambda d: d["pizzas"],
            lambda b: b.start_with(B).while_do(
                lambda d: False,
                lambda w: w.start_with(C).if_do(lambda d: True, lambda i: i.start_with(Undo)),
            ),
            parallel=False,
        )
        .build("nested")
    )
    bodies = [s.body for s in definition.steps]
    assert bodies == [A, p.Foreach, B, p.While, C, p.If, Undo]
    assert definition.steps[1].children == [2]
    assert definition.steps[3].children == [4]
    assert definition.steps[5].children == [6]


def test_the_design_example_builds() -> None:
    @attrs.define
    class PizzaOrder:
        order_id: str = "o-1"
        pizzas: list[str] = attrs.Factory(list)
        is_cool_enough: bool = True
        is_delivery: bool = False

    s = {
        n: type(n, (StepBody,), {"run": lambda self, ctx: None})
        for n in [
            "ValidateOrder",
            "ChargePayment",
            "RefundPayment",
            "MakeSauce",
            "GrateCheese",
            "StretchDough",
            "AddToppings",
            "QualityCheck",
            "CheckTemperature",
            "DispatchDriver",
            "Book",
            "Unbook",
            "Pay",
            "Refund",
        ]
    }
    definition = (
        WorkflowBuilder(PizzaOrder)
        .start_with(s["ValidateOrder"])
        .name("Validate")
        .then(s["ChargePayment"])
        .compensate_with(s["RefundPayment"])
        .parallel(
            lambda par: par.branch(lambda b: b.start_with(s["MakeSauce"])).branch(
                lambda b: b.start_with(s["GrateCheese"])
            )
        )
        .for_each(
            lambda d: d.pizzas,
            lambda b: b.start_with(s["StretchDough"]).then(s["AddToppings"]),
            parallel=False,
        )
        .then(s["QualityCheck"])
        .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=100), max_retries=3))
        .wait_for("oven.timer", lambda d: d.order_id)
        .while_do(lambda d: not d.is_cool_enough, lambda b: b.start_with(s["CheckTemperature"]))
        .if_do(lambda d: d.is_delivery, lambda b: b.start_with(s["DispatchDriver"]))
        .delay(timedelta(seconds=1))
        .saga(
            lambda sg: (
                sg.start_with(s["Book"])
                .compensate_with(s["Unbook"])
                .then(s["Pay"])
                .compensate_with(s["Refund"])
            )
        )
        .then_fn(lambda ctx: print("done"))
        .end_workflow()
        .build("pizza", 1)
    )
    assert definition.id == "pizza"
    assert definition.steps[0].name == "Validate"
    assert len(definition.steps) == 22
    chain, step = [], 0
    while True:
        chain.append(definition.steps[step].display_name)
        if not definition.steps[step].outcomes:
            break
        (step,) = [o.next_step for o in definition.steps[step].outcomes]
    assert chain == [
        "Validate",
        "ChargePayment",
        "parallel",
        "for each",
        "QualityCheck",
        "wait for oven.timer",
        "while",
        "if",
        "delay",
        "saga",
        "test_the_design_example_builds.<locals>.<lambda>",
    ]


# -- DefinitionError --------------------------------------------------------------------------


def test_build_lists_every_problem_at_once() -> None:
    builder: WorkflowBuilder[Any] = WorkflowBuilder(int)  # bad data type
    (
        builder.start_with(A)
        .id("dup")
        .then(B)
        .id("dup")  # duplicate external id
        .if_do(lambda d: True, lambda b: None)  # empty container body
        .then(42)  # neither StepBody nor callable
        .on_error("retry")  # type: ignore[arg-type]  # not an ErrorBehavior
        .attach("nowhere")  # unknown attach target
    )
    with pytest.raises(DefinitionError) as info:
        builder.build("", 0)  # empty id, bad version
    error = info.value
    assert isinstance(error, WfeError)
    problems = error.problems
    expected = [
        "empty",  # the if body
        "42",  # the step that is neither
        "retry",  # the on_error argument
        "definition id",
        "version",
        "data type",
        "dup",
        "nowhere",
    ]
    assert len(problems) == len(expected), problems
    for needle in expected:
        assert any(needle in problem for problem in problems), (needle, problems)
    for problem in problems:
        assert problem in str(error)
    assert f"{len(problems)} problem(s)" in str(error)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (
            lambda: (
                WorkflowBuilder().start_with(A).if_do(lambda d: True, lambda b: None).build("x")
            ),
            "is empty",
        ),
        (
            lambda: (
                WorkflowBuilder().start_with(A).while_do(lambda d: True, lambda b: None).build("x")
            ),
            "is empty",
        ),
        (
            lambda: (
                WorkflowBuilder().start_with(A).for_each(lambda d: [], lambda b: None).build("x")
            ),
            "is empty",
        ),
        (lambda: WorkflowBuilder().start_with(A).saga(lambda b: None).build("x"), "is empty"),
        (
            lambda: WorkflowBuilder().start_with(A).parallel(lambda par: par).build("x"),
            "no branches",
        ),
        (
            lambda: (
                WorkflowBuilder()
                .start_with(A)
                .parallel(lambda par: par.branch(lambda b: None))
                .build("x")
            ),
            "is empty",
        ),
        (
            lambda: (
                WorkflowBuilder()
                .start_with(A)
                .decide(lambda d: 1)
                .branch(1, lambda b: None)
                .build("x")
            ),
            "branch 1",
        ),
        (lambda: WorkflowBuilder().start_with(A).when(1, lambda b: None).build("x"), "is empty"),
        (
            lambda: (
                WorkflowBuilder().start_with(A).compensate_with_sequence(lambda b: None).build("x")
            ),
            "is empty",
        ),
        (
            lambda: (
                WorkflowBuilder().start_with(A).if_do(lambda d: True, "not a function").build("x")  # type: ignore[arg-type]
            ),
            "function",
        ),
        (lambda: WorkflowBuilder().start_with(A).attach("missing").build("x"), "missing"),
        (lambda: WorkflowBuilder().start_with(A).id("d").then(B).id("d").build("x"), "'d'"),
        (lambda: WorkflowBuilder().start_with(object()).build("x"), "neither"),
        (lambda: WorkflowBuilder().start_with(int).build("x"), "neither"),
        (lambda: WorkflowBuilder().start_with(A).then(None).build("x"), "neither"),
        (lambda: WorkflowBuilder().start_with(A).then_fn(A).build("x"), "then_fn"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).compensate_with("nope").build("x"), "neither"),
        (
            lambda: WorkflowBuilder().start_with(A).on_error(ErrorBehavior).build("x"),  # type: ignore[arg-type]
            "ErrorBehavior",
        ),
        (lambda: WorkflowBuilder().start_with(A).on_error(None).build("x"), "ErrorBehavior"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).delay(5).build("x"), "timedelta"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).wait_for("", "k").build("x"), "event name"),
        (lambda: WorkflowBuilder().start_with(A).output(42).build("x"), "not callable"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).build(""), "definition id"),
        (lambda: WorkflowBuilder().start_with(A).build("   "), "definition id"),
        (lambda: WorkflowBuilder().start_with(A).build(None), "definition id"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).build("x", 0), "version"),
        (lambda: WorkflowBuilder().start_with(A).build("x", -1), "version"),
        (lambda: WorkflowBuilder().start_with(A).build("x", "1"), "version"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder().start_with(A).build("x", True), "version"),
        (lambda: WorkflowBuilder().start_with(A).build("x", 1.0), "version"),  # type: ignore[arg-type]
        (lambda: WorkflowBuilder(int).start_with(A).build("x"), "data type"),
        (lambda: WorkflowBuilder(list).start_with(A).build("x"), "data type"),
        (lambda: WorkflowBuilder(A()).start_with(A).build("x"), "data type"),
        (lambda: WorkflowBuilder().build("x"), "no steps"),
    ],
)
def test_each_problem_is_reported(make: Any, needle: str) -> None:
    with pytest.raises(DefinitionError) as info:
        make()
    assert any(needle in problem for problem in info.value.problems), info.value.problems


def test_definition_error_carries_the_definition_id() -> None:
    with pytest.raises(DefinitionError) as info:
        WorkflowBuilder().build("empty-one")
    assert info.value.definition_id == "empty-one"
    assert "'empty-one'" in str(info.value)


def test_a_bad_default_error_behaviour_is_reported() -> None:
    with pytest.raises(DefinitionError, match="ErrorBehavior"):
        WorkflowBuilder().default_error_behavior("retry").start_with(A).build("x")  # type: ignore[arg-type]


def test_error_behavior_rejects_bad_retry_settings_at_once() -> None:
    with pytest.raises(ValueError):
        ErrorBehavior.retry(interval=timedelta(seconds=-1))
    with pytest.raises(ValueError):
        ErrorBehavior.retry(max_retries=-1)
    with pytest.raises(ValueError):
        ErrorBehavior.retry(backoff=0.5)
