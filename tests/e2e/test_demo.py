"""`ordersync demo` on the embedded default: SQLite, Dramatiq's in-process broker, the
relay, the workers and the simulators in one process; no services."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ops.cli import main

pytestmark = pytest.mark.e2e


def test_the_demo_runs_the_whole_flow_on_the_embedded_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("ORDERSYNC_DATABASE_URL", "ORDERSYNC_BROKER_URL"):
        monkeypatch.delenv(variable, raising=False)
    database = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--orders", "40", "--database", str(database)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps lines at the terminal's width
    assert "40 of 40 orders accepted" in output
    assert "2 repeats answered with the stored order" in output
    found = re.search(r"relay: (\d+) messages published", output)
    assert found is not None
    published = int(found.group(1))

    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        orders = conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one()
        deliveries = conn.execute(sa.text("SELECT count(*) FROM outbox_deliveries")).scalar_one()
        unpublished = conn.execute(
            sa.text("SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL")
        ).scalar_one()
        statuses = set(
            conn.execute(sa.text("SELECT DISTINCT status FROM outbox_deliveries")).scalars()
        )
        dead = conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one()
        oversold = conn.execute(
            sa.text("SELECT count(*) FROM stock WHERE reserved > on_hand")
        ).scalar_one()
    engine.dispose()
    assert orders == 40
    assert unpublished == 0 and published >= deliveries  # released ones go out again
    assert statuses <= {"applied", "superseded"} and dead == 0
    assert oversold == 0
    # The simulated systems got each document once: one sales order and one CRM contact
    # per order, and no call was applied twice.
    assert "sales_order=40" in output and "contact=40" in output
    assert "duplicate calls absorbed" in output
