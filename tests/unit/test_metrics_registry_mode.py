"""The metrics' registry mode (ops/metrics/multiprocess.py): chosen before any metric
exists, or refused; off, it leaves the environment alone."""

from __future__ import annotations

import os

import pytest

from ops.metrics import multiprocess


def test_the_shared_registry_is_refused_once_metrics_exist() -> None:
    import prometheus_client  # noqa: F401 (the metrics of this process exist)

    os.environ.pop(multiprocess.ENV, None)
    with pytest.raises(RuntimeError, match="before any metric exists"):
        with multiprocess.enabled(True):
            pass
    assert multiprocess.ENV not in os.environ


def test_off_it_changes_nothing_and_gives_no_shared_registry() -> None:
    os.environ.pop(multiprocess.ENV, None)
    with multiprocess.enabled(False) as path:
        assert path is None and multiprocess.ENV not in os.environ
        assert multiprocess.registry() is None


def test_importing_the_cli_leaves_prometheus_client_unimported() -> None:
    """The CLI must be able to choose the mode: nothing it imports up front may create a
    metric (ops.bootstrap imports the metrics only when it builds an app)."""
    import subprocess
    import sys

    code = "import sys, ops.cli, ops.api_process; print('prometheus_client' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
