"""Mutation check: deliberate bugs in a throwaway copy of the code must fail their tests.

`python -m tests.mutants` (or `make mutants`) copies the working tree (`git ls-files`,
tracked and untracked-but-not-ignored files that exist) into a temporary directory once
per mutant, applies the mutant there as an exact text replacement (which must match
exactly once: "mutant X no longer applies" when the code moved — rewrite the mutant
against the current code), and runs the pytest node ids that guard it in that copy, with
this interpreter and PYTHONPATH set to the copy (the project is installed editable, so
the copy's imports are checked to resolve to the copy, not to this tree). A mutant is
killed when its tests fail. The guards must pass on an unmutated copy first.

One line per mutant, then `N mutants, K killed`; the exit status is 0 only if every
mutant was killed. Not run in CI (a few minutes); run it before resolving a change to
the code a mutant touches. `--only ID` runs some, `--list` names them, `--keep` leaves
the copies in place, `--every-failure` names every failing test, not the first.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PACKAGES = ("domain", "outbox", "adapters", "actors", "ops", "tests")

# Node ids without a parameter: a test of the guard runs on each engine it is written for
# (PostgreSQL first), so a test that gains or loses a parameter keeps its guard.
GUARD = "tests/integration/test_delivery_guard.py"
RELAY = "tests/integration/test_relay.py"
ATOMICITY = (
    "tests/integration/test_atomicity.py"
    "::test_a_change_and_its_outbox_rows_commit_in_one_transaction"
)
OVERSELL = "tests/integration/test_oversell.py"
MACHINE = "tests/integration/test_stock_machine.py"
LIFECYCLE = (
    "tests/integration/test_lifecycle_machine.py"
    "::test_random_lifecycles_keep_stock_money_statuses_and_offers_consistent"
)
REPLAY = "tests/integration/test_replay.py"
REPLAY_RACES = "tests/integration/test_replay_races.py"
REQUEUE = "tests/integration/test_dead_letter_requeue.py"
RETENTION = "tests/integration/test_retention.py"
AMENDMENTS = "tests/unit/test_amendments.py"
ORDER_CHANGES = "tests/integration/test_order_changes_api.py"
FILL = "tests/integration/test_backorder_fill.py"
SAFETY = "tests/integration/test_safety_stock.py"
RETURNS = "tests/integration/test_returns_api.py"
DASHBOARD = "tests/integration/test_dashboard_http.py"
DASHBOARD_QUERIES = "tests/integration/test_dashboard_queries.py"
TRACING = "tests/integration/test_tracing.py"
ONE_TRACE = f"{TRACING}::test_one_trace_follows_an_order_from_the_request_to_the_erps_http_call"
CORRELATION = "tests/integration/test_log_correlation.py"
LOG_LINES = "tests/unit/test_log_lines.py"


@dataclass(frozen=True)
class Mutant:
    id: str
    what: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


_OUTBOX_IN_THE_TRANSACTION = """\
            write_events(
                self.connection,
                self.pending_events,
                self.context,
                self.active_channels,
                routing=self.routing,
                notify=self.notify,
            )
            self.connection.commit()
"""
_OUTBOX_OWN_TRANSACTION = """\
            with self.engine.begin() as outbox:
                write_events(
                    outbox,
                    self.pending_events,
                    self.context,
                    lambda: self.channels(outbox),
                    routing=self.routing,
                    notify=self.notify,
                )
