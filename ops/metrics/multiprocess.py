"""A registry shared on disk by the processes of one API (`ordersync api --processes N`).

They share one port, so a scrape reaches one of them at random: each must answer with
the sum of all. prometheus-client's multiprocess mode does that (each process writes its
values to files in PROMETHEUS_MULTIPROC_DIR; a scrape adds them up). The mode is chosen
when prometheus-client is first imported, so `enabled` must run before anything imports
it: the CLI enters it before it imports the API process's code. This module imports
prometheus-client only when asked for the registry.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def enabled(when: bool) -> Iterator[str | None]:
    """Inside: a fresh directory of shared values (its path), removed on the way out; the
    processes started inside inherit it through the environment. `when` False: nothing."""
    if not when or os.environ.get(ENV):  # off, or the operator chose a directory
        yield os.environ.get(ENV)
        return
    if "prometheus_client" in sys.modules:
        raise RuntimeError("the shared metrics registry must be chosen before any metric exists")
    path = tempfile.mkdtemp(prefix="ordersync-metrics-")
    os.environ[ENV] = path
    try:
        yield path
    finally:
        os.environ.pop(ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def registry() -> Any | None:
    """The registry summing every process's values (None outside multiprocess mode)."""
    if not os.environ.get(ENV):
        return None
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    shared = CollectorRegistry()
    MultiProcessCollector(shared)  # type: ignore[no-untyped-call]
    return shared
