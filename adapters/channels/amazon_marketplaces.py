"""Amazon's marketplaces: the country, the currency, and whether prices include tax.

SP-API reports an item's ItemPrice (unit price × quantity) with its ItemTax beside it,
but what ItemPrice means depends on the marketplace. In the United States and Canada
prices are quoted before sales tax, and OrderTotal adds ItemTax on top. Everywhere else
Amazon sells (the EU, the UK, Japan, Australia, India, Mexico, Brazil, the Gulf…) the
price a buyer sees includes VAT/GST, and ItemTax is the part of ItemPrice that is tax
(0.00 where the seller, not Amazon, accounts for the VAT). Canonical prices exclude
tax, so a tax-inclusive marketplace's net price is ItemPrice − ItemTax. A marketplace
not listed here is refused, not guessed: a wrong guess moves every tax amount.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Marketplace:
    country: str  # ISO 3166-1 alpha-2: an address Amazon withheld is still in it
    currency: str  # its default currency (an order says its own in OrderTotal)
    tax_inclusive: bool


_EXCLUSIVE = {"ATVPDKIKX0DER": ("US", "USD"), "A2EUQ1WTGCTBG2": ("CA", "CAD")}
_INCLUSIVE = {
    "A1AM78C64UM0Y8": ("MX", "MXN"),
    "A2Q3Y263D00KWC": ("BR", "BRL"),
    "A1F83G8C2ARO7P": ("GB", "GBP"),
    "A1PA6795UKMFR9": ("DE", "EUR"),
    "A13V1IB3VIYZZH": ("FR", "EUR"),
    "APJ6JRA9NG5V4": ("IT", "EUR"),
    "A1RKKUPIHCS9HS": ("ES", "EUR"),
    "A1805IZSGTT6HS": ("NL", "EUR"),
    "AMEN7PMS3EDWL": ("BE", "EUR"),
    "A28R8C7NBKEWEA": ("IE", "EUR"),
    "A2NODRKZP88ZB9": ("SE", "SEK"),
    "A1C3SOZRARQ6R3": ("PL", "PLN"),
    "A33AVAJ2PDY3EV": ("TR", "TRY"),
    "ARBP9OOSHTCHU": ("EG", "EGP"),
    "A17E79C6D8DWNP": ("SA", "SAR"),
    "A2VIGQ35RCS4UG": ("AE", "AED"),
    "A21TJRUUN4KGV": ("IN", "INR"),
    "A1VC38T7YXB528": ("JP", "JPY"),
    "A39IBJ37TRP1C6": ("AU", "AUD"),
    "A19VAU5U5O7RUS": ("SG", "SGD"),
}

MARKETPLACES: dict[str, Marketplace] = {
    **{mid: Marketplace(c, cur, tax_inclusive=False) for mid, (c, cur) in _EXCLUSIVE.items()},
    **{mid: Marketplace(c, cur, tax_inclusive=True) for mid, (c, cur) in _INCLUSIVE.items()},
}
