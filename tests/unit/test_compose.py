"""docker-compose.yml cannot run here (no Docker engine): check what can be checked."""

from __future__ import annotations

from pathlib import Path

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
