"""What every benchmark shares: where the local services are, child processes, statistics."""

from __future__ import annotations

import contextlib
import math
import signal
import statistics
import subprocess
from pathlib import Path

SERVER = "postgresql://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"


def sa_url(db: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"


def raw_dsn(db: str) -> str:
    return f"{SERVER}/{db}"


def amqp_url(vhost: str) -> str:
    return f"{AMQP}/{vhost}"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def med(values: list[float]) -> float:
    """The median of the values that are numbers (nan for none)."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")


class LoggedProcess:
    """A child process of a benchmark, its output in a log file (never a pipe: a pipe
    nobody reads fills up and stalls the child). In a session of its own: a Ctrl-C
    reaches the benchmark only, which stops its children."""

    def __init__(
        self, name: str, command: list[str], env: dict[str, str], log_path: Path, cwd: Path
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.tail()}")

    def terminate(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 20) -> None:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)

    def stop(self, timeout: float = 20) -> None:
        self.terminate()
        self.wait(timeout)
