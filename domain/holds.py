"""Hold rules and the screen an order passes at acceptance: pure, no I/O.

A rule is configuration (a row per channel, or for every channel when its channel is
None): its kind says what it checks, its value the threshold or the blocked party. The
screen gives one readable reason per rule that matched, naming the rule, so an operator
reading the order (or its order.held event) knows why and which rule to change.

The blocked-address key: line1, postal_code and country of an address, each case-folded
with all white space removed, joined by "|" ("Rua  Augusta 1", "1100-048", "pt" →
"ruaaugusta1|1100-048|pt"). Name, city and region are left out: the same door is the same
door whoever orders and however the city is spelled. A rule's value is stored as that key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from domain.errors import InvalidMoney, ValidationFailed
from domain.money import Money
from domain.orders import Order

KINDS = (
    "payment_not_authorized",
    "amount_over",
    "country_mismatch",
    "blocked_customer",
    "blocked_address",
)
SECURED_PAYMENT = frozenset({"authorized", "paid"})
MAX_VALUE = 255  # hold_rules.value


@dataclass(frozen=True, slots=True)
class HoldRule:
    id: int
    channel: str | None  # None: every channel
    kind: str
    value: str | None = None

    def applies_to(self, channel: str) -> bool:
        return self.channel is None or self.channel == channel


def normalize_email(email: str) -> str:
    return email.strip().lower()


def address_key(address: dict[str, Any] | None) -> str | None:
    """The blocked-address key of an address (see the module's docstring)."""
    if not address:
        return None
    return _key([str(address.get(part) or "") for part in ("line1", "postal_code", "country")])


def _key(parts: list[str]) -> str:
    return "|".join("".join(part.split()).casefold() for part in parts)


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, errors=[{"field": "value", "message": message}])


def _threshold(value: str) -> Money:
    amount, _, currency = value.strip().partition(" ")
    try:
        return Money.parse(amount, currency.strip().upper())
    except InvalidMoney as error:
        raise _refuse(f'amount_over takes "AMOUNT CURRENCY", e.g. "1000.00 EUR": {error}') from None


def normalized_value(kind: str, value: str | None) -> str | None:
    """The value a rule of `kind` stores (ValidationFailed if it is not one)."""
    if kind not in KINDS:
        raise _refuse(f"{kind!r} is not a hold rule kind; one of {', '.join(KINDS)}")
    given = (value or "").strip()
    if kind in ("payment_not_authorized", "country_mismatch"):
        if given:
            raise _refuse(f"{kind} takes no value")
        return None
    if not given:
        raise _refuse(f"{kind} needs a value")
    if kind == "amount_over":
        threshold = _threshold(given)
        if threshold.minor < 0:
            raise _refuse("amount_over takes an amount of zero or more")
        normalized = f"{threshold} {threshold.currency}"
    elif kind == "blocked_customer":
        normalized = normalize_email(given)
        if normalized.count("@") != 1 or normalized.startswith("@") or normalized.endswith("@"):
            raise _refuse(f"blocked_customer takes an e-mail address, not {given!r}")
    else:
        parts = given.split("|")
        if len(parts) != 3 or not parts[0].strip() or not parts[2].strip():
            raise _refuse('blocked_address takes "LINE1|POSTAL_CODE|COUNTRY"')
        normalized = _key(parts)
    if len(normalized) > MAX_VALUE:
        raise _refuse(f"a rule's value is at most {MAX_VALUE} characters")
    return normalized


def _payment(order: Order, rule: HoldRule) -> str | None:
    status = (order.payment or {}).get("status")
    if status in SECURED_PAYMENT:
        return None
    return "no payment" if status is None else f"the payment is {status}"


def _amount(order: Order, rule: HoldRule) -> str | None:
    threshold = _threshold(rule.value or "")
    if threshold.currency != order.currency:
        return None  # a threshold in another currency says nothing about this order
    total = Money.parse(order.totals["grand_total"], order.currency)
    if total.minor <= threshold.minor:
        return None
    return f"{total} {order.currency} is over {threshold} {threshold.currency}"


def _countries(order: Order, rule: HoldRule) -> str | None:
    if order.billing_address is None:
        return None
    billing, shipping = order.billing_address["country"], order.shipping_address["country"]
    return None if billing == shipping else f"billing in {billing}, shipping to {shipping}"


def _customer(order: Order, rule: HoldRule) -> str | None:
    email = normalize_email(str(order.customer.get("email", "")))
    return f"{email} is blocked" if email == rule.value else None


def _address(order: Order, rule: HoldRule) -> str | None:
    addresses = (("shipping", order.shipping_address), ("billing", order.billing_address))
    for which, address in addresses:
        if address_key(address) == rule.value:
            return f"the {which} address is blocked"
    return None


# kind → what it finds wrong with an order (None: nothing).
_CHECKS: dict[str, Callable[[Order, HoldRule], str | None]] = {
    "payment_not_authorized": _payment,
    "amount_over": _amount,
    "country_mismatch": _countries,
    "blocked_customer": _customer,
    "blocked_address": _address,
}


def screen(order: Order, rules: Iterable[HoldRule]) -> list[str]:
    """Why the order must be held: one reason per rule of its channel that matched, in
    rule order (none: it goes on)."""
    reasons = []
    for rule in sorted(rules, key=lambda r: r.id):
        if not rule.applies_to(order.channel):
            continue
        found = _CHECKS[rule.kind](order, rule)
        if found is not None:
            reasons.append(f"{rule.kind}: {found} (rule {rule.id})")
    return reasons
