"""`ordersync demo` on the embedded default, as a newcomer runs it: the console script in an
empty folder with no ORDERSYNC_* variable set. An embedded PostgreSQL server, Dramatiq's
in-process broker, the relay, the workers and the simulators in one process; no services."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from adapters.db.embedded import EmbeddedPostgres
from tests.e2e.processes import CLI
from tests.postgres_processes import postgres_processes_in

pytestmark = pytest.mark.e2e

ORDERS = 40


def _without_ordersync_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}


def _received(output: str) -> dict[str, tuple[int, int]]:
    """The demo's table of what the simulated systems received: system → (documents,
    duplicate calls absorbed)."""
    table = output.split("what the simulated systems received", 1)[1]
    rows = re.findall(r"│ (erp|wms|crm|channels)\s*│ (\d+)\s*│.*?│ (\d+)\s*│", table)
    return {system: (int(documents), int(duplicates)) for system, documents, duplicates in rows}


def test_the_demo_runs_the_whole_flow_on_an_embedded_postgresql_in_an_empty_folder(
    tmp_path: Path,
) -> None:
    env = _without_ordersync_settings()
    env["COLUMNS"] = "200"  # one table row per line, whatever the terminal
    finished = subprocess.run(
        [CLI, "demo", "--orders", str(ORDERS)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 0, output
    folder = tmp_path / "ordersync-demo"
    assert (folder / "PG_VERSION").is_file()  # the server's folder, where the demo said
    assert f"embedded PostgreSQL server in {folder}" in output
    assert f"the embedded PostgreSQL server in {folder} stopped" in output
    assert not (folder / "postmaster.pid").exists()
    assert postgres_processes_in(folder) == []

    flat = " ".join(output.split())
    assert f"{ORDERS} of {ORDERS} orders accepted" in flat
    assert "2 repeats answered with the stored order" in flat
    found = re.search(r"relay: (\d+) messages published to the in-process broker", flat)
    assert found is not None
    published = int(found.group(1))
    # Every simulated system received documents, and each document once.
    received = _received(output)
    assert set(received) == {"erp", "wms", "crm", "channels"}
    assert all(documents > 0 and duplicates == 0 for documents, duplicates in received.values())
    # One sales order per order; a CRM contact per order and per customer made or changed.
    assert f"sales_order={ORDERS}" in flat
    contacts = re.search(r"contact=(\d+)", flat)
    assert contacts is not None

    # The data stays in the folder: start the server again to read what the demo left.
    with EmbeddedPostgres(folder) as server:
        engine = sa.create_engine(server.url("ordersync"))
        with engine.connect() as conn:
            orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
            deliveries = conn.execute(
                sa.text("SELECT count(*) FROM outbox_deliveries")
            ).scalar_one()
            unpublished = conn.execute(
                sa.text("SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL")
            ).scalar_one()
            statuses = set(
                conn.execute(sa.text("SELECT DISTINCT status FROM outbox_deliveries")).scalars()
            )
            dead = conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one()
            customer_events = conn.execute(
                sa.text("SELECT count(*) FROM outbox_events WHERE event_type = 'customer.updated'")
            ).scalar_one()
            oversold = conn.execute(
                sa.text("SELECT count(*) FROM stock WHERE reserved > on_hand")
            ).scalar_one()
        engine.dispose()
    assert postgres_processes_in(folder) == []
    assert orders == ORDERS
    assert int(contacts.group(1)) == ORDERS + customer_events > ORDERS
    assert unpublished == 0 and published >= deliveries  # released ones go out again
    assert statuses <= {"applied", "superseded"} and dead == 0
    assert oversold == 0


def _demo(folder: str, orders: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "demo", "--orders", str(orders), "--folder", folder],
        cwd=cwd,
        env=_without_ordersync_settings(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _orders_in(folder: Path) -> int:
    with EmbeddedPostgres(folder) as server:
        engine = sa.create_engine(server.url("ordersync"))
        with engine.connect() as conn:
            orders = int(conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one())
        engine.dispose()
    return orders


def test_each_run_starts_from_a_fresh_database_in_the_same_folder(tmp_path: Path) -> None:
    first = _demo("pg", 5, tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = _demo("pg", 3, tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "3 of 3 orders accepted" in second.stdout
    assert _orders_in(tmp_path / "pg") == 3  # not 5 + 3


def test_sigterm_stops_the_embedded_server_with_the_demo(tmp_path: Path) -> None:
    folder = tmp_path / "ordersync-demo"
    log = tmp_path / "demo.log"
    with log.open("w") as sink:
        demo = subprocess.Popen(
            [CLI, "demo", "--orders", "5000"],
            cwd=tmp_path,
            env=_without_ordersync_settings(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while "on a fresh database" not in log.read_text():
                assert demo.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
            time.sleep(1)  # into the run: orders flowing, workers and relay busy
            assert postgres_processes_in(folder)
            demo.terminate()
            demo.wait(60)
        finally:
            if demo.poll() is None:
                demo.kill()
    assert demo.returncode != 0  # interrupted, not finished
    assert "orders accepted" not in log.read_text()
    assert postgres_processes_in(folder) == []
    assert not (folder / "postmaster.pid").exists()
