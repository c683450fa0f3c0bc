"""The CRM: the customer as one contact across channels (by normalized e-mail), and each
order on their timeline. Its documents, its client and its handler table; its entry in
actors/systems.py names it."""

from __future__ import annotations

from typing import Any

from adapters.systems.handlers import handlers, on
from adapters.systems.http import SystemClient, part_key, reply_field
from domain.events import CustomerUpdated, OrderAccepted
from domain.holds import normalize_email


def contact_document(order: OrderAccepted) -> dict[str, Any]:
    """The contact an order's timeline entry goes on: its e-mail and the channel only. The
    profile (name, phone, address) comes from customer.updated alone: an order's event is
    not ordered against its customer's, so an older order's profile, delivered late, would
    overwrite a newer one."""
    return {
        "email": normalize_email(str(order.customer.get("email", ""))),
        "channel": order.channel,
    }


def customer_document(customer: CustomerUpdated) -> dict[str, Any]:
    """The contact to upsert for a customer's new profile (customer_id: ordersync's id)."""
    return {
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "channel": customer.channel,
        "address": customer.address,
        "customer_id": customer.customer_id,
    }


def timeline_document(order: OrderAccepted) -> dict[str, Any]:
    """The timeline entry for an accepted order."""
    items = sum(line.quantity for line in order.lines)
    total = order.totals.get("grand_total", "")
    return {
        "email": normalize_email(str(order.customer.get("email", ""))),
        "order_id": order.order_id,
        "order_number": order.external_id,
        "channel": order.channel,
        "event": "order.accepted",
        "occurred_at": order.placed_at.isoformat(),
        "summary": f"Order {order.external_id} on {order.channel}: {items} item(s), "
        f"{total} {order.currency}",
        "amount": total,
        "currency": order.currency,
    }


class CrmClient(SystemClient):
    default_system = "crm"

    def upsert_contact(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        """Create or update the customer's contact; the CRM's contact id."""
        reply = self.post("contacts", contact_document(order), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "contact_id")

    def upsert_customer(self, customer: CustomerUpdated, *, idempotency_key: str) -> str:
        """A customer is new or changed its profile: its contact; the CRM's contact id."""
        reply = self.post("contacts", customer_document(customer), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "contact_id")

    def add_timeline_entry(self, order: OrderAccepted, *, idempotency_key: str) -> str:
        """Put the order on the contact's timeline (the contact must exist); the entry id."""
        reply = self.post("timeline", timeline_document(order), idempotency_key=idempotency_key)
        return reply_field(self.system, reply, "entry_id")

    def record_order(self, order: OrderAccepted, *, idempotency_key: str) -> tuple[str, str]:
        """Both calls for an accepted order, in order, each under a key derived from the event's."""
        contact_id = self.upsert_contact(
            order, idempotency_key=part_key(idempotency_key, "contact")
        )
        entry_id = self.add_timeline_entry(
            order, idempotency_key=part_key(idempotency_key, "timeline")
        )
        return contact_id, entry_id


HANDLERS = handlers(
    on(OrderAccepted, CrmClient.record_order),
    on(CustomerUpdated, CrmClient.upsert_customer),
)
