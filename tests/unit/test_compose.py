"""docker-compose.yml cannot run here (no Docker engine): check what can be checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from ops.cli import main

ROOT = Path(__file__).parents[2]


def test_every_ordersync_command_in_the_compose_file_exists_in_the_cli() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = [
        service["command"]
        for service in compose["services"].values()
        if service.get("build") and "command" in service
    ]
    assert commands, "no ordersync service found in docker-compose.yml"
    runner = CliRunner()
    for command in commands:
        words = [w for w in command if not w.startswith("-")][:2]
        result = runner.invoke(main, [*words, "--help"])
        assert result.exit_code == 0, (
            f"`ordersync {' '.join(words)}` does not exist: {result.output}"
        )


def test_the_services_the_design_needs_are_in_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "rabbitmq", "migrate", "api", "relay", "worker", "sim"} <= set(services)
    # long-running processes come back after a crash; the one-shot migration does not
    assert all(services[s]["restart"] == "unless-stopped" for s in ("api", "relay", "worker"))
    assert services["migrate"]["restart"] == "no"
    # the worker reaches the simulators by their service name
    assert services["worker"]["environment"]["ORDERSYNC_ERP_URL"].endswith("http://sim:8090/erp}")
    assert "management" in compose["services"]["rabbitmq"]["image"]


# -- the observability services (issue 14) ----------------------------------------------


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    """A service's bind mounts: container path → the repository path it shows."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = source[2:]
    return mounts


def _port_option(command: list[str]) -> int:
    return int(command[command.index("--port") + 1])


def test_jaeger_prometheus_and_grafana_are_in_the_compose_file() -> None:
    services = _compose()["services"]
    assert {"jaeger", "prometheus", "grafana"} <= set(services)
    jaeger = services["jaeger"]
    assert "jaegertracing/all-in-one" in jaeger["image"]
    assert jaeger["environment"]["COLLECTOR_OTLP_ENABLED"] == "true"
    published = {p.rsplit(":", 1)[-1] for p in jaeger["ports"]}
    assert {"4317", "4318", "16686"} <= published
    # Every ordersync process exports its traces to it, over the protocol the SDK uses.
    for name in ("api", "relay", "worker"):
        env = services[name]["environment"]
        assert env["OTEL_TRACES_EXPORTER"] == "otlp"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert env["OTEL_SERVICE_NAME"] == f"ordersync-{name}"


def test_prometheus_scrapes_every_process_on_the_port_it_serves_and_loads_the_rules() -> None:
    services = _compose()["services"]
    mounts = _mounts(services["prometheus"])
    config = yaml.safe_load((ROOT / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"ordersync-api", "ordersync-relay", "ordersync-worker"}
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())
    # The api serves /metrics on its own port.
    (api_target,) = jobs["ordersync-api"]["static_configs"][0]["targets"]
    assert api_target == f"api:{_port_option(services['api']['command'])}"
    # Relays and workers on ORDERSYNC_METRICS_PORT, bound where Prometheus reaches them;
    # found by service name, so every scaled copy is scraped.
    for name in ("relay", "worker"):
        (sd,) = jobs[f"ordersync-{name}"]["dns_sd_configs"]
        env = services[name]["environment"]
        assert sd["names"] == [name] and sd["type"] == "A"
        assert sd["port"] == int(env["ORDERSYNC_METRICS_PORT"]) > 0
        assert env["ORDERSYNC_METRICS_HOST"] == "0.0.0.0"
    ports = {services[n]["environment"]["ORDERSYNC_METRICS_PORT"] for n in ("relay", "worker")}
    assert len(ports) == 2, "a relay and a worker on one host need ports of their own"
    # The alert rules: ops/alerts mounted where rule_files looks.
    assert mounts["/etc/prometheus/rules"] == "ops/alerts"
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert sorted((ROOT / "ops" / "alerts").glob("*.yml"))


def test_the_metrics_settings_in_the_compose_file_are_valid_settings() -> None:
    from ops.settings import Settings

    services = _compose()["services"]
    for name in ("relay", "worker"):
        env = services[name]["environment"]
        settings = Settings(
            metrics_port=env["ORDERSYNC_METRICS_PORT"], metrics_host=env["ORDERSYNC_METRICS_HOST"]
        )
        assert settings.metrics_port == int(env["ORDERSYNC_METRICS_PORT"])


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard_of_exported_metrics() -> None:
    from tests.promql import PROMETHEUS_OWN, exported_series, used_series

    services = _compose()["services"]
    mounts = _mounts(services["grafana"])
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "ordersync.yml").read_text())[
        "providers"
    ]
    dashboards = ROOT / mounts[provider["options"]["path"]]
    dashboard = json.loads((dashboards / "ordersync.json").read_text())
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for subject in ("orders per channel", "backlog", "slo", "dead letters"):
        assert subject in titles, f"the dashboard has no panel of {subject}"
    exported = exported_series()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        for target in panel["targets"]:
            unknown = used_series(target["expr"]) - exported - PROMETHEUS_OWN
            assert not unknown, f"panel {panel['title']!r} reads {sorted(unknown)}"
