"""Errors of the downstream-system clients: the only ones the actors see.

HTTP statuses and transport failures are converted here once (see
`adapters.systems.http`): a transient error is worth retrying (and, if it
persists, trips the destination's circuit breaker); a permanent one is poison
for that document (a dead letter). The root is not called `SystemError`: that
name is a Python builtin, and shadowing it would make a forgotten import catch
the interpreter's own errors.
"""

from __future__ import annotations


class ExternalSystemError(Exception):
    """A call to a downstream system failed."""

    def __init__(self, system: str, reason: str | None = None, *, status: int | None = None):
        self.system = system
        self.status = status
        self.reason = reason or (type(self).__doc__ or "").strip()
        super().__init__(self._message())

    def _message(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.system}: {self.reason}{status}"


class TransientError(ExternalSystemError):
    """The system is unavailable for now; the same call may succeed later."""

    def __init__(
        self,
        system: str,
        reason: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        self.retry_after = retry_after  # seconds, from the system's Retry-After header
        super().__init__(system, reason, status=status)

    def _message(self) -> str:
        after = f", retry after {self.retry_after:g}s" if self.retry_after is not None else ""
        return super()._message() + after


class PermanentError(ExternalSystemError):
    """The system refused the call; repeating it will not help."""
