"""Every runbook in docs/runbooks/, executed against the real stack, so they cannot rot.

Each test makes its runbook's situation happen (the ERP down, dead letters, the relay
gone, a backlog, the ERP restored from a backup), then runs the runbook's blocks in
order, as written: a `sh` block's commands each as a command (its `<placeholders>`
filled in from the situation; each must succeed), a `sh service` block's commands as
processes of the stack; and checks what the runbook's "check it worked" promises.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.processes import CLI, log_of, wait_until
from tests.e2e.stack import Stack, stocked
from tests.e2e.stack import place as stack_place
from tests.factories import order_doc

pytestmark = pytest.mark.e2e

RUNBOOKS = Path(__file__).resolve().parents[2] / "docs" / "runbooks"
BLOCK = re.compile(r"^```(sh(?: service)?)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"<[a-z-]+>")


EXITS = re.compile(r"#\s*exits (\d+)")


@dataclass(frozen=True)
class Block:
    service: bool
    commands: tuple[tuple[str, int], ...]  # each line's command and the exit code it says


def blocks(name: str) -> list[Block]:
    """A runbook's command blocks, in order; each line a command (exit code 0 unless its
    comment says `exits N`), comments dropped."""
    text = (RUNBOOKS / name).read_text()
    found = []
    for kind, body in BLOCK.findall(text):
        commands = []
        for line in filter(str.strip, body.splitlines()):
            command, _, comment = line.partition("  #")
            exits = EXITS.search("#" + comment)
            commands.append((command.strip(), int(exits.group(1)) if exits else 0))
        assert all(c.startswith("ordersync ") for c, _ in commands), (name, commands)
        found.append(Block(kind == "sh service", tuple(commands)))
    return found


class Runbook:
    """Runs a runbook's blocks one by one against the stack, recording their output."""

    def __init__(self, stack: Stack, name: str, fill: dict[str, str] | None = None) -> None:
        self.stack, self.name, self.fill = stack, name, fill or {}
        self.pending = blocks(name)
        self.outputs: list[tuple[str, str]] = []
        self.services = 0
        assert self.pending, f"{name} has no command block"

    def run_next(self) -> Block:
        block = self.pending.pop(0)
        for command, exits in block.commands:
            command = PLACEHOLDER.sub(lambda m: self.fill[m.group(0)[1:-1]], command)
            args = shlex.split(command)[1:]
            if block.service:
                self.services += 1
                self.stack.start(f"runbook-{self.services}", *args)
                continue
            done = subprocess.run(
                [CLI, *args], env=self._env(), capture_output=True, text=True, timeout=120
            )
            said = f"{self.name}: `{command}` → {done.returncode}: {done.stderr}{done.stdout}"
            assert done.returncode == exits, said
            self.outputs.append((command, done.stdout))
        return block

    def run_all(self) -> None:
        while self.pending:
            self.run_next()

    def output(self, start: str) -> str:
        """The output of the last command run that starts with `start`."""
        return [out for command, out in self.outputs if command.startswith(start)][-1]

    def _env(self) -> dict[str, str]:
        import os

        return {
            **os.environ,
            "ORDERSYNC_DATABASE_URL": self.stack.database_url,
            "ORDERSYNC_BROKER_URL": self.stack.broker_url,
            "ORDERSYNC_OPERATOR": "runbook-test",
            **self.stack.env(),
        }


STACK_ENV = {"ORDERSYNC_CLIENT_TIMEOUT_S": "30"}  # held calls outlast the default


def place(stack: Stack, prefix: str, count: int) -> list[str]:
    return stack_place(stack, prefix, count, [("A", 1)])


def scalar(stack: Stack, sql: str, **params: Any) -> Any:
    with stack.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def erp_sales_orders(stack: Stack) -> Counter[str]:
    documents = stack.documents("erp")["documents"]
    return Counter(d["body"]["order_ref"] for d in documents if d["type"] == "sales_order")


def when(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    wait_until(condition, timeout, what, step=0.1)


def every_block_runs(runbook: Runbook) -> None:
    assert not runbook.pending, f"{runbook.name}: blocks left unrun"


# -- the runbooks ------------------------------------------------------------------------


def test_every_runbook_has_commands_and_is_tested() -> None:
    names = sorted(p.name for p in RUNBOOKS.glob("*.md") if p.name != "README.md")
    tested = {
        "erp-downtime.md",
        "marketplace-backlog.md",
        "poison-messages.md",
        "relay-or-worker-stuck.md",
        "restored-from-backup.md",
    }
    assert set(names) == tested
    for name in names:
        text = (RUNBOOKS / name).read_text()
        for section in ("## What shows it", "## What to do", "## Check it worked"):
            assert section in text, (name, section)
        assert blocks(name)


def test_erp_downtime(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", down_for_s=8)
    orders = place(stack, "DOWN", 6)
    when(
        lambda: (
            scalar(stack, "SELECT count(*) FROM destinations WHERE name = 'erp' AND state = 'open'")
            == 1
        ),
        "the ERP's breaker open",
    )
    runbook = Runbook(stack, "erp-downtime.md")
    runbook.run_next()  # what shows it
    assert "open" in runbook.output("ordersync destination list")
    when(lambda: stack.documents("erp") is not None and _answers(stack), "the ERP back", 30)
    runbook.run_all()  # resume now; the planned pause and resume; the checks
    when(stack.settled, "every delivery applied")
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})
    listed = {d["destination"]: d for d in json.loads(runbook.output("ordersync destination"))}
    assert listed["erp"]["state"] == "closed"
    assert scalar(stack, "SELECT count(*) FROM dead_letters") == 0
    actions = [a for (a,) in _audit(stack)]
    assert actions.count("destination.resume") == 2 and actions.count("destination.pause") == 1


