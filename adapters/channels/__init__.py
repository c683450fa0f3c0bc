"""Sales channels, one module per kind (both directions), and CHANNELS, the registry of kinds.

`ordersync channel add --kind` takes its choices from CHANNELS, the channel actor its
dispatch, the routing its channel targets. Adding a kind: its module here and its line
below (docs/adding-a-channel.md).
"""

from __future__ import annotations

from adapters.channels import canonical, shopify
from adapters.channels.kind import ChannelKind, ChannelKinds

CHANNELS = ChannelKinds(
    canonical.KIND,
    shopify.KIND,
    # Their own formats (webhooks, signatures, documents) arrive with the channels work;
    # until then a channel of these kinds sends and takes back the canonical ones.
    *(canonical.KIND.spoken_by(name) for name in ("pos", "b2b", "woocommerce", "amazon", "square")),
)
CANONICAL: ChannelKind = CHANNELS["canonical"]
