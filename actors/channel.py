"""Channels: the order's status back to the channel it came from, and stock figures to
every channel, each sent as the channel's kind says (adapters.channels: the kind's
handler table and client).

Every SKU of ours in what is sent is the channel's own where it has a mapping
(adapters/channels/channel_skus.py). A channel without an --api-url takes nothing back:
its deliveries are applied without a call, by design (`TAKES_NOTHING_BACK`), not by a
handler that silently did nothing.
"""

from __future__ import annotations

from actors.clients import SystemClients
from adapters.channels.channel_skus import in_channel_skus
from adapters.systems.errors import PermanentError
from adapters.systems.handlers import dispatch
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX

TAKES_NOTHING_BACK = "the channel has no --api-url: it takes nothing back"


class UnknownChannel(PermanentError):
    """No such channel in the channels table: nobody to send the message to."""


class CredentialsUnreadable(PermanentError):
    """The channel's outbound credentials cannot be decrypted: fix ORDERSYNC_SECRET_KEY (or
    set them again with `ordersync channel credentials`), then requeue."""


def handle(envelope: Envelope, clients: SystemClients) -> object:
    name = envelope.destination.removeprefix(CHANNEL_PREFIX)
    end = clients.channel(name)
    if end is None:
        raise UnknownChannel(envelope.destination)
    if end.unreadable is not None:
        raise CredentialsUnreadable(envelope.destination, end.unreadable)
    if end.client is None:
        return TAKES_NOTHING_BACK
    sent = in_channel_skus(envelope, clients.skus.theirs(name))
    return dispatch(end.kind.handlers, end.client, sent)
