"""One transaction for several services: a caller's open unit of work, lent to services
that each open and commit their own (`with uow:` … `uow.commit()`).

Applying a channel's delivery is one transaction — its business version, the order it
creates or the changes it makes through the lifecycle's services (an edit, a
cancellation, a return and its refund), and the inbox row's new state — so a failure
anywhere leaves nothing of it behind. The services stay as they are: through `Joined`
their `with` joins the caller's transaction, their commit defers to the caller's (which
writes every change-log entry and outbox row of them at once), and a failure they raise
rolls back the caller's whole transaction.
"""

from __future__ import annotations

from typing import Any

from domain.errors import ConcurrencyConflict
from domain.events import DomainEvent
from domain.ports import UnitOfWork


class Joined(UnitOfWork):
    """`outer`, an open unit of work, as a unit of work that never begins or ends it."""

    def __init__(self, outer: UnitOfWork) -> None:
        self._outer = outer

    def __getattr__(self, name: str) -> Any:
        # The repositories (orders, inventory, …) and the pending events are the outer's.
        return getattr(self._outer, name)

    def __enter__(self) -> Joined:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Neither commit nor roll back: a service that leaves without committing wrote
        nothing (it found nothing to do), and an error goes on to the caller, whose
        transaction then rolls back as a whole."""

    def emit(self, *events: DomainEvent) -> None:
        self._outer.emit(*events)

    def active_channels(self) -> list[str]:
        return self._outer.active_channels()

    def commit(self) -> None:
        """Nothing yet: the caller's commit writes everything at once."""

    def rollback(self) -> None:
        """A service rolls back on its own only when a concurrent writer took what it was
        inserting (place_order's twin): here that would discard the caller's transaction
        too, so the caller retries all of it."""
        raise ConcurrencyConflict("a concurrent writer won; the whole delivery is tried again")