"""

MUTANTS = (
    Mutant(
        "guard-inbox",
        "the guard's inbox check removed",
        "actors/guard.py",
        "        if opened.in_inbox:\n            return Outcome.DUPLICATE\n",
        "",
        (
            f"{GUARD}::test_a_replay_is_applied_again_once_and_leaves_the_cursor_alone",
            f"{GUARD}::test_two_copies_of_a_replay_at_once_have_one_effect",
        ),
    ),
    Mutant(
        "guard-cursor-order",
        "the guard's cursor order check removed (a message ahead of its cursor is applied)",
        "actors/guard.py",
        "            not replay and envelope.sequence > cursor.last_sequence + 1\n",
        "            False\n",
        (f"{GUARD}::test_messages_delivered_in_reverse_are_applied_in_sequence",),
    ),
    Mutant(
        "consumer-cursor-stuck",
        "the cursor not moved on when a message is applied (_CLOSE)",
        "adapters/db/delivery_transaction.py",
        "    SET last_sequence = %(sequence)s, blocked_by = NULL, updated_at = now()\n",
        "    SET last_sequence = last_sequence, blocked_by = NULL, updated_at = now()\n",
        (f"{GUARD}::test_messages_delivered_in_reverse_are_applied_in_sequence",),
    ),
    Mutant(
        "outbox-after-commit",
        "the outbox rows written in a transaction of their own, after the change's commit",
        "adapters/db/uow.py",
        _OUTBOX_IN_THE_TRANSACTION,
        "            self.connection.commit()\n" + _OUTBOX_OWN_TRANSACTION,
        (ATOMICITY,),
    ),
    Mutant(
        "outbox-before-commit",
        "the outbox rows committed in a transaction of their own, before the change's",
        "adapters/db/uow.py",
        _OUTBOX_IN_THE_TRANSACTION,
        _OUTBOX_OWN_TRANSACTION + "            self.connection.commit()\n",
        (ATOMICITY,),
    ),
    Mutant(
        "stock-lock-dropped",
        "the SKU rows read without FOR UPDATE",
        "adapters/db/inventory_repository.py",
        ".order_by(skus.c.sku).with_for_update()\n",
        ".order_by(skus.c.sku)\n",
        (
            f"{OVERSELL}::test_forty_orders_from_two_channels_racing_for_ten_units_reserve_exactly_ten",
            f"{OVERSELL}::test_stock_shrinking_while_orders_race_never_leaves_reserved_above_on_hand",
        ),
    ),
    Mutant(
        "relay-published-before-confirm",
        "the publisher settles a message as confirmed as soon as it is sent",
        "outbox/rabbitmq_publisher.py",
        "                mandatory=True,\n            )\n",
        "                mandatory=True,\n            )\n"
        "            batch.settle(message.delivery_id, None)\n",
        (
            f"{RELAY}::test_a_publish_the_broker_nacks_stays_unpublished_with_the_reason_and_goes_out_later",
            f"{RELAY}::test_a_queue_deleted_behind_the_relays_back_leaves_rows_unpublished_with_the_error",
        ),
    ),
    Mutant(
        "relay-published-after-nack",
        "a Basic.Nack taken for a confirm",
        "outbox/rabbitmq_publisher.py",
        'batch.settle(delivery_id, "nacked by RabbitMQ" if nack else returned)',
        "batch.settle(delivery_id, returned)",
        (
            f"{RELAY}::test_a_publish_the_broker_nacks_stays_unpublished_with_the_reason_and_goes_out_later",
        ),
    ),
    Mutant(
        "registry-transient-ignored",
        "a handler's transient failure ignored by the actor (taken as applied)",
        "actors/registry.py",
        "        outcome = _transient(engine, envelope, error, policy, healthy)\n",
        "        outcome = Outcome.APPLIED\n",
        (
            f"{GUARD}::test_an_outage_longer_than_the_retries_parks_messages_as_waiting_then_releases_them",
            f"{GUARD}::test_a_destination_whose_health_check_fails_is_an_outage_and_dead_letters_nothing",
        ),
    ),
    Mutant(
        "guard-permanent-ignored",
        "a handler's permanent failure (a rejected document) ignored by the guard",
        "actors/guard.py",
        "            except PermanentError as error:\n"
        "                _dead(conn, envelope, row, str(error))\n"
        "                return Outcome.DEAD\n",
        "            except PermanentError:\n                pass\n",
        (f"{GUARD}::test_a_poison_message_parks_only_its_own_aggregates_successors",),
    ),
    Mutant(
        "adjust-no-stock-events",
        "a stock adjustment (or a POS sale) emits no inventory.changed",
        "domain/services.py",
        "    uow.emit(*stock_events(uow, stock, changed, channel))\n",
        "",
        (MACHINE,),
    ),
    Mutant(
        "shrink-no-order-events",
        "a shrink (or a fill) changes orders without their order.allocated",
        "domain/services.py",
        "    uow.emit(*allocation_events(order, reallocated=True))\n",
        "",
        (MACHINE,),
    ),
    Mutant(
        "shipment-keeps-reserved",
        "a shipment takes stock off hand but leaves it reserved",
        "domain/shipping.py",
        "lv, on_hand=lv.on_hand - quantity, reserved=lv.reserved - quantity",
        "lv, on_hand=lv.on_hand - quantity, reserved=lv.reserved",
        (MACHINE,),
    ),
    Mutant(
        "replay-hold-ignored",
        "a live message of an aggregate a reprocess replay holds is applied at once",
        "actors/guard.py",
        "        if early_step or (not replay and cursor.replay_id is not None):\n",
        "        if early_step:\n",
        (f"{REPLAY}::test_a_new_event_of_an_order_being_reprocessed_waits_for_the_replay",),
    ),
    Mutant(
        "replay-chain-unordered",
        "a reprocess chain's steps applied in whatever order they arrive",
        "actors/guard.py",
        "        early_step = chained and row.replay_step != cursor.replay_step + 1\n",
        "        early_step = False\n",
        (
            f"{REPLAY}::test_a_reprocess_applies_each_chain_again_in_order_whatever_order_it_arrives_in",
        ),
    ),
    Mutant(
        "replay-same-generation",
        "a reprocess releases its rows under the same generation (the same Idempotency-Key)",
        "adapters/db/replays.py",
        "            generation = d.generation + CASE WHEN :reprocess THEN 1 ELSE 0 END,\n",
        "            generation = d.generation,\n",
        (f"{REPLAY}::test_reprocessing_twice_applies_twice_under_new_keys",),
    ),
    Mutant(
        "replay-checkpoint-stuck",
        "a release batch does not move the replay's checkpoint",
        "adapters/db/replays.py",
        "        SET checkpoint = coalesce((SELECT max(id) FROM released), checkpoint),\n",
        "        SET checkpoint = checkpoint,\n",
        (
            f"{REPLAY}::test_an_interrupted_replay_resumes_from_its_checkpoint_releasing_each_row_once",
        ),
    ),
    Mutant(
        "replay-hold-never-ends",
        "the last step of a chain leaves the hold in place",
        "adapters/db/delivery_transaction.py",
        "        replay_id = CASE WHEN %(last_step)s THEN NULL ELSE replay_id END\n",
        "        replay_id = replay_id\n",
        (f"{REPLAY}::test_a_new_event_of_an_order_being_reprocessed_waits_for_the_replay",),
    ),
    Mutant(
        "replay-runner-overrides-cancel",
        "a stopped runner marks its replay interrupted even if it was cancelled",
        "ops/replay.py",
        '        if not replays.set_state(conn, replay.id, state, only_from=("running",)):\n',
        "        if not replays.set_state(conn, replay.id, state):\n",
        (f"{REPLAY_RACES}::test_a_cancelled_replay_stays_cancelled_when_its_runner_is_stopped",),
    ),
    Mutant(
        "replay-chain-on-a-blocked-aggregate",
        "planning keeps an aggregate a dead letter blocked while it waited",
        "adapters/db/replays.py",
        "        if (r.destination, r.aggregate_type, r.aggregate_id) not in blocked\n",
        "        if True\n",
        (f"{REPLAY_RACES}::test_a_dead_letter_born_during_planning_does_not_strand_the_chain",),
    ),
    Mutant(
        "requeue-block-kept",
        "a requeue leaves the aggregate's cursor blocked by the dead letter",
        "ops/dead_letters.py",
        "        if blocked == letter.event_id:\n            blocked = None\n        sent.add",
        "        sent.add",
        (
            f"{REQUEUE}::test_a_requeue_sends_the_dead_letter_again_and_its_parked_successors_follow_in_order",
        ),
    ),
    Mutant(
        "cancel-oldest-reservation-first",
        "a cancellation takes the oldest reservation of a line first",
        "domain/order_change.py",
        "key=lambda r: (r.created_at, str(r.id)), reverse=True):",
        "key=lambda r: (r.created_at, str(r.id)), reverse=False):",
        (f"{AMENDMENTS}::test_a_cancellation_takes_the_newest_reservation_first",),
    ),
    Mutant(
        "cancel-reserved-before-backordered",
        "a cancellation takes reserved units while backordered ones are left",
        "domain/order_change.py",
        "        left = count - min(line.backordered, count)\n",
        "        left = count\n",
        (
            f"{AMENDMENTS}::test_a_cancellation_takes_the_backordered_units_before_the_reserved_ones",
        ),
    ),
    Mutant(
        "cancel-keeps-stock-reserved",
        "an edit or cancellation releases reservations but leaves the stock reserved",
        "domain/order_change.py",
        "        uow.inventory.save_levels(changed)\n",
        "",
        (f"{ORDER_CHANGES}::test_a_lower_quantity_releases_stock_and_a_zero_removes_the_line",),
    ),
    Mutant(
        "cancel-shipped-units",
        "a cancellation may take units that have shipped",
        "domain/amendments.py",
        "                if asked.quantity > line.unshipped:\n",
        "                if asked.quantity > line.live:\n",
        (
            f"{ORDER_CHANGES}::test_a_shipped_line_cannot_be_cancelled_or_edited_away_and_nothing_is_written",
        ),
    ),
    Mutant(
        "fill-newest-first",
        "the backorder fill serves the newest orders first",
        "domain/backorder_fill.py",
        "    for line in backorders:\n",
        "    for line in reversed(backorders):\n",
        (f"{FILL}::test_an_adjustment_up_fills_the_oldest_backorders_across_locations",),
    ),
    Mutant(
        "ensure-unlocked",
        "new stock rows inserted before their SKUs are locked (a lock upgrade deadlock)",
        "adapters/db/inventory_repository.py",
        '        self.conn.execute(_LOCK_SKUS, {"skus": names})\n',
        "",
        (f"{FILL}::test_fills_racing_each_other_and_a_shipment_neither_deadlock_nor_oversell",),
    ),
    Mutant(
        "sellable-not-floored",
        "a location's safety stock above its ATP takes units off other locations",
        "domain/sellable.py",
        "max(0, lv.atp - safety.get(lv.location, {}).get(channel, 0))",
        "lv.atp - safety.get(lv.location, {}).get(channel, 0)",
        (f"{SAFETY}::test_a_skus_own_figure_overrides_the_locations_and_orders_carry_the_figures",),
    ),
    Mutant(
        "channel-told-atp",
        "a channel is sent the ATP, not its sellable figure",
        "adapters/channels/canonical.py",
        "change.atp if available is None else available",
        "change.atp",
        (
            "tests/e2e/test_returns_and_stock_end_to_end.py::"
            "test_a_burst_of_stock_changes_reaches_a_paused_channel_as_a_handful_the_last_right",
        ),
    ),
    Mutant(
        "receipt-restocks-damaged",
        "damaged units are put back on hand",
        "domain/returning.py",
        "        if line.disposition == RESTOCK:\n",
        "        if True:\n",
        (f"{RETURNS}::test_a_damaged_return_changes_no_stock_and_fills_nothing",),
    ),
    Mutant(
        "return-beyond-returned",
        "a unit already returned can be returned again",
        "domain/returning.py",
        "if quantity > ln.shipped - ln.returned:",
        "if quantity > ln.shipped:",
        (
            f"{RETURNS}::test_returning_more_than_shipped_is_a_409_naming_the_line_and_writes_nothing",
        ),
    ),
    Mutant(
        "held-order-told-wms",
        "a held order's allocation events go out (the WMS hears of it before its release)",
        "domain/services.py",
        "    if order.on_hold or order.fulfilled_by_channel:\n",
        "    if order.fulfilled_by_channel:\n",
        (LIFECYCLE,),
    ),
    Mutant(
        "prepaid-void-unguarded",
        "an order paid up front may be voided below what its unshipped units still apply",
        "domain/payments.py",
        "        if payment.amount > free - needed:\n",
        "        if payment.amount > free:\n",
        (
            "tests/unit/test_payments.py"
            "::test_an_up_front_payment_cannot_be_voided_below_what_its_unshipped_units_still_need",
            LIFECYCLE,  # which found it first, but only on some of its random runs
        ),
    ),
    Mutant(
        "prune-replay-rows",
        "prune takes rows a running replay selected",
        "adapters/db/retention.py",
        "    AND (d.replay_id IS NULL OR EXISTS (\n",
        "    AND (TRUE OR EXISTS (\n",
        (
            f"{RETENTION}::test_prune_deletes_exactly_the_old_final_events_with_their_ledger_and_inbox_rows",
        ),
    ),
    Mutant(
        "dashboard-csrf-unchecked",
        "a dashboard POST acts without the session's CSRF token",
        "ops/dashboard/forms.py",
        'if request.method == "POST" and not found.csrf_matches(form(request).get("csrf")):',
        "if False:",
        (f"{DASHBOARD}::test_a_post_without_this_sessions_csrf_token_is_refused_and_does_nothing",),
    ),
    Mutant(
        "dashboard-actor",
        "the dashboard's actions audited as the admin token, not as the dashboard",
        "ops/dashboard/actions.py",
        'ACTOR = "dashboard"',
        'ACTOR = "admin token"',
        (f"{DASHBOARD}::test_pause_and_resume_ask_first_and_act_on_the_breaker_audited",),
    ),
    Mutant(
        "dashboard-late-deliveries-ignored",
        "an order with a delivery late for its SLO is not a delayed order",
        "ops/dashboard/delays.py",
        "    return sa.or_(unallocated, orders.c.id.in_(late_orders))"
        " if late_orders else unallocated",
        "    return unallocated",
        (
            f"{DASHBOARD_QUERIES}::test_delayed_orders_are_the_old_unallocated_one_and_the_one_with_a_late_delivery",
        ),
    ),
    Mutant(
        "dashboard-superseded-counted",
        "a superseded delivery counted as a journey of its SLO",
        "ops/dashboard/compliance.py",
        '            d.c.status != "superseded",\n',
        "            sa.true(),\n",
        (f"{DASHBOARD_QUERIES}::test_slo_compliance_counts_journeys_met_late_and_overdue",),
    ),
    Mutant(
        "relay-forwards-stored-traceparent",
        "the relay's messages carry the row's traceparent, not their producer span's",
        "outbox/tracing.py",
        "            messages.append(build(row, trace_context=carrier))\n",
        "            messages.append(build(row))\n",
        (
            ONE_TRACE,
            f"{TRACING}::test_a_producer_span_per_publish_parented_on_the_stored_traceparent_failures_in_error",
        ),
    ),
    Mutant(
        "consumer-span-new-trace",
        "the consumer span ignores the message's traceparent (a trace per delivery)",
        "actors/tracing.py",
        'parent_context(options.get("traceparent"), options.get("tracestate"))',
        "parent_context(None, None)",
        (ONE_TRACE,),
    ),
    Mutant(
        "door-stores-callers-traceparent",
        "the door stores the caller's traceparent, not the api's server span",
        "adapters/http/context.py",
        "    if span.is_valid:\n",
        "    if False:\n",
        (ONE_TRACE, f"{TRACING}::test_a_callers_traceparent_is_continued_not_replaced"),
    ),
    Mutant(
        "actor-log-without-correlation",
        "an actor's log lines do not name the message's correlation id",
        "actors/tracing.py",
        '        correlation.begin(options.get("correlation_id") or body.get("correlation_id"))\n',
        "        correlation.begin(None)\n",
        (f"{CORRELATION}::test_an_actors_log_lines_carry_the_correlation_id_of_the_request",),
    ),
    Mutant(
        "log-emails-kept",
        "e-mail addresses are not redacted from log lines",
        "ops/redaction.py",
        '    if "@" in text:\n',
        '    if "@@" in text:\n',
        (
            f"{LOG_LINES}::test_a_bearer_token_an_email_a_secret_and_a_card_number_never_reach_a_line",
        ),
    ),
)


def tree_files() -> list[str]:
    """The working tree as git sees it: tracked files and untracked ones not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (ROOT / f).is_file()})


