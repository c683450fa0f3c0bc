"""Running `ordersync` commands in tests through click's runner, checked."""

from __future__ import annotations

from click.testing import CliRunner, Result

from ops.cli import main


def run(cli: CliRunner, *args: str, code: int = 0) -> Result:
    """`ordersync ARGS…`, which must exit with `code` and never show a traceback."""
    result = cli.invoke(main, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result
