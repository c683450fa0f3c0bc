"""The embedded PostgreSQL server (the demo's, and the tests' fallback) runs our schema and
the statements SQLite never had: a SKIP LOCKED claim and LISTEN/NOTIFY on the relay's raw
psycopg connection."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from adapters.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from adapters.db.engine import make_engine, raw_postgres_dsn
from adapters.db.migrate import current_head, upgrade
from outbox.writer import NOTIFY_CHANNEL
from tests.postgres_processes import postgres_processes_in

pytestmark = pytest.mark.integration


def test_an_embedded_server_runs_the_migrated_schema_and_postgresql_only_statements(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pg"
    with EmbeddedPostgres(folder) as server:
        url = server.recreate_database("ordersync")
        upgrade(url)
        engine = make_engine(url, pool_size=2)
        try:
            with engine.begin() as conn:
                version = conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                assert version.scalar_one() == current_head()
                conn.execute(
                    sa.text(
                        "INSERT INTO consumer_cursors"
                        " (destination, aggregate_type, aggregate_id, last_sequence, updated_at)"
                        " SELECT 'erp', 'order', 'o-' || n, 0, now() FROM generate_series(1, 4) n"
                    )
                )
            claim = sa.text(
                "SELECT aggregate_id FROM consumer_cursors ORDER BY aggregate_id"
                " LIMIT 2 FOR UPDATE SKIP LOCKED"
            )
            with engine.connect() as first, engine.connect() as second:
                with first.begin():
                    mine = list(first.execute(claim).scalars())
                    with second.begin():
                        theirs = list(second.execute(claim).scalars())
            assert mine == ["o-1", "o-2"] and theirs == ["o-3", "o-4"]

            # The relay's wake-up: a raw psycopg connection from the same URL, socket and all.
            with psycopg.connect(raw_postgres_dsn(url), autocommit=True) as listener:
                listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
                with engine.begin() as conn:
                    conn.execute(sa.text("SELECT pg_notify(:c, 'wake')"), {"c": NOTIFY_CHANNEL})
                received = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
            assert received == ["wake"]
        finally:
            engine.dispose()
        assert postgres_processes_in(folder)
        # A second recreate starts from an empty database again.
        again = make_engine(server.recreate_database("ordersync"), pool_size=1)
        with again.connect() as conn:
            tables = conn.execute(
                sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
            assert tables.scalar_one() == 0
        again.dispose()
    assert not (folder / "postmaster.pid").exists()
    assert postgres_processes_in(folder) == []


def test_a_folder_of_other_files_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(EmbeddedPostgresError, match="holds files but no PostgreSQL data"):
        EmbeddedPostgres(tmp_path).start()
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_run_killed_outright_before_does_not_keep_the_server_from_stopping(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "pg"
    with EmbeddedPostgres(folder):
        pass
    gone = subprocess.Popen(["true"])  # a pid that no longer runs
    gone.wait()
    (folder / ".handle_pids.json").write_text(json.dumps([gone.pid]))  # as SIGKILL leaves it
    for _ in range(2):  # and again in the same process: a fresh handle each time
        with EmbeddedPostgres(folder) as server:
            with psycopg.connect(raw_postgres_dsn(server.url("postgres"))) as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert postgres_processes_in(folder) == []