def copy_tree(files: list[str], into: Path) -> None:
    for name in files:
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def check_applies(mutant: Mutant, text: str) -> None:
    found = text.count(mutant.old)
    if found != 1:
        raise SystemExit(
            f"mutant {mutant.id} no longer applies: its text is found {found} times in "
            f"{mutant.path} (exactly once wanted); rewrite it against the current code"
        )


def apply(mutant: Mutant, tree: Path) -> None:
    path = tree / mutant.path
    text = path.read_text()
    check_applies(mutant, text)
    path.write_text(text.replace(mutant.old, mutant.new))


def environment(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # The CI budget, without shrinking a failure (minutes; a failure is all we need).
    env["ORDERSYNC_HYPOTHESIS_PROFILE"] = "mutants"
    return env


def check_imports(tree: Path) -> None:
    """The copy's packages, not this tree's (the editable install points here)."""
    probe = "; ".join(f"import {p}; print({p}.__file__)" for p in PACKAGES)
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tree,
        env=environment(tree),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    stray = [f for f in out if not Path(f).resolve().is_relative_to(tree.resolve())]
    if stray or len(out) != len(PACKAGES):
        raise SystemExit(f"imports in the copy resolve outside it: {stray or out}")


def run_tests(
    tree: Path, tests: tuple[str, ...], *, every_failure: bool = False
) -> tuple[int, str, float]:
    """pytest in the copy; (exit status, the failing tests — the first unless
    `every_failure` — or the output's tail, seconds)."""
    started = time.monotonic()
    stop_early = [] if every_failure else ["-x"]
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=180"]
    done = subprocess.run(
        [*pytest, *stop_early, *tests],
        cwd=tree,
        env=environment(tree),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    output = done.stdout + done.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, re.MULTILINE)
    if failed:
        detail = ", ".join(failed) if every_failure else failed[0]
    else:
        detail = " | ".join(output.strip().splitlines()[-3:])
    return done.returncode, detail, time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="ID")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--keep", action="store_true", help="leave the copies in place")
    parser.add_argument(
        "--every-failure",
        action="store_true",
        help="run each mutant's tests to the end and name every one that fails",
    )
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    unknown = set(args.only) - {m.id for m in MUTANTS}
    if unknown:
        parser.error(f"no mutant {', '.join(sorted(unknown))}")
    if args.list:
        for m in chosen:
            print(f"{m.id:32} {m.what}")
        return 0
    for m in chosen:  # every mutant must still apply before anything runs
        check_applies(m, (ROOT / m.path).read_text())

    files = tree_files()
    work = Path(tempfile.mkdtemp(prefix="ordersync-mutants-"))
    try:
        baseline = work / "baseline"
        copy_tree(files, baseline)
        check_imports(baseline)
        guards = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        status, detail, seconds = run_tests(baseline, guards)
        print(
            f"baseline: {len(guards)} guard test ids pass unmutated "
            f"({seconds:.0f}s; imports resolve to the copy {baseline})"
            if status == 0
            else f"baseline FAILS (exit {status}): {detail} — the guards must pass unmutated "
            "(a renamed or moved test: update its node id in MUTANTS)"
        )
        if status != 0:
            return 2
        killed = 0
        for m in chosen:
            tree = work / m.id
            copy_tree(files, tree)
            apply(m, tree)
            check_imports(tree)
            status, detail, seconds = run_tests(tree, m.tests, every_failure=args.every_failure)
            if status == 1:
                killed += 1
                verdict = f"killed    {m.id:32} {m.what} — by {detail} ({seconds:.0f}s)"
            elif status == 0:
                verdict = f"SURVIVED  {m.id:32} {m.what} — its tests pass ({seconds:.0f}s)"
            else:
                verdict = f"ERROR     {m.id:32} {m.what} — pytest exit {status}: {detail}"
            print(verdict, flush=True)
            if not args.keep:
                shutil.rmtree(tree, ignore_errors=True)
        print(f"{len(chosen)} mutants, {killed} killed")
        return 0 if killed == len(chosen) else 1
    finally:
        if args.keep:
            print(f"copies kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
