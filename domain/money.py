"""Exact money: integer minor units with an ISO 4217 currency, never float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.currency import EXPONENTS
from domain.errors import InvalidMoney

# Amounts are stored as BIGINT minor units; refuse what would not fit.
MAX_MINOR = 10**18


@dataclass(frozen=True, order=True, slots=True)
class Money:
    """An amount in minor units (cents) of one currency."""

    minor: int
    currency: str

    @classmethod
    def parse(cls, amount: str | int | Decimal, currency: str) -> Money:
        """Parse a decimal string such as "19.90"; refuses floats and excess precision."""
        if currency not in EXPONENTS:
            raise InvalidMoney(f"unsupported currency {currency!r}")
        if isinstance(amount, float) or isinstance(amount, bool):
            raise InvalidMoney("amounts must be decimal strings, not floats")
        try:
            value = Decimal(str(amount))
        except InvalidOperation:
            raise InvalidMoney(f"{amount!r} is not a decimal amount") from None
        if not value.is_finite():
            raise InvalidMoney(f"{amount!r} is not a finite amount")
        exp = EXPONENTS[currency]
        # Integer arithmetic only: Decimal operations round to the context's 28
        # digits, which would silently change a long amount.
        sign, digits, exponent = value.as_tuple()
        assert isinstance(exponent, int)  # finite, checked above
        coefficient = int("".join(map(str, digits)) or "0")
        shift = exponent + exp
        # The exponent comes from the client ("0E-999999999" is valid JSON): never raise 10
        # to it unchecked, a billion-digit power would hold a request thread for minutes.
        if coefficient == 0:
            minor = 0
        elif shift >= 0:
            if len(digits) + shift > len(str(MAX_MINOR)):
                raise InvalidMoney(f"{amount} is too large an amount")
            minor = coefficient * 10**shift
        elif -shift > len(digits) or coefficient % 10**-shift:
            # More decimal places than digits: some digit is below the minor unit.
            raise InvalidMoney(f"{amount} has more than {exp} decimals for {currency}")
        else:
            minor = coefficient // 10**-shift
        if minor >= MAX_MINOR:
            raise InvalidMoney(f"{amount} is too large an amount")
        return cls(-minor if sign else minor, currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidMoney(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.minor * quantity, self.currency)

    @property
    def amount(self) -> Decimal:
        return Decimal(str(self))

    def __str__(self) -> str:
        """The amount as a decimal string with exactly the currency's decimals."""
        return decimal_text(self.minor, self.currency)


def decimal_text(minor: int, currency: str) -> str:
    """str(Money(minor, currency)), without making the Money (the order document shows five
    figures of every order)."""
    exp = EXPONENTS[currency]
    whole, fraction = divmod(abs(minor), 10**exp)
    sign = "-" if minor < 0 else ""
    return f"{sign}{whole}.{fraction:0{exp}d}" if exp else f"{sign}{whole}"
