"""`ordersync dlq`'s bad input is refused before anything is opened (no database here: a
command that got as far as connecting would fail on the unset ORDERSYNC_DATABASE_URL),
and the documented error classes are exactly the ones the classifier can name."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db.dead_letters import ERROR_CLASSES, error_class
from ops.cli import main


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.delenv("ORDERSYNC_DATABASE_URL", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["dlq", "requeue"], "none was given"),
        (["dlq", "requeue", "3", "--all"], "not IDs and --all together"),
        (["dlq", "purge", "--all", "--order", "o-1", "--reason", "r"], "not filters and --all"),
        (["dlq", "purge", "3"], "Missing option '--reason'"),
        (["dlq", "purge", "3", "--reason", " "], "give the reason in words"),
        (["dlq", "requeue", "three"], "'three' is not a valid integer"),
        (["dlq", "list", "--destination", "ERP"], "'ERP' is not a destination"),
        (["dlq", "list", "--error-class", "poison"], "'poison' is not one of"),
        (["dlq", "list", "--until", "2026-13-01"], "is not an ISO 8601 time"),
        (["dlq", "list", "--since", "2026-02-01", "--until", "2026-02-01"], "before --until"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)
def test_bad_input_is_a_usage_error_before_the_database_is_touched(
    cli: CliRunner, args: list[str], says: str
) -> None:
    result = cli.invoke(main, args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "ORDERSYNC_DATABASE_URL" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_good_selection_goes_on_to_the_database(cli: CliRunner) -> None:
    result = cli.invoke(main, ["dlq", "requeue", "--destination", "channel:web"])
    assert result.exit_code == 1
    assert "ORDERSYNC_DATABASE_URL is not set" in result.output


def test_the_documented_classes_are_the_ones_the_classifier_names() -> None:
    # The CASE's results: the class names it can give (its conditions are nested deeper).
    named = {p.value for p in error_class.element.get_children() if isinstance(p, sa.BindParameter)}
    assert named == set(ERROR_CLASSES)


def test_the_help_explains_every_error_class(cli: CliRunner) -> None:
    text = " ".join(cli.invoke(main, ["dlq", "list", "--help"]).output.split())
    for name, meaning in ERROR_CLASSES.items():
        assert f"{name}: {' '.join(meaning.split())}" in text
