"""The pizza shop: three orders, from validation to the door, as durable wfe workflows.

Run it::

    python examples/pizza.py                      # on a SQLite file, pizza.db
    python examples/pizza.py --fail-payment       # ORD-42's card is declined: the saga compensates
    python examples/pizza.py --db memory://       # any provider URL

Three orders come in, all of the same definition:

* ORD-42, three pizzas to deliver, is large: the manager approves it (a user task, answered by
  this script after listing the open tasks) before the card is charged. Then the kitchen:
  parallel prep while a recurring check watches the oven preheat, the pizzas assembled side by
  side (a parallel for_each) with a quality check that fails once and is retried by the
  definition's default error behaviour, and the oven, which is an activity answered by a worker
  (an ``ActivityWorker`` here; any process on the same store could be one, e.g.
  ``wfe activity oven --db URL -- COMMAND``). A scheduled text goes out while it bakes; a while
  loop cools the pizzas; a delay; then outcome routing sends the order to a delivery run, a
  workflow of its own (sub_workflow, ringing the doorbell again with attach), beside a tip
  offer that a cancel condition closes when the pizzas arrive (proceed_after_cancel: the branch
  goes on to thank the customer).
* ORD-43 pays with a voucher while the voucher service is down: that step's error behaviour is
  suspend, so the order waits, suspended, for someone to resume it (``wfe resume ID``).
* ORD-44 asks for a pizza that is not on the menu: validation's error behaviour is terminate.

Payment is a saga: the decision routes to the card or the voucher (``decide().branch``), and a
declined card undoes the saga's work, the payment by a two-step compensation sequence. A text
step takes its message with ``.input(...)``; the ticket is a ``then_fn``. A middleware times
every step body and prints a summary. The script exits 0 when ORD-42 is complete, ORD-43
suspended and ORD-44 terminated (3 when the declined card cancelled ORD-42).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from wfe import (
    ActivityWorker,
    ErrorBehavior,
    LifecycleEvent,
    LifecycleEventType,
    OpenUserAction,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowDefinition,
    WorkflowHost,
    WorkflowInstance,
    WorkflowStatus,
)

_START = time.monotonic()

MENU = {"Margherita", "Funghi", "Diavola"}
#: Orders from this total up need the manager's approval.
LARGE_ORDER = Decimal("40")
#: The voucher service is down today: every voucher payment fails.
VOUCHER_SERVICE_UP = False


def say(who: str, message: str) -> None:
    # One write per line: steps of parallel branches print from several threads at once.
    print(f"[{time.monotonic() - _START:6.2f}s] {who:<14} {message}\n", end="", flush=True)


@attrs.define
class Pizza:
    name: str
    size: str
    toppings: list[str]
    price: Decimal


@attrs.define
class PizzaOrder:
    order_id: str = ""
    customer: str = ""
    placed_at: datetime = attrs.Factory(lambda: datetime.now(UTC))
    address: str | None = None
    pizzas: list[Pizza] = attrs.Factory(list)
    voucher: str | None = None
    fail_payment: bool = False
    ingredients_reserved: bool = False
    payment_id: str | None = None
    payment_voided: bool = False
    prep_done: list[str] = attrs.Factory(list)
    oven_temperature: int = 0
    assembled: list[str] = attrs.Factory(list)
    pizza_temperature: int = 0
    cooling_checks: int = 0
    delivered_by: str | None = None
    doorbell_rings: int = 0
    tip: Decimal | None = None
    status_note: str = ""

    @property
    def total(self) -> Decimal:
        return sum((p.price for p in self.pizzas), Decimal("0"))

    @property
    def is_delivery(self) -> bool:
        return self.address is not None


@attrs.define
class DeliveryRun:
    """The data of the delivery sub-workflow."""

    order_id: str = ""
    address: str = ""
    driver: str = ""
    rings: int = 0
    handed_over: bool = False


class NotOnTheMenu(Exception):
    pass


class PaymentDeclined(Exception):
    pass


# -- steps -------------------------------------------------------------------------------------


class ValidateOrder(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        unknown = [p.name for p in order.pizzas if p.name not in MENU]
        if unknown or not order.pizzas:
            say("Validate", f"order {order.order_id} refused: {', '.join(unknown) or 'no pizzas'}")
            raise NotOnTheMenu(f"{', '.join(unknown) or 'nothing'} is not on the menu")
        say("Validate", f"order {order.order_id} for {order.customer}: {len(order.pizzas)} pizza(s), "
            f"{'delivery' if order.is_delivery else 'pickup'}, total ${order.total}")


def approve(ctx: StepExecutionContext[PizzaOrder]) -> None:
    say("Manager", f"approved order {ctx.data.order_id}")


def decline(ctx: StepExecutionContext[PizzaOrder]) -> None:
    ctx.data.status_note = "declined by the manager"
    say("Manager", f"declined order {ctx.data.order_id}")


class ReserveIngredients(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        ctx.data.ingredients_reserved = True
        say("Reserve", f"dough, sauce and toppings set aside for {ctx.data.order_id}")


class ReleaseIngredients(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        ctx.data.ingredients_reserved = False
        say("Compensate", "ingredients released back to the shelf")


class ChargeCard(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        if order.fail_payment:
            say("Charge", f"card declined for ${order.total}")
            raise PaymentDeclined(f"card declined for order {order.order_id}")
        order.payment_id = f"pay-{order.order_id}"
        say("Charge", f"charged ${order.total} to the card ({order.payment_id})")


class VoidPayment(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        order.payment_voided = True
        say("Compensate", f"payment voided for {order.order_id}; nothing is owed")


class RedeemVoucher(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        if not VOUCHER_SERVICE_UP:
            say("Voucher", f"{order.voucher} for {order.order_id}: the voucher service does not answer")
            raise ConnectionError("voucher service unreachable")
        order.payment_id = f"voucher-{order.voucher}"


class TextCustomer(StepBody[PizzaOrder]):
    """Texts the customer ``message``, which each use sets with ``.input(message=...)``."""

    message = ""

    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("SMS", f"to {ctx.data.customer}: {self.message}")


def prep(item: str) -> type[StepBody[PizzaOrder]]:
    class Prep(StepBody[PizzaOrder]):
        def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
            ctx.data.prep_done.append(item)
            say("Prep", f"{item} ready")

    Prep.__qualname__ = Prep.__name__ = f"Prep{item.title().replace(' ', '')}"
    return Prep


MakeSauce, GrateCheese, ChopVegetables = prep("sauce"), prep("cheese"), prep("vegetables")


class LightOven(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Oven", "lit; preheating to 450°F")


class CheckOven(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        order.oven_temperature = min(order.oven_temperature + 150, 450)
        ready = "hot, ready to bake" if order.oven_temperature >= 450 else "still heating"
        say("Oven", f"thermometer reads {order.oven_temperature}°F: {ready}")


class StretchDough(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Dough", f"stretching a {ctx.item.size} base for {ctx.item.name}")


class AddToppings(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Toppings", f"{ctx.item.name}: {', '.join(ctx.item.toppings)}")


class QualityCheck(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        pizza: Pizza = ctx.item
        order: PizzaOrder = ctx.data
        if ctx.pointer.retry_count == 0 and pizza.name == order.pizzas[0].name:
            say("Quality", f"{pizza.name}: cheese uneven, sending it back (attempt 1)")
            raise ValueError(f"{pizza.name} failed inspection")
        order.assembled.append(pizza.name)
        say("Quality", f"{pizza.name}: looks perfect (attempt {ctx.pointer.retry_count + 1})")


class CheckTemperature(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        order.cooling_checks += 1
        order.pizza_temperature -= 90
        say("Cooling", f"check {order.cooling_checks}: {order.pizza_temperature}°F")


class RingBell(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Counter", f"ding! {ctx.data.customer}, your order is ready")


class CompleteOrder(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        order.status_note = "complete"
        how = (f"delivered by {order.delivered_by} after {order.doorbell_rings} ring(s)"
               if order.delivered_by else "picked up")
        say("Done", f"order {order.order_id} complete: {len(order.assembled)} happy pizza(s), "
            f"{how}")


def cancel_order(ctx: StepExecutionContext[PizzaOrder]) -> None:
    ctx.data.status_note = "cancelled"
    say("Cancelled", f"order {ctx.data.order_id} cancelled; the saga undid its work")


# -- the delivery run, a workflow of its own ----------------------------------------------------


class DriveToCustomer(StepBody[DeliveryRun]):
    def run(self, ctx: StepExecutionContext[DeliveryRun]) -> None:
        ctx.data.driver = "Marco"
        say("Delivery", f"Marco is driving to {ctx.data.address}")


class RingDoorbell(StepBody[DeliveryRun]):
    def run(self, ctx: StepExecutionContext[DeliveryRun]) -> None:
        trip: DeliveryRun = ctx.data
        trip.rings += 1
        trip.handed_over = trip.rings > 1  # nobody hears the first ring
        say("Doorbell", f"ring {trip.rings}: "
            + ("the door opens, pizzas handed over" if trip.handed_over else "no answer"))


def build_delivery_workflow() -> WorkflowDefinition[DeliveryRun]:
    """The driver's run: drive there, ring until someone opens the door."""
    return (
        WorkflowBuilder(DeliveryRun, description="pizza delivery")
        .start_with(DriveToCustomer).name("Drive")
        .then(RingDoorbell).name("Ring doorbell").id("doorbell")
        # No answer: wait on the porch a moment, then jump back to the doorbell.
        .if_do(lambda d: not d.handed_over, lambda b: b
               .delay(timedelta(milliseconds=100)).name("Wait on the porch")
               .attach("doorbell"))
        .end_workflow()
        .build("pizza-delivery", 1)
    )


