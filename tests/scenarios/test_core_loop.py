"""The core loop end to end: health events -> intake -> queue -> remediate -> Batch* calls -> ledger.

Through the real handlers, real boto3 clients, the local moto server and the local HyperPod control
plane; time is the control plane's clock and moves only when a test advances it.
"""

from __future__ import annotations

import json

import pytest

from autoheal.adapters.attempts import LedgerAttempts
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


def storm(world: LocalWorld, cluster: ClusterFixture, instance_ids: list[str]) -> list[dict[str, object]]:
    return [node_health_event(cluster.name, cluster.arn, i, world.now()) for i in instance_ids]


def sizes(world: LocalWorld, action: str) -> list[int]:
    return sorted((len(c.node_ids) + len(c.node_logical_ids) for c in world.calls(action)), reverse=True)


def attempts(world: LocalWorld) -> LedgerAttempts:
    return LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name)


def test_a_storm_of_60_faults_makes_exactly_three_reboot_calls(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:60]
    world.deliver(storm(world, cluster, nodes))

    report = world.remediate()

    assert sizes(world, REBOOT) == [25, 25, 10]
    assert world.calls(REPLACE) == []
    rebooted = sorted(i for c in world.calls(REBOOT) for i in c.node_ids)
    assert rebooted == sorted(nodes)
    assert report.metrics.total("RebootRequests") == 60
    assert report.batch_item_failures == []
    assert all(world.control.node(i).status == "Pending" for i in nodes)  # rebooting


def test_faults_that_recur_after_the_reboot_are_replaced(world: LocalWorld, cluster: ClusterFixture) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:60]
    world.deliver(storm(world, cluster, nodes))
    world.remediate()
    world.advance(minutes(20).total_seconds())  # reboots finish; the faults come back
    assert all(world.control.node(i).status == "Running" for i in nodes)

    world.deliver(storm(world, cluster, nodes))
    report = world.remediate()

    assert sizes(world, REPLACE) == [25, 25, 10]
    assert report.metrics.total("Escalations") == 60
    world.advance(minutes(15).total_seconds())  # replacements finish
    first = world.control.node(cluster.in_group(GPU_GROUP)[0].logical_id)
    assert (first.status, first.instance_id != nodes[0]) == (
        "Running",
        True,
    )  # new instance, same logical node
    history = attempts(world).attempts(cluster.name, cluster.in_group(GPU_GROUP)[0].logical_id)
    assert [a.action.value for a in history] == ["reboot", "replace"]


def test_a_partial_failure_retries_only_the_failed_entries(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:30]
    flaky = nodes[3:5]
    for node in flaky:
        world.control.inject_entry_error(node, "InternalServerError")
    world.deliver(storm(world, cluster, nodes))

    first = world.remediate()
    assert sizes(world, REBOOT) == [25, 5]
    assert first.metrics.total("FailedEntries") == 2
    assert first.metrics.total("RetriesScheduled") == 2

    world.control.clear_calls()
    world.remediate()  # the re-queued faults, delivered again

    (retry,) = world.calls(REBOOT)
    assert sorted(retry.node_ids) == sorted(flaky)


def test_a_busy_node_is_retried_and_then_done(world: LocalWorld, cluster: ClusterFixture) -> None:
    busy = cluster.instance_ids(GPU_GROUP)[0]
    world.control.set_busy(busy, 60)
    world.deliver(storm(world, cluster, [busy]))

    first = world.remediate()
    assert first.metrics.total("FailedEntries", ErrorCode="InstanceIdInUse") == 1

    world.advance(61)
    second = world.remediate()
    assert second.metrics.total("RebootRequests") == 1
    assert [list(c.node_ids) for c in world.calls(REBOOT)] == [[busy], [busy]]


def test_a_duplicated_event_acts_once(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    event = node_health_event(cluster.name, cluster.arn, node, world.now())
    world.deliver([event, event])  # twice in one batch
    world.remediate()
    world.advance(60)
    world.deliver([event])  # and once more later
    later = world.remediate()

    assert sizes(world, REBOOT) == [1]
    assert later.metrics.total("FaultsIgnored", Reason="duplicate_event") == 1


def test_past_the_last_step_a_human_is_told_once(world: LocalWorld, cluster: ClusterFixture) -> None:
    logical = cluster.in_group(GPU_GROUP)[0].logical_id
    for _ in range(4):  # reboot, replace, then the ladder is exhausted, then the node waits
        current = world.control.node(logical).instance_id
        world.deliver(storm(world, cluster, [current]))
        world.remediate()
        world.advance(minutes(20).total_seconds())
    assert len(world.calls(REBOOT)) == 1
    assert len(world.calls(REPLACE)) == 1  # ladder: reboot -> replace -> (ladder exhausted) human

    (message,) = world.topic_messages()
    assert message["nodes"][0]["node_key"] == logical
    assert message["nodes"][0]["reason"] == "ladder_exhausted"


def test_a_malformed_queue_message_is_dropped_and_counted(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver(storm(world, cluster, [node]))
    world.sqs.send_message(QueueUrl=world.stack.queue_url, MessageBody=json.dumps({"not": "a fault"}))

    report = world.remediate()

    assert report.metrics.total("EventsRejected", Reason="malformed_message") == 1
    assert report.batch_item_failures == []
    assert sizes(world, REBOOT) == [1]
    assert world.drain() == []  # acknowledged, not redelivered


def test_a_node_that_no_longer_exists_is_closed(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.control.inject_entry_error(node, "InstanceIdNotFound")
    world.deliver(storm(world, cluster, [node]))

    report = world.remediate()

    assert report.metrics.total("NodesClosed", Reason="gone") == 1
    assert world.drain() == []


def test_a_healthy_transition_is_acknowledged_not_acted_on(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    (summary,) = world.deliver(
        [node_health_event(cluster.name, cluster.arn, node, world.now(), status="Healthy")]
    )
    assert summary["ignored"] == {"healthy_transition": 1}
    assert world.drain() == []
    assert world.calls() == []


def test_a_paused_cluster_holds_its_faults_and_calls_nothing(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    from autoheal.adapters.control import LedgerPauses

    pauses = LedgerPauses(world.aws.client("dynamodb"), world.stack.table_name)
    pauses.pause(cluster.name, by="oncall", reason="bad AMI rollout")
    nodes = cluster.instance_ids(GPU_GROUP)[:3]
    world.deliver(storm(world, cluster, nodes))

    report = world.remediate()

    assert world.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="paused") == 3
    attrs = world.sqs.get_queue_attributes(QueueUrl=world.stack.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    assert int(attrs["ApproximateNumberOfMessagesDelayed"]) == 3  # held in the queue, not dropped

    assert pauses.resume(cluster.name) is True
    assert pauses.paused([cluster.name]) == {}
