"""Sales channels, one module per kind (both directions), and CHANNELS, the registry of kinds.

`ordersync channel add --kind` takes its choices from CHANNELS, the channel actor its
dispatch, the routing its channel targets. Adding a kind: its module here and its line
below (docs/adding-a-channel.md).
"""

from __future__ import annotations

from adapters.channels import amazon, canonical, shopify, square, woocommerce
from adapters.channels.kind import ChannelKind, ChannelKinds

# One line per kind. A kind still speaking canonical (`spoken_by`) sends and takes back
# the canonical formats until its own module replaces its line.
CHANNELS = ChannelKinds(
    canonical.KIND,
    canonical.KIND.spoken_by("pos"),
    canonical.KIND.spoken_by("b2b"),
    shopify.KIND,
    woocommerce.KIND,
    amazon.KIND,
    square.KIND,
)
CANONICAL: ChannelKind = CHANNELS["canonical"]
