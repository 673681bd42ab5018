"""The pizza shop: one order, from validation to the door, as a durable wfe workflow.

Run it::

    python examples/pizza.py                      # on a SQLite file, pizza.db
    python examples/pizza.py --fail-payment       # the card is declined: the saga compensates
    python examples/pizza.py --db memory://       # any provider URL

Every builder feature does real work here: a saga whose payment is undone by a compensation
sequence, parallel prep beside an oven that a recurring check watches until it is hot, a
sequential for_each over the pizzas with a quality check that fails once and is retried, an
external event (the oven timer), a scheduled text to the customer, a while loop, outcome
routing, a delay, and a delivery run that is a workflow of its own (started with sub_workflow,
ringing the doorbell again with attach) while a tip offer waits until a cancel condition closes
it. The script exits 0 when the order is complete.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from wfe import (
    ErrorBehavior,
    ExecutionResult,
    LifecycleEvent,
    LifecycleEventType,
    StepBody,
    StepExecutionContext,
    WorkflowBuilder,
    WorkflowDefinition,
    WorkflowHost,
    WorkflowStatus,
)

_START = time.monotonic()


def say(who: str, message: str) -> None:
    # One write per line: steps of parallel branches print from several threads at once.
    print(f"[{time.monotonic() - _START:6.2f}s] {who:<18} {message}\n", end="", flush=True)


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


class PaymentDeclined(Exception):
    pass


# -- steps -------------------------------------------------------------------------------------


class ValidateOrder(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        if not order.pizzas:
            raise ValueError(f"order {order.order_id} has no pizzas")
        say("Validate", f"order {order.order_id} for {order.customer}: {len(order.pizzas)} pizza(s), "
            f"{'delivery' if order.is_delivery else 'pickup'}, total ${order.total}")


class ReserveIngredients(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        ctx.data.ingredients_reserved = True
        say("Reserve", "dough, sauce and toppings set aside")


class ReleaseIngredients(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        ctx.data.ingredients_reserved = False
        say("Compensate", "ingredients released back to the shelf")


class ChargePayment(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        if order.fail_payment:
            say("Charge", f"card declined for ${order.total}")
            raise PaymentDeclined(f"card declined for order {order.order_id}")
        order.payment_id = f"pay-{order.order_id}"
        say("Charge", f"charged ${order.total} ({order.payment_id})")


class VoidPayment(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        order: PizzaOrder = ctx.data
        order.payment_voided = True
        say("Compensate", f"payment voided for {order.order_id}; nothing is owed")


class TextPaymentVoided(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Compensate", f"SMS to {ctx.data.customer}: card declined, nothing was charged")


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


class FireOven(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("Oven", f"{len(ctx.data.assembled)} pizza(s) in at {ctx.data.oven_temperature}°F; "
            "waiting for the timer")


class TextPizzasInOven(StepBody[PizzaOrder]):
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> None:
        say("SMS", f"to {ctx.data.customer}: your pizzas are in the oven")


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
    def run(self, ctx: StepExecutionContext[PizzaOrder]) -> ExecutionResult | None:
        order: PizzaOrder = ctx.data
        order.status_note = "complete"
        how = (f"delivered by {order.delivered_by} after {order.doorbell_rings} ring(s)"
               if order.delivered_by else "picked up")
        say("Done", f"order {order.order_id} complete: {len(order.assembled)} happy pizza(s), "
            f"{how}")
        return None


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


def deliver(b: WorkflowBuilder[PizzaOrder]) -> object:
    """Start the delivery sub-workflow and wait for it; its final data is ``step.result``."""
    return (b.sub_workflow("pizza-delivery", data=lambda o: DeliveryRun(o.order_id, o.address))
            .name("Deliver")
            .output(delivered_by=lambda step: step.result.driver,
                    doorbell_rings=lambda step: step.result.rings))


def offer_tip(b: WorkflowBuilder[PizzaOrder]) -> object:
    """Wait for a tip from the app; the offer is cancelled once the pizzas are delivered."""
    return (b.wait_for("customer.tip", lambda o: o.order_id, effective_date=lambda o: o.placed_at)
            .name("Tip offer")
            .cancel_condition(lambda o: o.delivered_by is not None)
            .output(tip=lambda step: Decimal(str(step.event_data))))


def build_pizza_workflow() -> WorkflowDefinition[PizzaOrder]:
    """The definition: every builder feature, in the order a kitchen would use them."""
    return (
        WorkflowBuilder(PizzaOrder, description="pizza order")
        .start_with(ValidateOrder).name("Validate order")
        .saga(lambda s: s
              .start_with(ReserveIngredients).name("Reserve ingredients")
              .compensate_with(ReleaseIngredients)
              .then(ChargePayment).name("Charge payment")
              # Undoing a payment takes two steps: void it, then tell the customer.
              .compensate_with_sequence(lambda c: c
                                        .start_with(VoidPayment).then(TextPaymentVoided)))
        .if_do(lambda d: d.payment_id is None, lambda b: b.start_with(cancel_order).end())
        # Prep while the oven preheats; the parallel step also waits for the oven to be hot.
        .parallel(lambda p: p
                  .branch(lambda b: b.start_with(MakeSauce))
                  .branch(lambda b: b.start_with(GrateCheese))
                  .branch(lambda b: b.start_with(ChopVegetables))
                  .branch(lambda b: b
                          .start_with(LightOven).name("Light oven")
                          .recur(timedelta(milliseconds=100), lambda d: d.oven_temperature >= 450,
                                 lambda r: r.start_with(CheckOven).name("Check oven"))))
        .for_each(lambda d: d.pizzas, lambda b: b
                  .start_with(StretchDough).name("Stretch dough")
                  .then(AddToppings).name("Add toppings")
                  .then(QualityCheck).name("Quality check")
                  .on_error(ErrorBehavior.retry(interval=timedelta(milliseconds=100), max_retries=3)),
                  parallel=False)
        .then(FireOven).name("Fire oven")
        # A text to the customer shortly after, beside the rest of the workflow.
        .schedule(timedelta(milliseconds=200),
                  lambda b: b.start_with(TextPizzasInOven).name("Text customer"))
        # Only a timer that rings after the order was placed counts, not one from an old order.
        .wait_for("oven.timer", lambda d: d.order_id, effective_date=lambda d: d.placed_at)
        .output(pizza_temperature=lambda step: step.event_data["temperature"])
        .while_do(lambda d: d.pizza_temperature > 200, lambda b: b.start_with(CheckTemperature))
        .delay(timedelta(milliseconds=300)).name("Rest before boxing")
        .decide(lambda d: d.is_delivery)
        # The driver's run and, beside it, a tip offer in the app.
        .when(True, lambda b: b.parallel(lambda p: p.branch(deliver).branch(offer_tip)))
        .when(False, lambda b: b.start_with(RingBell))
        .then(CompleteOrder).name("Complete order")
        .end_workflow()
        .build("pizza", 1)
    )


def sample_order(fail_payment: bool) -> PizzaOrder:
    return PizzaOrder(
        order_id="ORD-42",
        customer="Sienna",
        address="742 Evergreen Terrace",
        fail_payment=fail_payment,
        pizzas=[
            Pizza("Margherita", "large", ["mozzarella", "basil", "san marzano"], Decimal("14.99")),
            Pizza("Funghi", "medium", ["mozzarella", "mushrooms", "red onion"], Decimal("10.99")),
        ],
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///pizza.db", help="provider URL (default: %(default)s)")
    parser.add_argument("--fail-payment", action="store_true", help="decline the card")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the order")
    args = parser.parse_args(argv)

    async with WorkflowHost(persistence=args.db) as host:
        pizza = build_pizza_workflow()
        host.register(build_delivery_workflow())
        host.register(pizza)

        # The oven's timer is an external system: it rings a moment after the oven is fired.
        async def oven_timer(event: LifecycleEvent) -> None:
            if event.type is LifecycleEventType.STEP_COMPLETED and event.step_name == "Fire oven":
                await asyncio.sleep(0.5)
                say("Oven timer", "DING! publishing oven.timer")
                await host.publish_event("oven.timer", "ORD-42", {"temperature": 480})

        pending: set[asyncio.Task[None]] = set()

        def on_event(event: LifecycleEvent) -> None:
            task = asyncio.ensure_future(oven_timer(event))
            pending.add(task)
            task.add_done_callback(pending.discard)

        host.lifecycle.subscribe(on_event)
        # A handle typed by the definition: instance.data below is a PizzaOrder to the checker.
        handle = await host.start(pizza, sample_order(args.fail_payment), reference="ORD-42")
        say("Shop", f"started workflow {handle.id} on {args.db}")
        instance = await handle.wait(timeout=args.timeout)
        order = instance.data
        done = sum(1 for p in instance.execution_pointers if p.end_time is not None)
        say("Shop", f"workflow {instance.status.value}: {done} of {len(instance.execution_pointers)} "
            f"steps finished, order {order.status_note or 'unfinished'}")
        for pointer in instance.execution_pointers:
            if pointer.step_name == "Tip offer":  # nobody tipped before the door opened
                say("Shop", f"tip offer {pointer.status.value}, tip {order.tip or 'none'}")
        errors = await host.get_execution_errors(handle.id)
        for error in errors:
            say("Shop", f"recorded error: {error.message}")
    if instance.status is WorkflowStatus.COMPLETE and order.status_note == "complete":
        return 0
    if order.status_note == "cancelled":
        say("Shop", "no pizza today: payment refused, everything was undone")
        return 3
    return 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
