"""The routing and the queues, composed from the downstream systems and the channel kinds.

Each system's handler table says which event types it takes; the channel kinds say which
they take back and where (the order's own channel, or every channel). Put together, that
is the outbox's routing: handed to the writer through the unit of work, so the outbox
never imports what lives above it. ROUTING is built at import, so an event type that no
system and no channel takes stops every process at start-up.
"""

from __future__ import annotations

from actors.systems import SYSTEMS, Systems
from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKinds
from outbox.queues import queue_names
from outbox.routing import Routing


def routing(systems: Systems = SYSTEMS, channels: ChannelKinds = CHANNELS) -> Routing:
    """Event type → destinations: the systems in registry order, then the channels."""
    return Routing.of({s.name: tuple(s.handlers) for s in systems.values()}, channels.targets)


def queues(systems: Systems = SYSTEMS) -> tuple[str, ...]:
    """Every queue a relay declares and a worker may consume: one per system, and the
    channels' shared one."""
    return queue_names(systems)


ROUTING = routing()
QUEUES = queues()
