"""/ops: the operator's actions over HTTP, for the dashboard and for scripts.

Served by `ordersync api` beside the product's routes (ops.bootstrap hands them to the
HTTP app: they use tooling that lives here, in the composition root). Only the admin
token opens it (Authorization: Bearer <ORDERSYNC_ADMIN_TOKEN>); with no token
configured, /ops is closed. Every action is audited like its command (via "http"; the
actor is the admin token, and the name an `X-Operator` header gives, if any).

A replay started here runs in a thread of the API process: the answer is 202 with its id,
and GET /ops/replays/{id} follows it. If the process stops, the replay is interrupted at
its checkpoint and is resumed (here or with `ordersync outbox replay --resume ID`).
"""

from ops.ops_api.common import OPS_CONFIG, OpsConfig, install
from ops.ops_api.routes import ROUTES

__all__ = ["OPS_CONFIG", "ROUTES", "OpsConfig", "install"]
