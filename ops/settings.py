"""Settings from the environment (ORDERSYNC_*), validated once at start-up."""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.systems import SYSTEMS, Systems
from ops.ages import parse_age
from ops.system_urls import system_urls

NO_DATABASE = (
    "ORDERSYNC_DATABASE_URL is not set: this command needs PostgreSQL "
    "(postgresql+psycopg://user@host:port/db); only `ordersync demo` starts a server of its own"
)


class SettingsError(Exception):
    """The environment holds an invalid setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERSYNC_", extra="ignore")

    database_url: str | None = Field(
        None,
        description="postgresql+psycopg://… (SQLAlchemy form); unset: `ordersync demo` starts "
        "an embedded PostgreSQL server, every other command refuses to run",
    )
    broker_url: str | None = Field(None, description="amqp://…; unset: the in-process broker")
    admin_token: str | None = Field(None, min_length=16, description="bearer token for /ops/*")
    secret_key: str | None = Field(None, min_length=16, description="encrypts stored secrets")
    # Each downstream system's base URL, by name: ORDERSYNC_<NAME>_URL, read by
    # load_settings for every system of the registry (ops.system_urls).
    system_urls: dict[str, str] = Field(default_factory=dict, exclude=True)
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    body_timeout_s: float = Field(10.0, gt=0, le=300)
    db_pool_size: int = Field(20, ge=1, le=200)
    # Request threads for database work: few, since Python holds one core at a time;
    # more only queue on the GIL (measured in docs/benchmarks.md).
    api_threads: int = Field(8, ge=1, le=200)
    page_size: int = Field(100, ge=1, le=1000)
    # A channel's requests a minute on the canonical API and the read routes, unless the
    # channel has its own (`ordersync channel limit`); per API process; 0 is unlimited.
    # Webhook doors are never limited (adapters/http/ratelimit.py).
    channel_rate_limit: int = Field(
        600, ge=0, le=1_000_000, description="a channel's requests a minute (0: unlimited)"
    )
    quorum_queues: bool = Field(False, description="declare quorum queues (a RabbitMQ cluster)")
    outbox_notify: bool = Field(
        False, description="writers NOTIFY the relay at commit (else it polls adaptively)"
    )
    relay_idle_poll_max_s: float = Field(0.05, gt=0, le=10)
    client_timeout_s: float = Field(5.0, gt=0, le=120, description="downstream read timeout")
    probe_interval_s: float = Field(5.0, gt=0, le=600, description="breaker health probes")
    # Retention (`ordersync outbox prune`, `ordersync maintenance`), ages such as 7d or 12h.
    # No prune takes ledger or inbox rows younger than the dedup window: 7 days, the longest a
    # copy of a message can live in RabbitMQ (Dramatiq's dead-letter queue keeps it that
    # long; docs/architecture.md, "Retention").
    dedup_window: timedelta = Field(timedelta(days=7), gt=timedelta(0))
    retention_outbox: timedelta = Field(timedelta(days=14), gt=timedelta(0))
    retention_dead_letters: timedelta = Field(timedelta(days=30), gt=timedelta(0))
    retention_audit: timedelta = Field(timedelta(days=365), gt=timedelta(0))
    # The raw bytes a channel sent, kept beside its order for audit: removed this many days
    # after the delivery was applied (parked ones stay until they are).
    raw_payload_days: int = Field(90, ge=1, le=36_500)
    # The inbound sweeper of each API process (adapters/http/webhooks.py): every this many
    # seconds (0: off), deliveries still `received` after inbound_sweep_after_s are applied.
    inbound_sweep_s: float = Field(5.0, ge=0, le=3600)
    inbound_sweep_after_s: float = Field(30.0, gt=0, le=86_400)
    # /metrics of a relay or worker process, on a port of its own (the API serves it on its
    # own port): 0 is none. One port per process: give each relay and worker on one host
    # its own (docs/metrics.md).
    metrics_port: int = Field(0, ge=0, le=65535, description="relay/worker /metrics port (0: off)")
    metrics_host: str = Field("127.0.0.1", description="the address relay/worker /metrics binds")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            # One driver: psycopg 3, whatever form the URL came in.
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        if value.startswith("postgresql+psycopg://"):
            return value
        raise ValueError("must be postgresql+psycopg://user@host:port/db")

    @field_validator(
        "dedup_window",
        "retention_outbox",
        "retention_dead_letters",
        "retention_audit",
        mode="before",
    )
    @classmethod
    def _age(cls, value: object) -> object:
        return parse_age(value) if isinstance(value, str) else value

    @field_validator("broker_url")
    @classmethod
    def _broker_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("amqp://", "amqps://")):
            raise ValueError("must be amqp://user:password@host:port/vhost")
        return value or None

    @property
    def embedded(self) -> bool:
        """No database configured: only the demo runs so, on a server of its own."""
        return self.database_url is None

    def require_database_url(self) -> str:
        """The configured database URL; SettingsError (naming the variable) if unset."""
        if self.database_url is None:
            raise SettingsError(NO_DATABASE)
        return self.database_url


def load_settings(*, systems: Systems = SYSTEMS, **overrides: object) -> Settings:
    """Settings from the environment, with a URL for every system of `systems`; a bad value
    raises SettingsError naming the variable."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = "; ".join(
            f"ORDERSYNC_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
    try:
        urls = system_urls(systems, os.environ)
    except ValueError as error:
        raise SettingsError(f"invalid settings: {error}") from None
    return settings.model_copy(update={"system_urls": {**urls, **settings.system_urls}})
