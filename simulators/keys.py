"""The simulator's state as one typed application key."""

from __future__ import annotations

import random
from dataclasses import dataclass

from aiohttp import web

from simulators.shipper import Shipper
from simulators.store import SystemStore

SYSTEMS = ("erp", "wms", "crm", "channels")


@dataclass
class Simulator:
    systems: dict[str, SystemStore]
    rng: random.Random
    shipper: Shipper


SIM = web.AppKey("simulator", Simulator)
