"""`ordersync reconcile` against real PostgreSQL and the simulators served over HTTP: the ERP
(orders delivered through the real delivery guard and ERP client, then tampered with) and a
channel that holds orders it never sent as webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from actors import erp
from actors.guard import Outcome, deliver
from adapters.db import registry
from adapters.db.uow import SqlUnitOfWork
from adapters.systems.handlers import dispatch
from domain.commands import AdjustInventory, PlaceOrder, RecordShipment
from domain.services import adjust_inventory, place_order
from domain.shipping import record_shipment
from ops import replay
from ops.cli import main
from ops.reconcile import OVERLAP
from ops.wiring import ROUTING
from outbox.envelope import Envelope
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import order_doc
from tests.integration.test_read_clients import canned
from tests.outbox_rows import envelopes

pytestmark = pytest.mark.integration


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
def cli(database_url: str, sim: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_ERP_URL", f"{sim}/erp")
    monkeypatch.setenv("ORDERSYNC_CLIENT_TIMEOUT_S", "2")
    return CliRunner()


@pytest.fixture
def shop(engine: sa.Engine, sim: str) -> str:
    """Channel web (its list of orders on the simulator), stock of A and B at WH-EAST."""
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical", api_url=f"{sim}/channels/web")
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
    stock = [{"sku": s, "location": "WH-EAST", "set_on_hand": 100} for s in "AB"]
    adjust_inventory(uow(engine), AdjustInventory.model_validate({"adjustments": stock}))
    return "web"


def uow(engine: sa.Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(engine, routing=ROUTING)


def place(engine: sa.Engine, external_id: str, lines: list[tuple[str, int]]) -> str:
    order, created = place_order(
        uow(engine), PlaceOrder.model_validate(order_doc(external_id, lines)), channel="web"
    )
    assert created
    return str(order.id)


def ship(engine: sa.Engine, order_id: str, tracking: str, lines: list[tuple[str, int]]) -> None:
    shipment = {
        "order_id": order_id,
        "location": "WH-EAST",
        "carrier": "DHL",
        "tracking_number": tracking,
        "lines": [{"sku": sku, "quantity": quantity} for sku, quantity in lines],
    }
    record_shipment(uow(engine), RecordShipment.model_validate(shipment))


def deliver_to_erp(engine: sa.Engine, sim: str, *, leave: set[tuple[str, int]]) -> int:
    """Apply the ERP's deliveries, in ledger order, through the delivery guard and the real
    ERP client, except those in `leave` ((order id, sequence): they stay pending)."""
    applied = 0
    with erp.ErpClient(f"{sim}/erp") as client:

        def handler(envelope: Envelope) -> object:
            return dispatch(erp.HANDLERS, client, envelope)

        for envelope in envelopes(engine, "erp"):
            if (envelope.aggregate_id, envelope.sequence) in leave:
                continue
            assert deliver(engine, envelope, handler) is Outcome.APPLIED
            applied += 1
    return applied


def tamper(sim: str, **change: Any) -> None:
    response = httpx.post(f"{sim}/_sim/erp/tamper", json=change, timeout=5)
    assert response.status_code == 200, response.text


def reported(result: Result) -> dict[str, Any]:
    """The JSON report a command printed (its log, on stderr, aside)."""
    return dict(json.loads(result.stdout))


def audit(engine: sa.Engine, action: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text("SELECT * FROM audit_log WHERE action = :a ORDER BY id"), {"a": action}
            )
        )


def ledger(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        query = "SELECT id, status, generation, published_at FROM outbox_deliveries ORDER BY id"
        return [tuple(r) for r in conn.execute(sa.text(query))]


@pytest.fixture
def seeded(engine: sa.Engine, sim: str, shop: str) -> dict[str, str]:
    """Nine orders: three the ERP holds rightly (shipped in full and invoiced, part shipped,
    not shipped), four it then holds wrongly (lost, re-priced, cancelled, duplicated), one
    whose sales order is still pending, one whose invoice is."""
    ids = {name: place(engine, f"REC-{name}", [("A", 1), ("B", 2)]) for name in "ABCDEFGHI"}
    ship(engine, ids["A"], "T-A", [("A", 1), ("B", 2)])
    ship(engine, ids["B"], "T-B", [("A", 1)])
    ship(engine, ids["I"], "T-I", [("A", 1), ("B", 2)])
    leave = {(ids["H"], 1), (ids["I"], 2)}  # sequence 1: the sales order, 2: the invoice
    assert deliver_to_erp(engine, sim, leave=leave) == 9 + 2 - 1
    tamper(sim, order_ref=ids["D"], delete=True)
    tamper(sim, order_ref=ids["E"], grand_total="1.00")
    tamper(sim, order_ref=ids["F"], status="cancelled")
    tamper(sim, order_ref=ids["G"], duplicate=True)
    return ids


def test_reconcile_finds_every_seeded_discrepancy_and_no_false_one(
    cli: CliRunner, engine: sa.Engine, seeded: dict[str, str]
) -> None:
    result = cli.invoke(main, ["reconcile", "--system", "erp", "--json"])

    assert result.exit_code == 1, result.output
    report = reported(result)
    name = {order_id: letter for letter, order_id in seeded.items()}
    found = sorted((name[d["order_id"]], d["kind"], d["document"]) for d in report["discrepancies"])
    assert found == [
        ("D", "missing", "sales order"),
        ("E", "amount", "sales order"),
        ("F", "status", "sales order"),
        ("G", "duplicate", "sales order"),
    ]
    amount = next(d for d in report["discrepancies"] if d["kind"] == "amount")
    assert (amount["expected"], amount["found"]) == ("36.03 EUR", "1.00 EUR")
    flying = {name[f["order_id"]]: f["ledger"] for f in report["in_flight"]}
    assert flying == {"H": {"pending": 1}, "I": {"pending": 1}}
    assert report["counts"] == {
        "checked": 7,
        "missing": 1,
        "amount": 1,
        "status": 1,
        "duplicate": 1,
        "in_flight": 2,
    }
    assert report["repair"] is None
    (entry,) = audit(engine, "reconcile.system")
    assert (entry.outcome, entry.counts, entry.filter["system"]) == (
        "ok",
        report["counts"],
        "erp",
    )


def test_an_erp_that_holds_everything_rightly_is_clean_with_what_is_in_flight_apart(
    cli: CliRunner, engine: sa.Engine, sim: str, shop: str
) -> None:
    shipped = place(engine, "OK-1", [("A", 2)])
    place(engine, "OK-2", [("A", 1), ("B", 1)])
    pending = place(engine, "OK-3", [("B", 1)])
    ship(engine, shipped, "T-1", [("A", 1)])
    ship(engine, shipped, "T-2", [("A", 1)])
    assert deliver_to_erp(engine, sim, leave={(pending, 1)}) == 4

    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    result = cli.invoke(main, ["reconcile", "--system", "erp", "--since", hour_ago])

    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "erp: 2 orders accepted since" in text
    assert "compared: 0 missing, 0 amount, 0 status, 0 duplicate; 1 in flight" in text
    assert "in flight (not compared)" in text and "OK-3" in text


def test_orders_accepted_before_since_are_not_compared(
    cli: CliRunner, engine: sa.Engine, seeded: dict[str, str]
) -> None:
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    result = cli.invoke(main, ["reconcile", "--system", "erp", "--since", later, "--json"])
    assert result.exit_code == 0, result.output
    assert reported(result)["counts"]["checked"] == 0


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ((200, "not json"), "the reply is not JSON"),
        ((200, '{"items": [{"order_ref": "o-1"}], "next_cursor": null}'), "items.0.document"),
        ((503, '{"detail": "down for maintenance"}'), "down for maintenance"),
    ],
    ids=["not-json", "item", "down"],
)
def test_a_malformed_or_failing_erp_reply_is_a_clear_error_that_changes_nothing(
    cli: CliRunner,
    engine: sa.Engine,
    seeded: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    reply: tuple[int, str],
    says: str,
) -> None:
    before = ledger(engine)
    with ServerThread(canned(reply)) as broken:
        monkeypatch.setenv("ORDERSYNC_ERP_URL", f"{broken.url}/erp")
        result = cli.invoke(main, ["reconcile", "--system", "erp", "--repair"])

    assert result.exit_code == 3, result.output
    assert says in result.output and "cannot read erp at" in result.output
    assert "Traceback" not in result.output and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert ledger(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0
    (entry,) = audit(engine, "reconcile.system")
    assert entry.outcome == "failed" and says in entry.detail


def test_a_repair_while_another_replay_runs_is_refused_and_replays_nothing(
    cli: CliRunner, engine: sa.Engine, seeded: dict[str, str]
) -> None:
    other, _ = replay.start(
        engine, "reprocess", replay.ReplayFilter(orders=(seeded["A"],)), created_by="op"
    )
    before = ledger(engine)

    result = cli.invoke(main, ["reconcile", "--system", "erp", "--repair"])

    assert result.exit_code == 2, result.output
    assert "the repair's replay was refused" in result.output and str(other) in result.output
    assert "Traceback" not in result.output
    assert ledger(engine) == before
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 1
    (entry,) = audit(engine, "reconcile.system")
    assert (entry.outcome, entry.counts["missing"], entry.counts["repaired"]) == ("refused", 1, 3)


def put_channel_orders(sim: str, *docs: dict[str, Any], at: str | None = None) -> str:
    body: dict[str, Any] = {"orders": list(docs), **({"updated_at": at} if at else {})}
    response = httpx.post(f"{sim}/_sim/channels/web/orders", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return str(response.json()["updated_at"])


def orders_named(engine: sa.Engine, external_id: str) -> list[Any]:
    with engine.connect() as conn:
        query = "SELECT id, status FROM orders WHERE channel = 'web' AND external_id = :e"
        return list(conn.execute(sa.text(query), {"e": external_id}))


def accepted_events(engine: sa.Engine, order_id: Any) -> int:
    with engine.connect() as conn:
        query = (
            "SELECT count(*) FROM outbox_events"
            " WHERE event_type = 'order.accepted' AND aggregate_id = :o"
        )
        return int(conn.execute(sa.text(query), {"o": str(order_id)}).scalar_one())


def test_an_order_the_channel_never_webhooked_is_ingested_once(
    cli: CliRunner, engine: sa.Engine, sim: str, shop: str
) -> None:
    webhooked = order_doc("W-1", [("A", 1)])
    place_order(uow(engine), PlaceOrder.model_validate(webhooked), channel="web")
    stamped = put_channel_orders(sim, webhooked, order_doc("W-2", [("B", 3)]))

    first = cli.invoke(main, ["reconcile", "--channel", "web", "--json"])
    second = cli.invoke(main, ["reconcile", "--channel", "web", "--json"])

    assert first.exit_code == second.exit_code == 0, first.output + second.output
    one, two = reported(first), reported(second)
    counts = {"listed": 2, "present": 1, "repaired": 1, "updated": 0, "differs": 0, "rejected": 0}
    assert one["counts"] == counts
    # Seen again within the overlap, and present: nothing is ingested twice.
    assert two["counts"] == {**counts, "present": 2, "repaired": 0}
    (ingested,) = orders_named(engine, "W-2")
    assert len(orders_named(engine, "W-1")) == 1
    repaired = next(o for o in one["orders"] if o["outcome"] == "repaired")
    assert (repaired["external_id"], repaired["order_id"]) == ("W-2", str(ingested.id))
    # The live path: stock reserved, the outbox written, as for a webhook.
    assert ingested.status == "allocated" and accepted_events(engine, ingested.id) == 1
    newest = datetime.fromisoformat(stamped.replace("Z", "+00:00"))
    assert one["watermark"] == two["watermark"] == (newest - OVERLAP).isoformat()
    assert (one["repaired_in_all"], two["repaired_in_all"]) == (1, 1)
    entries = audit(engine, "reconcile.channel")
    assert [(e.outcome, e.counts["repaired"], e.counts["present"]) for e in entries] == [
        ("ok", 1, 1),
        ("ok", 0, 2),
    ]

    later = (newest + timedelta(minutes=2)).isoformat()
    put_channel_orders(sim, order_doc("W-3", [("A", 1)]), at=later)
    third = reported(cli.invoke(main, ["reconcile", "--channel", "web", "--json"]))
    assert third["counts"] == {**counts, "listed": 3, "present": 2}  # W-1, W-2 again
    assert third["repaired_in_all"] == 2
    with engine.connect() as conn:
        mark = conn.execute(sa.text("SELECT * FROM channel_watermarks")).one()
    assert (mark.channel, mark.repaired) == ("web", 2)
    # W-3 was stamped two minutes ahead: the watermark stops short of now, not past it.
    assert newest - OVERLAP < mark.watermark < datetime.fromisoformat(later) - OVERLAP


def test_orders_the_channel_holds_otherwise_or_that_ordersync_refuses_are_reported(
    cli: CliRunner, engine: sa.Engine, sim: str, shop: str
) -> None:
    place_order(uow(engine), PlaceOrder.model_validate(order_doc("W-1", [("A", 1)])), channel="web")
    changed = order_doc("W-1", [("A", 2)])  # the channel has it with two units
    unknown_sku = order_doc("W-2", [("NOPE", 1)])
    not_an_order = {"external_id": "W-3", "lines": "none"}
    put_channel_orders(sim, changed, unknown_sku, not_an_order, order_doc("W-4", [("B", 1)]))

    result = cli.invoke(main, ["reconcile", "--channel", "web", "--json"])

    assert result.exit_code == 1, result.output
    report = reported(result)
    outcomes = {o["external_id"]: (o["outcome"], o["reason"]) for o in report["orders"]}
    # More units than ordersync took: a change the lifecycle cannot make, parked.
    assert outcomes["W-1"][0] == "differs" and "more than the 1 ordered" in outcomes["W-1"][1]
    assert outcomes["W-2"][0] == "rejected" and "NOPE" in outcomes["W-2"][1]
    assert outcomes["W-3"][0] == "rejected" and "lines" in outcomes["W-3"][1]
    assert outcomes["W-4"] == ("repaired", "")
    assert [len(orders_named(engine, e)) for e in ("W-1", "W-2", "W-3", "W-4")] == [1, 0, 0, 1]


def test_a_malformed_channel_listing_is_a_clear_error_that_ingests_nothing(
    cli: CliRunner, engine: sa.Engine, shop: str
) -> None:
    good = {"updated_at": "2030-01-01T10:00:00Z", "order": order_doc("W-1", [("A", 1)])}
    pages = [
        (200, json.dumps({"items": [good], "next_cursor": "2"})),
        (200, json.dumps({"items": [{"order": order_doc("W-2")}], "next_cursor": None})),
    ]
    with ServerThread(canned(*pages)) as broken:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE channels SET api_url = :u WHERE name = 'web'"),
                {"u": f"{broken.url}/channels/web"},
            )
        result = cli.invoke(main, ["reconcile", "--channel", "web"])

    assert result.exit_code == 3, result.output
    assert "malformed orders reply: items.0.updated_at" in result.output
    assert "Traceback" not in result.output
    assert orders_named(engine, "W-1") == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM channel_watermarks")).scalar_one() == 0
    (entry,) = audit(engine, "reconcile.channel")
    assert entry.outcome == "failed"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["reconcile"], "give one of --system or --channel"),
        (["reconcile", "--system", "erp", "--channel", "web"], "give one of"),
        (["reconcile", "--channel", "web", "--repair"], "--repair goes with --system"),
        (["reconcile", "--system", "wms"], "'wms' is not 'erp'"),
        (["reconcile", "--channel", "web", "--since", "last week"], "not an ISO 8601 time"),
        (["reconcile", "--channel", "shop-xx"], "no channel named 'shop-xx'"),
        (["reconcile", "--channel", "pos"], "channel 'pos' has no --api-url"),
    ],
    ids=["neither", "both", "repair-channel", "system", "since", "unknown", "no-url"],
)
def test_bad_input_is_a_clear_error_that_changes_nothing(
    cli: CliRunner, engine: sa.Engine, shop: str, args: list[str], says: str
) -> None:
    with engine.begin() as conn:
        registry.add_channel(conn, "pos", "pos")
    result = cli.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert says in result.output and "Traceback" not in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM channel_watermarks")).scalar_one() == 0
        refused = conn.execute(sa.text("SELECT outcome, detail FROM audit_log")).all()
    assert all(r.outcome == "refused" and r.detail in result.output for r in refused)


# -- the same over /ops ---------------------------------------------------------------------


@pytest.fixture
async def ops(aiohttp_client: Any, engine: sa.Engine, sim: str) -> Any:
    from adapters.http.keys import HttpConfig
    from ops.bootstrap import product_app
    from ops.ops_api import OpsConfig
    from tests.integration.conftest import ADMIN_TOKEN

    config = OpsConfig(system_urls={"erp": f"{sim}/erp"}, client_timeout_s=2)
    app = product_app(engine, HttpConfig(admin_token=ADMIN_TOKEN), ops=config)
    return await aiohttp_client(app)


async def test_reconcile_over_http_reports_what_the_command_does(
    ops: Any, engine: sa.Engine, seeded: dict[str, str], sim: str
) -> None:
    from tests.integration.test_ops_api import ADMIN

    found = await ops.post("/ops/reconcile", json={"system": "erp"}, headers=ADMIN)
    assert found.status == 200, await found.text()
    report = await found.json()
    assert report["clean"] is False
    assert report["counts"]["missing"] == 1 and report["counts"]["duplicate"] == 1
    webhooked = order_doc("W-9", [("A", 1)])
    put_channel_orders(sim, webhooked)
    channel = await ops.post("/ops/reconcile", json={"channel": "web"}, headers=ADMIN)
    assert (await channel.json())["counts"]["repaired"] == 1
    for body, status in (
        ({}, 422),
        ({"system": "erp", "channel": "web"}, 422),
        ({"channel": "web", "repair": True}, 422),
        ({"system": "wms"}, 422),
        ({"channel": "nowhere"}, 409),
    ):
        response = await ops.post("/ops/reconcile", json=body, headers=ADMIN)
        assert response.status == status, (body, await response.text())
    entries = [(e.action, e.via, e.outcome) for e in audit(engine, "reconcile.system")]
    assert entries == [("reconcile.system", "http", "ok")]
    channels = [(e.via, e.outcome) for e in audit(engine, "reconcile.channel")]
    assert channels == [("http", "ok"), ("http", "refused")]


# -- edges: a naive or ancient since, a clock ahead, an order refused once -----------------


async def test_a_naive_since_over_http_is_a_problem_not_a_500_after_ingesting(
    ops: Any,
    engine: sa.Engine,
    sim: str,
    shop: str,
) -> None:
    """ReconcileRequest.since is a plain `datetime`: pydantic takes "2026-…T00:00:00"
    without an offset. The channel side compares it with the channel's aware updated_at
    in next_watermark (TypeError) — after the listed orders were ingested."""
    from tests.integration.test_ops_api import ADMIN

    put_channel_orders(sim, order_doc("N-1", [("A", 1)]))
    naive = (datetime.now(UTC) - timedelta(hours=1)).replace(tzinfo=None).isoformat()

    response = await ops.post(
        "/ops/reconcile", json={"channel": "web", "since": naive}, headers=ADMIN
    )

    assert response.status in (200, 422), (response.status, await response.text())


async def test_a_since_at_the_start_of_time_over_http_is_a_problem_not_a_500(
    ops: Any,
    engine: sa.Engine,
    sim: str,
) -> None:
    """since - clock_margin (1 h) overflows datetime for 0001-01-01."""
    from tests.integration.test_ops_api import ADMIN

    response = await ops.post(
        "/ops/reconcile", json={"system": "erp", "since": "0001-01-01T00:00:00Z"}, headers=ADMIN
    )

    assert response.status in (200, 422), (response.status, await response.text())


def test_a_since_at_the_start_of_time_is_a_clear_error_not_a_traceback(
    cli: CliRunner,
) -> None:
    result = cli.invoke(main, ["reconcile", "--system", "erp", "--since", "0001-01-01"])
    assert not isinstance(result.exception, OverflowError), result.exception
    assert result.exit_code in (0, 2), result.output


def test_one_order_stamped_in_the_future_does_not_make_the_watermark_skip_later_orders(
    cli: CliRunner,
    engine: sa.Engine,
    sim: str,
    shop: str,
) -> None:
    """The watermark moves to the newest updated_at the channel listed, less 5 s, and never
    back. One order whose updated_at lies ahead (a channel clock fault, an import with a
    wrong date) moves it into the future: every order lost after that, stamped correctly,
    lies before the watermark and is never listed again."""
    ahead = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    put_channel_orders(sim, order_doc("F-1", [("A", 1)]), at=ahead.isoformat())
    assert cli.invoke(main, ["reconcile", "--channel", "web"]).exit_code == 0

    put_channel_orders(sim, order_doc("F-2", [("A", 1)]))  # lost now, stamped now
    second = reported(cli.invoke(main, ["reconcile", "--channel", "web", "--json"]))

    assert len(orders_named(engine, "F-2")) == 1, second


def test_an_order_rejected_once_is_looked_at_again_by_the_next_run(
    cli: CliRunner,
    engine: sa.Engine,
    sim: str,
    shop: str,
) -> None:
    """A listed order the domain refuses (an unknown SKU, say) is reported, and the
    watermark moves past it anyway: once the cause is fixed, the next run never lists it
    again, so the lost order stays lost unless an operator remembers --since."""
    put_channel_orders(sim, order_doc("R-1", [("NEW-SKU", 1)]))
    later = (datetime.now(UTC) + timedelta(seconds=30)).replace(microsecond=0)
    put_channel_orders(sim, order_doc("R-2", [("A", 1)]), at=later.isoformat())
    first = cli.invoke(main, ["reconcile", "--channel", "web", "--json"])
    assert first.exit_code == 1 and reported(first)["counts"]["rejected"] == 1
    from domain.commands import AdjustInventory
    from domain.services import adjust_inventory
    from tests.integration.test_reconcile import uow

    stock = [{"sku": "NEW-SKU", "location": "WH-EAST", "set_on_hand": 5}]
    adjust_inventory(uow(engine), AdjustInventory.model_validate({"adjustments": stock}))

    second = reported(cli.invoke(main, ["reconcile", "--channel", "web", "--json"]))

    assert "R-1" in {o["external_id"] for o in second["orders"]}, second["orders"]
