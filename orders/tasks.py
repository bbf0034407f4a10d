from celery import shared_task
from django.db import transaction

from portal.audit import audit

from .models import Order
from .provisioning import ProvisioningError, get_backend
from .services import notify_organisation, notify_staff_of_failure


@shared_task(acks_late=True)
def provision_order(order_id: int) -> str:
    """Set up access for an approved order. Running it twice for the same order changes nothing."""
    order = Order.objects.select_related("organisation", "service").get(pk=order_id)
    if order.state not in (Order.State.APPROVED, Order.State.FAILED, Order.State.PROVISIONING):
        return order.state  # already active, or cancelled meanwhile: nothing to do
    if order.state != Order.State.PROVISIONING:
        with transaction.atomic():
            order.start_provisioning()
            audit(action="order.provisioning", obj=order, after={"state": order.state})
    try:
        get_backend().grant(order)
    except ProvisioningError as error:
        with transaction.atomic():
            order.fail(error=str(error))
            audit(action="order.failed", obj=order, after={"state": order.state, "error": str(error)})
            notify_staff_of_failure(order)
        return order.state
    with transaction.atomic():
        order.activate()
        audit(action="order.activated", obj=order, after={"state": order.state})
        notify_organisation(order)
    return order.state


@shared_task
def remind_expiring_keys() -> int:
    """Tell vendors about keys that expire within KEY_EXPIRY_REMINDER_DAYS, once per key."""
    from .helseid import keys_to_remind, send_expiry_reminder

    reminded = 0
    for key in keys_to_remind():
        send_expiry_reminder(key)
        reminded += 1
    return reminded
