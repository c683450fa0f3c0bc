"""The operations dashboard: server-rendered pages for people (GET /dashboard, an order's
timeline at /dashboard/orders/{id}) and the operator's actions as confirmed buttons,
behind a login that takes the admin token and sets a session cookie (docs/dashboard.md).

The routes are HTML for a browser, not the JSON API: they are not in /openapi.json (whose
every operation answers JSON and problem+json, and which the API's fuzz tests walk)."""

from __future__ import annotations

from aiohttp import web

from ops.dashboard import actions, throttle, views


def install(app: web.Application) -> None:
    """Serve the dashboard on `app` (the product's app, /ops installed: the actions are its)."""
    throttle.install(app)
    router = app.router
    router.add_get("/dashboard", views.overview_page)
    router.add_get("/dashboard/login", views.login_page)
    router.add_post("/dashboard/login", views.login)
    router.add_post("/dashboard/logout", views.logout)
    router.add_get("/dashboard/orders/{order_id}", views.order_page)
    router.add_post("/dashboard/actions/replay", actions.replay_action)
    router.add_post("/dashboard/actions/requeue", actions.requeue_action)
    router.add_post("/dashboard/actions/pause", actions.pause_action)
    router.add_post("/dashboard/actions/resume", actions.resume_action)
