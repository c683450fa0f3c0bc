"""The fake CRM: contacts upserted by normalized e-mail, and an order timeline per contact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Call, Rejected, validated


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Contact(_Doc):
    email: str = Field(min_length=3, max_length=320)
    name: str | None = None
    phone: str | None = None
    channel: str = Field(min_length=1)
    customer_id: str | None = None  # ordersync's, once it sends customers of their own
    address: dict[str, Any] | None = None


class TimelineEntry(_Doc):
    email: str = Field(min_length=3, max_length=320)
    order_id: str = Field(min_length=1)
    event: str = Field(min_length=1)
    occurred_at: str = Field(min_length=1)
    summary: str = ""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def contact(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /crm/contacts: 201 a new contact, 200 an update (same e-mail in any case)."""
    doc = validated(Contact, call.body)
    email = normalize_email(doc.email)
    if "@" not in email:
        raise Rejected(f"email: {doc.email!r} is not an e-mail address")
    contacts = call.store.collection("contacts")
    known = contacts.get(email)
    created = known is None
    if known is None:
        known = contacts[email] = {
            "contact_id": call.store.next_number("C"),
            "email": email,
            "name": None,
            "phone": None,
            "channels": [],
        }
    for name in ("name", "phone", "customer_id", "address"):
        value = getattr(doc, name)
        if value:
            known[name] = value
    if doc.channel not in known["channels"]:
        known["channels"].append(doc.channel)
    known["updated_at"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return (201 if created else 200), {"contact_id": known["contact_id"], "created": created}


def timeline(call: Call) -> tuple[int, dict[str, Any]]:
    """POST /crm/timeline: an entry on a known contact's timeline (one per order and event)."""
    doc = validated(TimelineEntry, call.body)
    known = call.store.collection("contacts").get(normalize_email(doc.email))
    if known is None:
        raise Rejected(f"unknown contact {doc.email!r}: upsert the contact first")
    entries = call.store.collection("timeline")
    natural = f"{doc.order_id}/{doc.event}"
    if natural in entries:
        return 200, {"entry_id": entries[natural]["entry_id"], "contact_id": known["contact_id"]}
    entry_id = call.store.next_number("T")
    entries[natural] = {"entry_id": entry_id, "contact_id": known["contact_id"], **doc.model_dump()}
    return 201, {"entry_id": entry_id, "contact_id": known["contact_id"]}
