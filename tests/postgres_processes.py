"""The postgres processes of an embedded server, found by its data folder (for tests that
check a server was stopped)."""

from __future__ import annotations

from pathlib import Path

import psutil


def postgres_processes_in(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "postgres" and str(folder) in " ".join(
            process.info["cmdline"] or ()
        ):
            found.append(process)
    return found
