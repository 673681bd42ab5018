"""The definitions the deployment examples run: ``wfe worker deploy_flows:definitions``.

A stand-in for an application's own module: one order workflow that charges, waits for the
parcel to ship, then thanks the customer.
"""

from __future__ import annotations

from wfe import WorkflowBuilder, WorkflowDefinition


def _charge(ctx: object) -> None:
    print("charged", flush=True)


def _thank(ctx: object) -> None:
    print("thanked", flush=True)


order = (
    WorkflowBuilder(dict)
    .start_with(_charge).name("Charge")
    .wait_for("parcel.shipped", lambda data: data["order"])
    .then(_thank).name("Thank")
    .build("order", 1)
)


def definitions() -> list[WorkflowDefinition]:
    """Every definition this worker runs."""
    return [order]
