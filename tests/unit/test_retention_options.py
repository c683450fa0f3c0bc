"""Retention's ages, settings, refusals and command-line checks (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ops.ages import age_text, parse_age
from ops.audit import Refused
from ops.cli import main
from ops.pruning import Ages, Report, refuse_short_window, report_lines
from ops.settings import SettingsError, load_settings

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("text", "age", "written"),
    [
        ("7d", timedelta(days=7), "7d"),
        ("2w", timedelta(days=14), "14d"),
        ("36h", timedelta(hours=36), "36h"),
        ("90m", timedelta(minutes=90), "90m"),
        ("90s", timedelta(seconds=90), "90s"),
        ("1D", timedelta(days=1), "1d"),
    ],
)
def test_an_age_reads_and_writes_back_in_the_largest_whole_unit(
    text: str, age: timedelta, written: str
) -> None:
    assert parse_age(text) == age
    assert age_text(age) == written


@pytest.mark.parametrize("text", ["", "7", "d", "7x", "-7d", "1.5d", "seven days"])
def test_anything_else_is_not_an_age(text: str) -> None:
    with pytest.raises(ValueError, match="is not an age like 7d, 12h, 30m or 90s"):
        parse_age(text)


def test_retention_settings_default_to_a_week_of_dedup_and_longer_retentions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DEDUP_WINDOW", "RETENTION_OUTBOX", "RETENTION_DEAD_LETTERS", "RETENTION_AUDIT"):
        monkeypatch.delenv(f"ORDERSYNC_{name}", raising=False)
    settings = load_settings()
    assert settings.dedup_window == timedelta(days=7)
    assert settings.retention_outbox == timedelta(days=14) >= settings.dedup_window
    assert settings.retention_dead_letters == timedelta(days=30)
    assert settings.retention_audit == timedelta(days=365)
    monkeypatch.setenv("ORDERSYNC_DEDUP_WINDOW", "36h")
    assert load_settings().dedup_window == timedelta(hours=36)


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "is not an age like 7d"), ("0d", "greater than 0 seconds")],
)
def test_a_bad_retention_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("ORDERSYNC_RETENTION_AUDIT", value)
    with pytest.raises(SettingsError, match="ORDERSYNC_RETENTION_AUDIT") as raised:
        load_settings()
    assert message in str(raised.value)


def test_an_outbox_age_shorter_than_the_dedup_window_is_refused_naming_both() -> None:
    week = timedelta(days=7)
    refuse_short_window(Ages(outbox=week), week)  # the window itself is enough
    refuse_short_window(Ages(dead_letters=timedelta(days=1)), week)  # no outbox: no bar
    with pytest.raises(Refused) as refused:
        refuse_short_window(
            Ages(outbox=timedelta(days=3), outbox_named="ORDERSYNC_RETENTION_OUTBOX={}"), week
        )
    assert str(refused.value).startswith(
        "ORDERSYNC_RETENTION_OUTBOX=3d is shorter than the dedup window (ORDERSYNC_DEDUP_WINDOW=7d)"
    )
    assert "Nothing was deleted: prune with an age of 7d or more" in str(refused.value)


def test_a_report_has_one_line_per_kind_pruned() -> None:
    report = Report(dry_run=True, interrupted=True)
    report.cutoffs = {"outbox": datetime(2026, 1, 1, tzinfo=UTC)}
    report.rows.update(outbox_events=1200, outbox_deliveries=4800, inbox=4700)
    report.batches = {"outbox": 2}
    assert report_lines(report, Ages(outbox=timedelta(days=14))) == [
        "outbox prune: would delete 1,200 events, 4,800 ledger rows and 4,700 inbox rows "
        "older than 14d, in 2 batches",
        "stopped between batches; the rest is left for the next prune",
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["outbox", "prune"], "Missing option '--older-than'"),
        (["outbox", "prune", "--older-than", "a week"], "'a week' is not an age like 7d"),
        (["outbox", "prune", "--older-than", "7d", "--batch", "0"], "1<=x<=2000"),
        (["outbox", "prune", "--older-than", "7d", "--batch", "5000"], "1<=x<=2000"),
        (["outbox", "prune", "--older-than", "7d", "--audit-older-than", "1y"], "'1y' is not"),
        (["maintenance", "--interval", "hourly"], "'hourly' is not an age like 7d"),
    ],
)
def test_bad_retention_options_are_usage_errors_before_anything_runs(
    arguments: list[str], message: str
) -> None:
    result = CliRunner().invoke(main, arguments)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_maintenance_runs_as_its_own_compose_service() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    maintenance = services["maintenance"]
    assert maintenance["command"][0] == "maintenance" and "--once" not in maintenance["command"]
    assert maintenance["restart"] == "unless-stopped"
    assert maintenance["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
