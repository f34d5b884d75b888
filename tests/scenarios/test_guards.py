"""Safety guards end to end, with the template's default guard settings: a mass failure trips the
breaker instead of replacing a cluster; a flapping node is rate-limited and then handed to a human;
stale events, controller nodes, HyperPod's own repairs and opted-out clusters cause no action; a full
storm in dry-run calls nothing and records everything."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from autoheal.adapters.control import LedgerBreakers
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import LastOutcome
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.guards import PRODUCTION_GUARDS
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"
GPU = "gpu"


@pytest.fixture
def guarded(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv, env=PRODUCTION_GUARDS)


def make_cluster(world: LocalWorld, name: str = "train", gpus: int = 100, **kwargs: Any) -> ClusterFixture:
    return create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        name,
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name="login", instance_type="ml.m5.xlarge", count=1, node_type="Login"),
            GroupSpec(name=GPU, instance_type="ml.p5.48xlarge", count=gpus, node_type="Compute"),
        ],
        **kwargs,
    )


def events(world: LocalWorld, cluster: ClusterFixture, ids: list[str], **kw: Any) -> list[dict[str, Any]]:
    return [node_health_event(cluster.name, cluster.arn, i, world.now(), **kw) for i in ids]


def nodes_called(world: LocalWorld, action: str) -> int:
    return sum(c.size for c in world.calls(action))


def test_40_of_100_failing_at_once_trips_the_breaker_and_replaces_nothing(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded)
    failing = cluster.instance_ids(GPU)[:40]
    topic = guarded.topic_messages
    guarded.deliver(events(guarded, cluster, failing))

    report = guarded.remediate()

    assert guarded.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="breaker_open") == 40
    assert report.metrics.total("BreakerTrips") == 2  # the group and the cluster
    attrs = guarded.sqs.get_queue_attributes(QueueUrl=guarded.stack.queue_url, AttributeNames=["All"])
    assert int(attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"]) == 40  # held, not dropped
    reasons = [n["reason"] for m in topic() for n in m["nodes"]]
    assert any(r.startswith("circuit breaker open: 40 nodes") for r in reasons)

    # an operator looks, decides it is real, and resumes: the faults are acted on
    LedgerBreakers(guarded.aws.client("dynamodb"), guarded.stack.table_name).override_breakers(
        cluster.name, guarded.now() + timedelta(minutes=30)
    )
    guarded.advance(60)
    guarded.deliver(events(guarded, cluster, failing))
    guarded.remediate()
    assert sorted(c.size for c in guarded.calls(REBOOT)) == [15, 25]


def test_faults_trickling_in_are_acted_on_until_the_limit_then_held(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded)
    failing = cluster.instance_ids(GPU)[:40]
    for minute in range(4):  # 10 new failures a minute
        guarded.deliver(events(guarded, cluster, failing[minute * 10 : minute * 10 + 10]))
        guarded.remediate()
        guarded.advance(60)
    assert nodes_called(guarded, REBOOT) == 20  # 20% of the group, then the breaker


def test_a_node_faulting_every_2_minutes_for_an_hour_is_rate_limited_then_handed_to_a_human(
    guarded: LocalWorld,
) -> None:
    cluster = make_cluster(guarded, gpus=10)
    slot = cluster.in_group(GPU)[0].logical_id
    topic = guarded.topic_messages
    for _ in range(31):
        current = guarded.control.node(slot).instance_id
        guarded.deliver(events(guarded, cluster, [current]))
        guarded.remediate()
        guarded.advance(120)

    assert nodes_called(guarded, REBOOT) == 1
    assert nodes_called(guarded, REPLACE) == 1  # only after the 30-minute node cool-down
    replace_at = guarded.calls(REPLACE)[0].at - guarded.calls(REBOOT)[0].at
    assert replace_at >= timedelta(minutes=30)
    held = sum(r.metrics.total("FaultsHeld", Reason="node_cooldown") for r in guarded.reports)
    assert held > 0
    humans = [n for m in topic() for n in m["nodes"]]
    assert [n["reason"] for n in humans] == ["ladder_exhausted"]  # told once


def test_a_stale_event_causes_no_action(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded, gpus=4)
    node = cluster.instance_ids(GPU)[0]
    old = node_health_event(cluster.name, cluster.arn, node, guarded.now() - timedelta(hours=3))
    guarded.deliver([old])
    report = guarded.remediate()
    assert guarded.calls() == []
    assert report.metrics.total("FaultsIgnored", Reason="stale_event") == 1


def test_a_controller_node_is_rebooted_but_never_replaced(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded, gpus=4)
    controller = cluster.instance_ids("controller")[0]
    topic = guarded.topic_messages
    guarded.deliver(events(guarded, cluster, [controller]))
    guarded.remediate()
    guarded.advance(minutes(40).total_seconds())
    guarded.deliver(events(guarded, cluster, [controller]))  # it faults again: the ladder says replace
    guarded.remediate()

    assert nodes_called(guarded, REBOOT) == 1
    assert guarded.calls(REPLACE) == []
    assert [n["reason"] for m in topic() for n in m["nodes"]] == ["protected_node_type:Controller"]


def test_hyperpod_already_repairing_is_deferred_to(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded, gpus=4, node_recovery="Automatic")
    node = cluster.instance_ids(GPU)[0]
    guarded.deliver(events(guarded, cluster, [node], repair_action="Replace"))
    report = guarded.remediate()
    assert guarded.calls() == []
    assert report.metrics.total("FaultsIgnored", Reason="deferred_to_hyperpod") == 1

    guarded.deliver(events(guarded, cluster, [node], repair_action="None"))  # HyperPod will not act
    guarded.remediate()
    assert nodes_called(guarded, REBOOT) == 1


def test_an_opted_out_cluster_is_left_alone(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded, gpus=4, tags={"hyperpod-autoheal:opt-out": "true"})
    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:1]))
    report = guarded.remediate()
    assert guarded.calls() == []
    assert report.metrics.total("FaultsIgnored", Reason="cluster_opted_out") == 1


def test_a_full_storm_in_dry_run_calls_nothing_and_records_everything(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world = LocalWorld(aws, monkeypatch.setenv, env={"AUTOHEAL_DRY_RUN": "true"})
    cluster = make_cluster(world)
    failing = cluster.instance_ids(GPU)[:60]
    world.deliver(events(world, cluster, failing))

    report = world.remediate()

    assert world.calls() == []  # zero mutating calls
    assert report.metrics.total("DryRunActions", Action="reboot") == 60
    ledger = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    for logical in cluster.logical_ids(GPU)[:60]:
        record = ledger.node_record(cluster.name, logical)
        assert record.state is not None and record.state.last_outcome is LastOutcome.DRY_RUN
        assert [a.outcome for a in record.attempts] == ["dry_run:reboot:first_fault"]


def test_nothing_is_started_while_the_cluster_is_updating(guarded: LocalWorld) -> None:
    cluster = make_cluster(guarded, gpus=4)
    guarded.control.set_cluster_status(cluster.name, "Updating")
    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:1]))
    report = guarded.remediate()
    assert guarded.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="cluster_Updating") == 1


def test_a_denied_group_is_never_acted_on(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world = LocalWorld(aws, monkeypatch.setenv, env={**PRODUCTION_GUARDS, "AUTOHEAL_DENIED_GROUPS": GPU})
    cluster = make_cluster(world, gpus=4)
    world.deliver(events(world, cluster, cluster.instance_ids(GPU)[:1] + cluster.instance_ids("login")))
    report = world.remediate()
    assert report.metrics.total("FaultsIgnored", Reason="group_excluded") == 1
    assert [list(c.node_ids) for c in world.calls(REBOOT)] == [cluster.instance_ids("login")]


def test_the_node_action_budget_hands_a_node_to_a_human(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    env = {"AUTOHEAL_NODE_ACTION_BUDGET": "2", "AUTOHEAL_ESCALATION_WINDOW_MINUTES": "10"}
    world = LocalWorld(aws, monkeypatch.setenv, env=env)
    cluster = make_cluster(world, gpus=4)
    slot = cluster.in_group(GPU)[0].logical_id
    for _ in range(3):  # a fault every 20 minutes: each starts the ladder again (window 10 min)
        world.deliver(events(world, cluster, [world.control.node(slot).instance_id]))
        report = world.remediate()
        world.advance(minutes(20).total_seconds())
    assert nodes_called(world, REBOOT) == 2
    assert report.metrics.total("NeedsHuman") == 1
