"""What every benchmark shares, defined once: where the local services are, scratch databases
and vhosts, child processes, CPU from /proc, waiting, statistics and tables."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

SERVER = "postgresql://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"
ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
BENCH_APP = "ordersync-bench"  # application_name of the benchmarks' own connections


def sa_url(db: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"


def raw_dsn(db: str) -> str:
    return f"{SERVER}/{db}"


def amqp_url(vhost: str) -> str:
    return f"{AMQP}/{vhost}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- scratch databases and vhosts ------------------------------------------------------


def connect(db: str = "postgres", **options: Any) -> Any:
    """A psycopg connection (autocommit unless told otherwise), named as the bench's own."""
    import psycopg

    options.setdefault("autocommit", True)
    return psycopg.connect(raw_dsn(db), application_name=BENCH_APP, **options)


def admin_sql(*statements: str) -> None:
    with connect() as conn:
        for statement in statements:
            conn.execute(statement.encode())


def create_database(name: str, *, migrate: bool = True) -> None:
    """A new database, migrated with the product's own migrations unless told not to."""
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    if migrate:
        from adapters.db.migrate import upgrade

        upgrade(sa_url(name))


def drop_database(name: str) -> None:
    admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbitmqctl(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", "-q", *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout


def create_vhost(name: str) -> None:
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")


def drop_vhost(name: str) -> None:
    rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def scratch(prefix: str, *, vhost: bool = False, migrate: bool = True) -> Iterator[str]:
    """A database (and a vhost) named PREFIX_<random>, dropped at the end whatever happens."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    made: list[Callable[[str], None]] = []
    try:
        create_database(name, migrate=migrate)
        made.append(drop_database)
        if vhost:
            create_vhost(name)
            made.append(drop_vhost)
        yield name
    finally:
        for drop in reversed(made):
            with contextlib.suppress(Exception):
                drop(name)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the scratch database and the children are cleaned up."""

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- child processes ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ordersync_command() -> list[str]:
    """`ordersync` from this source tree (PYTHONPATH in child_env), whatever is installed."""
    return [sys.executable, "-c", "from ops.cli import main; main()"]


def child_env(**settings: str) -> dict[str, str]:
    """The environment of a child: ours without any ORDERSYNC_ setting, this tree first on
    the path, then `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSYNC_")}
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1", **settings}


class LoggedProcess:
    """A child process of a benchmark, its output in a log file (never a pipe: a pipe
    nobody reads fills up and stalls the child). In a session of its own: a Ctrl-C
    reaches the benchmark only, which stops its children."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as out:
            self.popen = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
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


def stop_all(processes: Iterable[LoggedProcess]) -> None:
    """SIGTERM to every one first, then wait for each: they shut down together."""
    processes = list(processes)
    for p in processes:
        p.terminate()
    for p in processes:
        p.wait()


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    step: float = 0.05,
    check: Callable[[], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if check:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def py_spy() -> str | None:
    import shutil

    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


def load_raw_profile(path: Path) -> list[tuple[list[str], int]]:
    """py-spy's raw format: one `frame;frame;… count` line per distinct stack."""
    stacks = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


# -- CPU from /proc ----------------------------------------------------------------------


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]  # all but idle and iowait


def broker_pid() -> int | None:
    """RabbitMQ's Erlang VM on this machine."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "beam.smp":
                    return int(entry.name)
    return None


def backend_pids(db: str) -> list[int]:
    """The PostgreSQL backends of a database, but the benchmark's own connections."""
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND application_name <> %s",
            [BENCH_APP],
        ).fetchall()
    return [r[0] for r in rows]


class CpuMeter:
    """CPU seconds of named process groups between start() and stop(); with `machine`,
    the whole machine's too. Each group's pids are asked for at both ends, so a backend
    that appears meanwhile counts from its start."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], *, machine: bool = False):
        self.groups = groups
        self.machine = machine
        self.seconds: dict[str, float] = {}
        self.elapsed = 0.0

    def start(self) -> CpuMeter:
        self.t0 = time.monotonic()
        self.before = {g: {p: cpu_ticks(p) for p in f()} for g, f in self.groups.items()}
        self.machine0 = machine_busy_ticks()
        return self

    def stop(self) -> dict[str, float]:
        self.elapsed = time.monotonic() - self.t0
        for group, pids in self.groups.items():
            before = self.before[group]
            ticks = sum(max(cpu_ticks(p) - before.get(p, 0), 0) for p in {*pids(), *before})
            self.seconds[group] = ticks / CLK_TCK
        if self.machine:
            self.seconds["machine"] = (machine_busy_ticks() - self.machine0) / CLK_TCK
        return self.seconds

    def percent(self) -> dict[str, float]:
        """% of one core per group (the machine: of all its cores, as one core = 100)."""
        return {g: 100 * s / max(self.elapsed, 1e-9) for g, s in self.seconds.items()}


# -- statistics and tables ---------------------------------------------------------------


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile, nearest rank (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def med(values: Iterable[float]) -> float:
    """The median of the values that are numbers (nan for none)."""
    numbers = [v for v in values if not math.isnan(v)]
    return statistics.median(numbers) if numbers else float("nan")


def runs(values: Sequence[float], spec: str = ",.0f") -> str:
    """The median, then every run in brackets: `1,234 (1,200, 1,250)`."""
    if not values:
        return "—"
    each = ", ".join(format(v, spec) for v in values)
    return f"{format(med(values), spec)} ({each})" if len(values) > 1 else each


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], title: str = "") -> str:
    """A Markdown table (first column left-aligned, the others right): pasted into the docs
    as it is printed."""
    lines = [f"### {title}", ""] if title else []
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|---|" + "---:|" * (len(headers) - 1))
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
