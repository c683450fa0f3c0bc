"""SYSTEMS: every downstream system, named once.

A system is one module in actors/ (its documents, its client, its handler table) and
one entry below. From the entries come its queue and actor name (outbox.queues), its
routing targets (ops.wiring), its setting ORDERSYNC_<NAME>_URL (ops.settings), the
worker's --queues choices, the health probe (actors.clients) and the demo's wiring
(which simulator path answers for it). docs/adding-a-downstream-system.md walks through
adding one.

A test (or a deployment) with a system of its own makes its own `Systems` — the
product's entries plus its own — and hands it to the composition root's functions;
nothing here is patched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from actors import crm, erp, wms
from adapters.systems.handlers import HandlerTable
from adapters.systems.http import SystemClient
from adapters.systems.reconciliation import Reconciliation
from outbox.queues import CHANNEL_QUEUE, QueueRoute, queue_for
from outbox.routing import SYSTEM_NAME

SIMULATORS = "http://127.0.0.1:8090"  # `ordersync sim`'s default address
ClientFactory = Callable[..., SystemClient]  # (base_url, *, system=name, read_timeout_s=…)


@dataclass(frozen=True, slots=True)
class DownstreamSystem:
    name: str  # its destination, its queue, its setting: ORDERSYNC_<NAME>_URL
    client: ClientFactory
    handlers: HandlerTable[Any]  # event type → its client's method
    simulator_path: str  # where the simulators answer for it (the demo's, the default URL)
    # The simulators' option that takes this system's key to call ordersync back (the
    # simulated WMS ships what it receives), for the demo; None: its simulator does not.
    simulator_key_option: str | None = None
    # How `ordersync reconcile --system` compares with it (None: it has no read API).
    reconciliation: Reconciliation[Any] | None = None

    def __post_init__(self) -> None:
        if not SYSTEM_NAME.fullmatch(self.name) or self.name == CHANNEL_QUEUE.queue_name:
            raise ValueError(
                f"a system name is {SYSTEM_NAME.pattern} and not {CHANNEL_QUEUE.queue_name!r}: "
                f"{self.name!r}"
            )
        if not self.handlers:
            raise ValueError(f"system {self.name!r} handles no event type")
        if not self.simulator_path.startswith("/"):
            raise ValueError(f"{self.name}: simulator_path starts with '/'")

    @property
    def queue(self) -> QueueRoute:
        return queue_for(self.name)

    @property
    def setting(self) -> str:
        """The environment variable of its base URL."""
        return f"ORDERSYNC_{self.name.upper()}_URL"

    def url_at(self, simulators: str) -> str:
        """Its base URL on the simulators served at `simulators` (http://host:port)."""
        return simulators.rstrip("/") + self.simulator_path

    @property
    def default_url(self) -> str:
        return self.url_at(SIMULATORS)


class Systems(Mapping[str, DownstreamSystem]):
    """The systems by name, in the order given (the order of each event's destinations)."""

    def __init__(self, *systems: DownstreamSystem) -> None:
        self._systems = {s.name: s for s in systems}
        if len(self._systems) != len(systems):
            raise ValueError("a system is named twice")

    def plus(self, *systems: DownstreamSystem) -> Systems:
        """These systems and more (a registry of one's own, e.g. a test's)."""
        return Systems(*self._systems.values(), *systems)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._systems)

    def urls_at(self, simulators: str) -> dict[str, str]:
        """Every system's base URL on the simulators served at `simulators`."""
        return {s.name: s.url_at(simulators) for s in self._systems.values()}

    def __getitem__(self, name: str) -> DownstreamSystem:
        try:
            return self._systems[name]
        except KeyError:
            raise KeyError(f"no system {name!r}; one of {', '.join(self._systems)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._systems)

    def __len__(self) -> int:
        return len(self._systems)


SYSTEMS = Systems(
    DownstreamSystem("erp", erp.ErpClient, erp.HANDLERS, "/erp", reconciliation=erp.RECONCILIATION),
    DownstreamSystem("wms", wms.WmsClient, wms.HANDLERS, "/wms", simulator_key_option="wms_key"),
    DownstreamSystem("crm", crm.CrmClient, crm.HANDLERS, "/crm"),
)