# -- the order ----------------------------------------------------------------------------------


def approval(b: WorkflowBuilder[PizzaOrder]) -> object:
    """A person decides: the manager approves or declines; each option's body runs."""
    return b.user_task(
        lambda o: f"Approve order {o.order_id}: {len(o.pizzas)} pizzas for ${o.total}?",
        assigner="manager",
        options={"approve": lambda a: a.start_with(approve).name("Approved"),
                 "decline": lambda a: a.start_with(decline).name("Declined").end()},
    )


def payment(s: WorkflowBuilder[PizzaOrder]) -> object:
    """The saga: reserve, then pay by card or by voucher; a failure undoes what was done."""
    return (
        s.start_with(ReserveIngredients).name("Reserve ingredients")
        .compensate_with(ReleaseIngredients)
        # Outcome routing: the decision's value picks the branch; the saga ends with it.
        .decide(lambda o: "voucher" if o.voucher else "card").name("Payment method")
        .branch("card", lambda b: b
                .start_with(ChargeCard).name("Charge card")
                # Undoing a payment takes two steps: void it, then tell the customer.
                .compensate_with_sequence(lambda c: c
                                          .start_with(VoidPayment).name("Void payment")
                                          .then(TextCustomer).name("Text payment voided")
                                          .input(message="card declined, nothing was charged")))
        # A voucher service that is down needs a person, not a refund: suspend the order.
        .branch("voucher", lambda b: b
                .start_with(RedeemVoucher).name("Redeem voucher")
                .on_error(ErrorBehavior.suspend()))
    )