def test_poison_messages(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.faults("erp", reject_matching=["POISON-"])
    poison = {
        f"POISON-{i}": stack.order(order_doc(f"POISON-{i}", [("A", 1)]))["id"] for i in (1, 2, 3)
    }
    fine = place(stack, "FINE", 4)
    when(lambda: scalar(stack, "SELECT count(*) FROM dead_letters") == 3, "three dead letters")
    ids = {row.aggregate_id: row.id for row in _rows(stack, "SELECT * FROM dead_letters")}
    runbook = Runbook(
        stack,
        "poison-messages.md",
        {
            "dead-letter-id": str(ids[poison["POISON-1"]]),
            "other-dead-letter-id": str(ids[poison["POISON-3"]]),
        },
    )
    runbook.run_next()  # list and show
    assert poison["POISON-1"] in runbook.output("ordersync dlq show")
    runbook.run_next()  # purge POISON-3, which must never go
    stack.faults("erp", reject_matching=[])  # the cause fixed
    runbook.run_all()  # requeue one, a filter's dry run, the filter; the checks
    when(_settled_but_the_purged(stack), "the requeued ones applied")
    assert erp_sales_orders(stack) == Counter(
        {o: 1 for o in [*fine, poison["POISON-1"], poison["POISON-2"]]}
    )
    assert poison["POISON-3"] not in runbook.output("ordersync dlq list")
    reasons = [r for a, r in _audit(stack, detail=True) if a == "dlq.purge"]
    assert reasons and all("ticket 4711" in (r or "") for r in reasons)


def _settled_but_the_purged(stack: Stack) -> Callable[[], bool]:
    """Every delivery applied but the purged one, which stays dead (it never went)."""

    def done() -> bool:
        statuses = stack.statuses()
        return statuses.get("dead") == 1 and set(statuses) <= {"applied", "superseded", "dead"}

    return done


def test_relay_or_worker_stuck(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.kill("relay")
    stack.kill("worker")
    orders = place(stack, "STUCK", 5)
    runbook = Runbook(stack, "relay-or-worker-stuck.md")
    runbook.run_next()  # outbox stats
    assert scalar(stack, "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL") > 0
    runbook.run_next()  # a relay and a worker
    when(stack.settled, "every delivery applied")
    runbook.run_all()
    stats = json.loads(runbook.output("ordersync outbox stats"))
    assert all(d["unpublished"] == 0 for d in stats["destinations"])
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})


def test_marketplace_backlog(stack: Stack) -> None:
    stack.up(ship_after=None)
    stocked(stack)
    stack.stop("worker")  # the peak: nobody keeps up
    orders = place(stack, "PEAK", 10)
    runbook = Runbook(stack, "marketplace-backlog.md")
    runbook.run_next()  # what shows it
    runbook.run_next()  # a relay and workers for the channels' queue
    when(lambda: _applied_at(stack, "channel:web") > 0, "the channels' queue draining")
    stack.start("worker-again", "worker", "--threads", "4")  # the other queues' workers back
    runbook.run_all()  # spare the CRM (pause, resume); the checks
    when(stack.settled, "every delivery applied")
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})
    assert [a for (a,) in _audit(stack)] == ["destination.pause", "destination.resume"]


# -- helpers -----------------------------------------------------------------------------


def _answers(stack: Stack) -> bool:
    import httpx

    try:
        return httpx.get(f"{stack.sim}/erp/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _rows(stack: Stack, sql: str) -> list[Any]:
    with stack.engine.connect() as conn:
        return list(conn.execute(sa.text(sql)))


def _audit(stack: Stack, detail: bool = False) -> list[tuple[Any, ...]]:
    columns = "action, detail" if detail else "action"
    return [tuple(r) for r in _rows(stack, f"SELECT {columns} FROM audit_log ORDER BY id")]


def _applied_at(stack: Stack, destination: str) -> int:
    return int(
        scalar(
            stack,
            "SELECT count(*) FROM outbox_deliveries WHERE destination = :d AND status = 'applied'",
            d=destination,
        )
    )


def _logs(stack: Stack) -> str:
    return "\n".join(log_of(p)[-2000:] for p in stack.processes.values())


def test_restored_from_backup(stack: Stack) -> None:
    import httpx

    stack.up(ship_after=None)
    stocked(stack)
    before = place(stack, "OLD", 3)
    when(stack.settled, "the first orders delivered")
    with stack.engine.connect() as conn:
        backup_time = conn.execute(sa.text("SELECT now()")).scalar_one()
    after = place(stack, "NEW", 4)
    when(stack.settled, "the later orders delivered")
    for order in after:  # the ERP is restored to the backup: what came after is gone
        lost = httpx.post(
            f"{stack.sim}/_sim/erp/tamper", json={"order_ref": order, "delete": True}, timeout=5
        )
        assert lost.status_code == 200, lost.text
    runbook = Runbook(stack, "restored-from-backup.md", {"backup-time": backup_time.isoformat()})
    runbook.run_next()  # reconcile: the lost ones found
    found = json.loads(runbook.output("ordersync reconcile"))
    assert sorted(d["order_id"] for d in found["discrepancies"]) == sorted(after)
    runbook.run_next()  # the replay: dry run, run, replays
    when(stack.settled, "the replayed deliveries applied")
    runbook.run_all()  # reconcile again: exit 0, the ERP holds every order; the audit
    # What reached the ERP: the lost ones a second time (a new generation), nothing else.
    assert erp_sales_orders(stack) == Counter({**{o: 1 for o in before}, **{o: 2 for o in after}})
    assert stack.documents("erp")["duplicates"] == 0
