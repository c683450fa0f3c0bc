"""Domain errors: one root, each with a default message in its docstring."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """The request cannot be carried out."""

    code = "domain-error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or (self.__doc__ or "").strip()
        self.extra = extra
        super().__init__(self.detail)


class ValidationFailed(DomainError):
    """The document is not valid."""

    code = "validation-failed"


class UnknownSku(ValidationFailed):
    """The order names SKUs that are not known."""

    code = "unknown-sku"


class TotalsMismatch(ValidationFailed):
    """The totals sent do not match the totals computed from the lines."""

    code = "totals-mismatch"


class InvalidMoney(ValidationFailed):
    """An amount is not valid for its currency."""

    code = "invalid-money"


class InsufficientStock(ValidationFailed):
    """An adjustment would take on-hand stock below zero."""

    code = "negative-on-hand"


class Conflict(DomainError):
    """The request conflicts with the current state."""

    code = "conflict"


class IllegalTransition(Conflict):
    """The order cannot move to that status from its current one."""

    code = "illegal-transition"


class DuplicateMismatch(Conflict):
    """The same external id (or Idempotency-Key) was already used for different content."""

    code = "duplicate-mismatch"


class NotFound(DomainError):
    """No such resource."""

    code = "not-found"


class Forbidden(DomainError):
    """The caller may not read or change this resource (another channel's order)."""

    code = "forbidden"


class ConcurrencyConflict(DomainError):
    """A concurrent transaction won; the unit of work may be retried."""

    code = "concurrency-conflict"