def deliver(b: WorkflowBuilder[PizzaOrder]) -> object:
    """Start the delivery sub-workflow and wait for it; its final data is ``step.result``."""
    return (b.sub_workflow("pizza-delivery", data=lambda o: DeliveryRun(o.order_id, o.address))
            .name("Deliver")
            .output(delivered_by=lambda step: step.result.driver,
                    doorbell_rings=lambda step: step.result.rings))


def offer_tip(b: WorkflowBuilder[PizzaOrder]) -> object:
    """Wait for a tip from the app; once the pizzas are delivered the offer is cancelled, and
    (``proceed_after_cancel``) the branch goes on to thank the customer either way."""
    return (b.wait_for("customer.tip", lambda o: o.order_id, effective_date=lambda o: o.placed_at)
            .name("Tip offer")
            .cancel_condition(lambda o: o.delivered_by is not None, proceed_after_cancel=True)
            .output(tip=lambda step: Decimal(str(step.event_data)))
            .then_fn(lambda ctx: say("Thanks", f"{ctx.data.customer}, enjoy! (tip: "
                                     f"{ctx.data.tip or 'none'})")).name("Thank customer"))


def build_pizza_workflow() -> WorkflowDefinition[PizzaOrder]:
    """The definition: every builder feature, in the order a kitchen would use them."""
    return (
        # A step that says nothing about its errors is retried three times, 100 ms apart.
        WorkflowBuilder(PizzaOrder, description="pizza order", default_error_behavior=ErrorBehavior
                        .retry(interval=timedelta(milliseconds=100), max_retries=3))
        .start_with(ValidateOrder).name("Validate order")
        .on_error(ErrorBehavior.terminate())  # an order we cannot make is over at once
        .then_fn(lambda ctx: say("Ticket", f"{ctx.data.order_id}: "
                                 f"{', '.join(p.name for p in ctx.data.pizzas)}")).name("Print ticket")
        .if_do(lambda o: o.total >= LARGE_ORDER, approval)
        .saga(payment)
        .if_do(lambda o: o.payment_id is None, lambda b: b.start_with(cancel_order).end())
        .then(TextCustomer).name("Text confirmation")
        .input(message=lambda o: f"order {o.order_id} confirmed, ${o.total}; the kitchen has it")
        # Prep while the oven preheats; the parallel step also waits for the oven to be hot.
        .parallel(lambda p: p
                  .branch(lambda b: b.start_with(MakeSauce))
                  .branch(lambda b: b.start_with(GrateCheese))
                  .branch(lambda b: b.start_with(ChopVegetables))
                  .branch(lambda b: b
                          .start_with(LightOven).name("Light oven")
                          .recur(timedelta(milliseconds=100), lambda o: o.oven_temperature >= 450,
                                 lambda r: r.start_with(CheckOven).name("Check oven"))))
        # One cook per pizza, side by side; the quality check relies on the default retry.
        .for_each(lambda o: o.pizzas, lambda b: b
                  .start_with(StretchDough).name("Stretch dough")
                  .then(AddToppings).name("Add toppings")
                  .then(QualityCheck).name("Quality check"),
                  parallel=True)
        # A text to the customer shortly after, beside the baking.
        .schedule(timedelta(milliseconds=200), lambda b: b
                  .start_with(TextCustomer).name("Text customer")
                  .input(message="your pizzas are in the oven"))
        # The oven is a worker outside the engine; its answer is the step's result.
        .activity("oven", parameters=lambda o: {"order_id": o.order_id, "pizzas": o.assembled,
                                                "temperature": o.oven_temperature})
        .name("Bake")
        .output(pizza_temperature=lambda step: step.result["temperature"])
        .while_do(lambda o: o.pizza_temperature > 200, lambda b: b.start_with(CheckTemperature))
        .delay(timedelta(milliseconds=300)).name("Rest before boxing")
        .decide(lambda o: o.is_delivery)
        # The driver's run and, beside it, a tip offer in the app.
        .when(True, lambda b: b.parallel(lambda p: p.branch(deliver).branch(offer_tip)))
        .when(False, lambda b: b.start_with(RingBell))
        .then(CompleteOrder).name("Complete order")
        .end_workflow()
        .build("pizza", 1)
    )


