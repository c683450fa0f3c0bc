"""A generator of realistic canonical orders (deterministic for a seed)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

FIRST = ["Ana", "Bruno", "Carla", "David", "Eva", "Filipe", "Gina", "Hugo", "Ines", "Joao"]
LAST = ["Silva", "Santos", "Ferreira", "Pereira", "Costa", "Rodrigues", "Martins", "Sousa"]
CITIES = [
    ("Lisboa", "1100-048"),
    ("Porto", "4000-322"),
    ("Braga", "4700-435"),
    ("Faro", "8000-138"),
]
CENT = Decimal("0.01")


def catalog(count: int) -> list[tuple[str, Decimal]]:
    """SKUs with a unit price each: TEE-S-BLK, TEE-M-BLK, … HOODIE-…, MUG-…"""
    products = ["TEE", "HOODIE", "CAP", "MUG", "SOCKS", "TOTE", "JACKET", "SCARF"]
    sizes = ["S", "M", "L", "XL"]
    colors = ["BLK", "WHT", "RED", "NVY", "GRN"]
    rng = random.Random(7)
    skus = []
    for product in products:
        for size in sizes:
            for color in colors:
                price = Decimal(rng.randrange(500, 8000)) / 100
                skus.append((f"{product}-{size}-{color}", price))
    rng.shuffle(skus)
    return skus[:count]


@dataclass
class OrderGenerator:
    skus: list[tuple[str, Decimal]]
    seed: int = 1
    tax_rate: Decimal = Decimal("0.23")
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def order(self, external_id: str) -> dict[str, Any]:
        """One canonical order document, totals consistent with its lines."""
        rng = self.rng
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        city, postal = rng.choice(CITIES)
        address = {
            "name": name,
            "line1": f"Rua {rng.choice(LAST)} {rng.randrange(1, 200)}",
            "line2": None,
            "city": city,
            "postal_code": postal,
            "region": None,
            "country": "PT",
        }
        lines, grand = [], Decimal(0)
        for sku, price in rng.sample(self.skus, rng.choice([1, 1, 1, 2, 2, 3])):
            quantity = rng.choice([1, 1, 1, 2, 3])
            discount = (price * quantity * Decimal(rng.choice([0, 0, 0, 10]) / 100)).quantize(CENT)
            tax = ((price * quantity - discount) * self.tax_rate).quantize(CENT)
            lines.append(
                {
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": str(price),
                    "discount": str(discount),
                    "tax": str(tax),
                }
            )
            grand += price * quantity - discount + tax
        shipping, shipping_tax = Decimal("4.90"), Decimal("1.13")
        grand += shipping + shipping_tax
        placed = datetime.now(UTC) - timedelta(seconds=rng.randrange(0, 3600))
        email = f"{name.lower().replace(' ', '.')}{rng.randrange(1000)}@example.com"
        return {
            "external_id": external_id,
            "placed_at": placed.isoformat().replace("+00:00", "Z"),
            "currency": "EUR",
            "customer": {"email": email, "name": name, "phone": "+351910000000"},
            "shipping_address": address,
            "billing_address": address,
            "lines": lines,
            "shipping": {"method": "standard", "amount": str(shipping), "tax": str(shipping_tax)},
            "payment": {"method": "card", "status": "authorized", "amount": str(grand)},
            "totals": {"grand_total": str(grand)},
        }
