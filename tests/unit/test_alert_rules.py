"""ops/alerts/*.yml against the code: every metric an alert reads is one ordersync exports,
every objective of domain/slo.py has its burn-rate rule with its own threshold and target,
and the technical and business alerts stay in groups of their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from domain.slo import OBJECTIVES
from ops.metrics.slo import buckets_for, metric_name
from tests.promql import PROMETHEUS_OWN, exported_series, used_series

ALERTS = Path(__file__).parents[2] / "ops" / "alerts"


def rules(file: str) -> list[dict[str, Any]]:
    document = yaml.safe_load((ALERTS / file).read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def all_rules() -> list[dict[str, Any]]:
    return [rule for path in sorted(ALERTS.glob("*.yml")) for rule in rules(path.name)]


def test_every_metric_an_alert_reads_is_one_ordersync_exports() -> None:
    exported = exported_series()
    for rule in all_rules():
        used = used_series(rule["expr"])
        assert used, f"{rule['alert']}: no metric found in its expression"
        unknown = used - exported - PROMETHEUS_OWN
        assert not unknown, f"{rule['alert']} reads {sorted(unknown)}, which nothing exports"


def test_the_expression_reader_finds_the_series_not_the_functions() -> None:
    expr = 'sum by (destination) (rate(ordersync_deliveries_total{outcome=~"a|b"}[5m])) > 0.1'
    assert used_series(expr) == {"ordersync_deliveries_total"}
    assert used_series('sum(up{job="x"}) == 0 or absent(up{job="x"})') == {"up"}


def test_every_objective_has_a_burn_rate_rule_with_its_threshold_and_target() -> None:
    by_objective = {
        rule["labels"]["objective"]: rule
        for rule in rules("technical.yml")
        if "objective" in rule.get("labels", {})
    }
    assert set(by_objective) == {o.name for o in OBJECTIVES}
    for objective in OBJECTIVES:
        expr = by_objective[objective.name]["expr"]
        name = metric_name(objective)
        # The threshold as prometheus-client writes the bucket's bound.
        within = f'{name}_bucket{{le="{float(objective.threshold_seconds)!r}"}}'
        assert expr.count(within) == 2, f"{objective.name}: no window reads {within}"
        assert expr.count(f"{name}_count") == 2
        assert expr.count(f"(1 - {objective.target})") == 2, f"{objective.name}: its target"


def test_the_objectives_bucket_bounds_include_their_thresholds() -> None:
    for objective in OBJECTIVES:
        assert objective.threshold_seconds in buckets_for(objective)
        assert f"{metric_name(objective)}_bucket" in exported_series()


def test_technical_and_business_alerts_live_in_groups_of_their_own() -> None:
    technical = rules("technical.yml")
    business_rules = rules("business.yml")
    assert {r["labels"]["area"] for r in technical} <= {"technical", "slo"}
    assert {r["labels"]["area"] for r in business_rules} == {"business"}
    names = [r["alert"] for r in all_rules()]
    assert len(names) == len(set(names)), "an alert name is used twice"
    wanted_business = {"OrdersStuckUnallocated", "InventoryShortfall", "PaymentMismatches"}
    assert wanted_business <= {r["alert"] for r in business_rules}
    wanted_technical = {"OutboxBacklogAging", "DeadLettersGrowing", "RelayDown", "ActorErrorRate"}
    assert wanted_technical <= {r["alert"] for r in technical}
    for rule in all_rules():
        assert rule["annotations"]["summary"], f"{rule['alert']} has no summary"