# -- the oven worker and the timing middleware --------------------------------------------------


async def bake(parameters: dict[str, Any]) -> dict[str, int]:
    """The oven: the worker's work for one ``oven`` activity."""
    say("Oven worker", f"{len(parameters['pizzas'])} pizza(s) of {parameters['order_id']} in at "
        f"{parameters['temperature']}°F")
    await asyncio.sleep(0.5)
    say("Oven worker", "DING! baked; answering the activity")
    return {"temperature": 480}


class StepTimer:
    """Middleware: times every step body, reports each order as it ends, and sums up."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str, float]] = []  # (workflow, step, milliseconds)

    async def step(
        self, ctx: StepExecutionContext[Any], call_next: Callable[[], Awaitable[object]]
    ) -> object:
        began = time.perf_counter()
        try:
            return await call_next()
        finally:
            took = (time.perf_counter() - began) * 1000
            self.runs.append((self.label(ctx.workflow), ctx.step.display_name, took))

    async def post_workflow(self, instance: WorkflowInstance[Any]) -> None:
        label = self.label(instance)
        times = [ms for wf, _, ms in self.runs if wf == label]
        say("Timer", f"{label} {instance.status.value}: {len(times)} step run(s), "
            f"{sum(times):.1f} ms in step bodies")

    @staticmethod
    def label(instance: WorkflowInstance[Any]) -> str:
        return instance.reference or instance.definition_id

    def summary(self) -> str:
        by_step: dict[str, float] = {}
        for _, step, ms in self.runs:
            by_step[step] = by_step.get(step, 0.0) + ms
        slowest = sorted(by_step.items(), key=lambda item: -item[1])[:3]
        return (f"{len(self.runs)} step runs in all, {sum(by_step.values()):.1f} ms; slowest: "
                + ", ".join(f"{step} {ms:.1f} ms" for step, ms in slowest))


# -- the shop -----------------------------------------------------------------------------------


def big_order(fail_payment: bool) -> PizzaOrder:
    return PizzaOrder(
        order_id="ORD-42",
        customer="Sienna",
        address="742 Evergreen Terrace",
        fail_payment=fail_payment,
        pizzas=[
            Pizza("Margherita", "large", ["mozzarella", "basil", "san marzano"], Decimal("14.99")),
            Pizza("Funghi", "medium", ["mozzarella", "mushrooms", "red onion"], Decimal("10.99")),
            Pizza("Diavola", "large", ["mozzarella", "spicy salami", "chili"], Decimal("16.49")),
        ],
    )


def voucher_order() -> PizzaOrder:
    return PizzaOrder(order_id="ORD-43", customer="Theo", voucher="SPRING-10", pizzas=[
        Pizza("Funghi", "small", ["mozzarella", "mushrooms"], Decimal("8.99"))])


def odd_order() -> PizzaOrder:
    return PizzaOrder(order_id="ORD-44", customer="Uma", pizzas=[
        Pizza("Pineapple Fudge", "medium", ["pineapple", "chocolate"], Decimal("12.99"))])


async def manager_task(host: WorkflowHost, workflow_id: str) -> OpenUserAction:
    """The manager's open task of ``workflow_id``, as soon as its step opens it."""
    opened = asyncio.Event()

    def on_event(event: LifecycleEvent) -> None:
        if event.type is LifecycleEventType.USER_TASK_OPENED and event.workflow_id == workflow_id:
            opened.set()

    unsubscribe = host.lifecycle.subscribe(on_event)
    try:
        while True:  # look first: the task may be open already
            opened.clear()
            for task in await host.list_open_user_actions(assignee="manager"):
                if task.workflow_id == workflow_id:
                    return task
            await asyncio.wait_for(opened.wait(), timeout=30)
    finally:
        unsubscribe()


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///pizza.db", help="provider URL (default: %(default)s)")
    parser.add_argument("--fail-payment", action="store_true", help="decline ORD-42's card")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for an order")
    args = parser.parse_args(argv)

    # The executor logs every failed step with its traceback (a WARNING); this story expects
    # three failures and reports each one itself.
    logging.getLogger("wfe.executor").setLevel(logging.ERROR)
    timer = StepTimer()
    async with WorkflowHost(persistence=args.db, middleware=[timer]) as host:
        pizza = build_pizza_workflow()
        host.register(build_delivery_workflow())
        host.register(pizza)
        async with ActivityWorker(host, "oven", bake, worker_id="oven-1"):
            # A handle typed by the definition: instance.data below is a PizzaOrder to the checker.
            big = await host.start(pizza, big_order(args.fail_payment), reference="ORD-42")
            say("Shop", f"started workflow {big.id} for ORD-42 on {args.db}")
            task = await manager_task(host, big.id)
            say("Shop", f"the manager is asked: {task.prompt} ({' or '.join(task.options)})")

            # While ORD-42 waits for the manager, two small orders come in.
            for data in (voucher_order(), odd_order()):
                handle = await host.start(pizza, data, reference=data.order_id)
                done = await handle.wait(timeout=args.timeout)
                [error, *_] = await host.get_execution_errors(handle.id)
                say("Shop", f"{data.order_id} {done.status.value}: {error.message}")
                if done.status is WorkflowStatus.SUSPENDED:
                    say("Shop", f"{data.order_id} waits for a person: `wfe resume {handle.id}` "
                        "continues it once the voucher service is back")

            await host.publish_user_action(task.key, "manager", "approve")
            instance = await big.wait(timeout=args.timeout)

        order = instance.data
        done_steps = sum(1 for p in instance.execution_pointers if p.end_time is not None)
        say("Shop", f"ORD-42 {instance.status.value}: {done_steps} of "
            f"{len(instance.execution_pointers)} steps finished, order {order.status_note or 'unfinished'}")
        for pointer in instance.execution_pointers:
            if pointer.step_name == "Tip offer":  # nobody tipped before the door opened
                say("Shop", f"tip offer {pointer.status.value}, tip {order.tip or 'none'}")
        for error in await host.get_execution_errors(big.id):
            say("Shop", f"ORD-42 recorded error: {error.message}")
    say("Timer", timer.summary())
    if order.status_note == "cancelled":
        say("Shop", "no pizza today: payment refused, everything was undone")
        return 3
    return 0 if instance.status is WorkflowStatus.COMPLETE and order.status_note == "complete" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
