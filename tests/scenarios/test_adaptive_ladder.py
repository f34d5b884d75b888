"""Issue 17 §2, the adaptive ladder, through the real handlers on the local stack: reconcile counts
each action's outcome in the signal's aggregate, remediate reads it (adaptive ladder on) and a signal
whose reboots never work starts at replace, the rate and sample count named in the attempt's rule."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from autoheal.adapters.ladder_stats import LedgerLadderStats
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.world import LocalWorld
from tests.scenarios.conftest import GPU_GROUP
from tests.scenarios.test_first_rung import REBOOT, REPLACE, attempt_rules, called, fault_xid, setup

pytestmark = pytest.mark.scenario

ON = {"AUTOHEAL_ADAPTIVE_LADDER": "true", "AUTOHEAL_ADAPTIVE_MIN_SAMPLES": "3"}


def stats(world: LocalWorld) -> LedgerLadderStats:
    return LedgerLadderStats(world.aws.client("dynamodb"), world.stack.table_name, timedelta(days=30))


def reboot_fails(world: LocalWorld, cluster: ClusterFixture, node: str) -> None:
    """Xid 48 (the table starts it on a reboot): rebooted, then the node fails; reconcile counts it."""
    fault_xid(world, cluster, node, 48)
    world.remediate()
    world.advance(60)
    world.control.set_status(node, "Failure")
    world.reconcile()


def replay(aws, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> tuple[LocalWorld, ClusterFixture]:  # type: ignore[no-untyped-def]
    """Three nodes whose reboot on Xid 48 never fixed them, through the real path."""
    world, cluster = setup(aws, monkeypatch, env)
    for node in cluster.instance_ids(GPU_GROUP)[:3]:
        reboot_fails(world, cluster, node)
    return world, cluster


def test_reboots_that_never_work_make_the_next_fault_start_at_replace(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = replay(aws, monkeypatch, ON)
    last = world.reconcile_reports[-1].metrics.gauges
    assert [(dict(d)["Action"], v) for (_, d), v in last.items()] == [("reboot", 0.0)]
    counters = stats(world).counters(["XidError:48"])["XidError:48"]
    assert sum(v for k, v in counters.items() if k.endswith("#reboot#n")) == 3
    assert sum(v for k, v in counters.items() if k.endswith("#reboot#ok")) == 0
    node = cluster.instance_ids(GPU_GROUP)[5]
    before = len(world.calls(REBOOT))
    fault_xid(world, cluster, node, 48)
    report = world.remediate()
    assert called(world, REPLACE)[-1] == node
    assert len(world.calls(REBOOT)) == before  # no reboot for it
    [row] = [r for r in report.nodes if r.instance_id == node]
    assert (row.decision, row.action) == ("act", "replace")
    [rule] = attempt_rules(world, cluster, node)
    assert rule is not None and rule.startswith("adaptive: XidError:48 reboot success 0/3 = 0% < 20%")
    assert "over 30 days (≥ 3 samples) → replace" in rule


def test_the_same_history_with_the_adaptive_ladder_off_keeps_the_table(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = replay(aws, monkeypatch, {"AUTOHEAL_ADAPTIVE_MIN_SAMPLES": "3"})
    node = cluster.instance_ids(GPU_GROUP)[5]
    fault_xid(world, cluster, node, 48)
    world.remediate()
    assert called(world, REBOOT)[-1] == node
    [rule] = attempt_rules(world, cluster, node)
    assert rule is not None and rule.startswith("table: XidError:48 → reboot")


def test_aggregates_seeded_through_the_adapter_with_the_default_thresholds(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """20 reboots, 3 successes (15 % < 20 %): replace; a heal that recurs moves one success to a failure."""
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_ADAPTIVE_LADDER": "true"})
    day = (world.now() - timedelta(days=1)).date()
    stats(world).record("XidError:48", "reboot", day, 20, 3)
    node = cluster.instance_ids(GPU_GROUP)[6]
    fault_xid(world, cluster, node, 48)
    world.remediate()
    assert called(world, REPLACE) == [node]
    [rule] = attempt_rules(world, cluster, node)
    assert rule is not None and "reboot success 3/20 = 15% < 20%" in rule and "≥ 20 samples" in rule


def test_a_fault_recurring_after_a_heal_turns_its_success_into_a_failure(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, ON)
    node = cluster.instance_ids(GPU_GROUP)[7]
    fault_xid(world, cluster, node, 48)
    world.remediate()  # rebooted
    world.advance(timedelta(minutes=20).total_seconds())
    report = world.reconcile()  # Running past the healthy delay: healed, a provisional success
    rates = {dict(dims)["Signal"]: v for (m, dims), v in report.metrics.gauges.items()}
    assert rates == {"XidError:48": 100.0}  # LadderSuccessRate, Signal XidError:48, Action reboot
    counters = stats(world).counters(["XidError:48"])["XidError:48"]
    assert [v for k, v in sorted(counters.items())] == [1, 1]  # n, ok
    world.advance(timedelta(minutes=10).total_seconds())
    fault_xid(world, cluster, node, 48)  # back within the escalation window
    report = world.remediate()
    assert [r.reason for r in report.nodes if r.instance_id == node] == ["fault_recurred"]
    counters = stats(world).counters(["XidError:48"])["XidError:48"]
    assert sum(v for k, v in counters.items() if k.endswith("#reboot#n")) == 1
    assert sum(v for k, v in counters.items() if k.endswith("#reboot#ok")) == 0
