"""The customer: one per normalized e-mail across channels, its profile taken from each
accepted order (name, phone, address: billing, else shipping).

A customer's id is derived from its normalized e-mail (a name-based UUID), so the order
row can name its customer in the same statement that upserts the customer, whether that
upsert inserts, changes or leaves the row alone (adapters/db/order_repository.py): there
is no id to read back first, and two first orders of one e-mail name the same id while
the primary key (the one unique index: ON CONFLICT absorbs a race on one arbiter only)
decides which of them inserts it. The price: the id says nothing the
e-mail does not (whoever knows an e-mail can compute its id), so it is not a secret and is
shown only to systems and the admin.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from domain.events import CustomerUpdated, DomainEvent
from domain.holds import normalize_email
from domain.orders import Order

# Fixed forever: changing it would give every known customer a new id.
NAMESPACE = uuid.UUID("6f1d3c52-8a43-5b8e-9d2c-0c5e7f3b9a11")


def customer_id_for(email: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, normalize_email(email))


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """What an order says about its customer; `channel` is the order's."""

    id: uuid.UUID
    email: str
    name: str
    phone: str | None
    address: dict[str, Any] | None
    channel: str


def profile_of(order: Order) -> CustomerProfile:
    email = normalize_email(str(order.customer["email"]))
    return CustomerProfile(
        id=customer_id_for(email),
        email=email,
        name=str(order.customer["name"]),
        phone=order.customer.get("phone"),
        address=order.billing_address or order.shipping_address,
        channel=order.channel,
    )


def customer_updated(profile: CustomerProfile, version: int) -> DomainEvent:
    """customer.updated at the customer's new version."""
    payload = CustomerUpdated(
        customer_id=str(profile.id),
        email=profile.email,
        name=profile.name,
        phone=profile.phone,
        address=profile.address,
        channel=profile.channel,
    )
    return DomainEvent(payload, version, profile.channel)
