"""One cluster, one identity; only ResourceNotFound means a cluster is gone; one cluster's AWS error
never stalls the others (issue 15, items 7, 5 and 3).

Through the real handlers on the local moto server and control plane: faults naming the cluster by
name (node health events) and by ARN only (as an alarm with an ARN dimension names it) are one node;
errors are injected per cluster in the control plane (`ControlPlane.fail_calls`).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from autoheal.adapters.control import LedgerPauses
from autoheal.adapters.dynamo import marshal
from autoheal.adapters.ledger import state_key
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.queue import FaultQueue
from autoheal.core.state import NodeStatus
from autoheal.faults import FaultSource, NodeFault
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes, slurm_training_cluster
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


def by_name(world: LocalWorld, cluster: ClusterFixture, instance_id: str) -> None:
    world.deliver([node_health_event(cluster.name, cluster.arn, instance_id, world.now())])


def by_arn(world: LocalWorld, cluster: ClusterFixture, instance_id: str) -> None:
    """A fault that names its cluster by ARN only (an alarm's ClusterArn dimension, say)."""
    fault = NodeFault(
        cluster_arn=cluster.arn,
        instance_id=instance_id,
        signal="XidError",
        source=FaultSource.CLOUDWATCH_ALARM,
        source_event_id=f"alarm-{uuid.uuid4().hex[:8]}",
        observed_at=world.now(),
    )
    FaultQueue(world.sqs, world.stack.queue_url).send([fault])


def rebooted(world: LocalWorld) -> list[str]:
    return [i for c in world.calls(REBOOT) for i in c.node_ids]


def states(world: LocalWorld) -> LedgerNodeStates:
    return LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)


def status(world: LocalWorld, cluster: str, node_key: str) -> NodeStatus | None:
    state = states(world).node_record(cluster, node_key).state
    return state.status if state else None


# --------------------------------------------------------------------------- one cluster, one identity


def test_the_same_node_named_by_name_and_by_arn_is_acted_on_once(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    by_name(world, cluster, node.instance_id)
    by_arn(world, cluster, node.instance_id)

    report = world.remediate()

    assert rebooted(world) == [node.instance_id]
    assert report.metrics.total("RebootRequests") == 1
    assert {r.cluster for r in report.nodes} == {cluster.name}
    assert status(world, cluster.name, node.logical_id) is NodeStatus.IN_PROGRESS
    assert status(world, cluster.arn, node.logical_id) is None  # nothing under the ARN

    world.advance(minutes(1).total_seconds())
    by_arn(world, cluster, node.instance_id)  # the same fault again, by ARN, while it reboots
    world.remediate()

    assert rebooted(world) == [node.instance_id]  # the echo is recognised: one node, one action


def test_a_pause_stored_under_the_arn_holds_faults_that_name_the_cluster_by_name(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    LedgerPauses(world.aws.client("dynamodb"), world.stack.table_name).pause(cluster.arn, "oncall", "old CLI")
    node = cluster.in_group(GPU_GROUP)[0]
    by_name(world, cluster, node.instance_id)
    by_arn(world, cluster, cluster.in_group(GPU_GROUP)[1].instance_id)

    report = world.remediate()

    assert world.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="paused") == 2
    assert report.batch_item_failures == []  # re-queued with their delay, not dropped


def test_a_node_state_written_under_the_arn_still_counts(world: LocalWorld, cluster: ClusterFixture) -> None:
    """A record an older version wrote under the ARN: its ladder step and seen events carry over."""
    node = cluster.in_group(GPU_GROUP)[0]
    by_name(world, cluster, node.instance_id)
    world.remediate()
    ledger = states(world)
    current = ledger.node_record(cluster.name, node.logical_id).state
    assert current is not None
    assert ledger.put_if_unchanged(replace(current, cluster=cluster.arn, version=1), 0, world.now())
    world.aws.client("dynamodb").delete_item(  # as if only the ARN-keyed record had ever been written
        TableName=world.stack.table_name, Key=marshal(state_key((cluster.name, node.logical_id)))
    )
    assert status(world, cluster.name, node.logical_id) is None
    world.control.clear_calls()

    world.advance(minutes(20).total_seconds())  # the reboot finished; the fault comes back
    by_name(world, cluster, node.instance_id)
    world.remediate()

    assert [c.action for c in world.calls()] == [REPLACE]  # the ladder climbs: the reboot was counted
    assert status(world, cluster.name, node.logical_id) is NodeStatus.IN_PROGRESS  # moved to the name


# -------------------------------------------------------------- only ResourceNotFound means gone


def test_a_validation_exception_never_drops_faults_as_cluster_not_found(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    world.control.fail_calls(cluster.name, "ValidationException", actions=("ListClusterNodes",))
    node = cluster.in_group(GPU_GROUP)[0]
    by_name(world, cluster, node.instance_id)

    report = world.remediate()

    assert report.metrics.total("FaultsIgnored", Reason="cluster_not_found") == 0
    assert report.metrics.total("FaultsHeld", Reason="cluster_unreachable") == 1
    assert report.metrics.total("ClusterErrors", ErrorCode="ValidationException") == 1


def test_a_validation_exception_never_closes_open_nodes(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    by_name(world, cluster, node.instance_id)
    world.remediate()
    world.control.fail_calls(cluster.name, "ValidationException", actions=("ListClusterNodes",))
    world.advance(minutes(10).total_seconds())

    report = world.reconcile()

    assert report.summary()["verdicts"] == {}
    assert report.metrics.total("NodesClosed") == 0
    assert report.metrics.total("ClusterErrors", ErrorCode="ValidationException") == 1
    assert status(world, cluster.name, node.logical_id) is NodeStatus.IN_PROGRESS

    world.control.stop_failing_calls(cluster.name)
    assert world.reconcile().summary()["verdicts"] == {"healed": 1}


# ------------------------------------------------------- one cluster's error never stalls the others


def test_access_denied_on_one_cluster_holds_its_faults_and_the_other_cluster_proceeds(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    denied = slurm_training_cluster(world.aws.client("sagemaker"), world.control, name="denied", gpus=4)
    world.control.fail_calls(denied.name, "AccessDeniedException")
    healthy = cluster.instance_ids(GPU_GROUP)[:3]
    for i in healthy:
        by_name(world, cluster, i)
    for i in denied.instance_ids(GPU_GROUP)[:2]:
        by_name(world, denied, i)
    by_arn(world, denied, denied.instance_ids(GPU_GROUP)[2])
    topic = world.topic_messages

    report = world.remediate()

    assert sorted(rebooted(world)) == sorted(healthy)
    assert report.metrics.total("FaultsHeld", Reason="cluster_unreachable") == 3
    assert report.metrics.total("ClusterErrors", ErrorCode="AccessDeniedException") == 1
    assert report.batch_item_failures == []  # held: re-queued with a delay, never round to the DLQ
    (message,) = topic()
    assert denied.name in message["summary"] and "AccessDeniedException" in message["nodes"][0]["reason"]

    by_name(world, denied, denied.instance_ids(GPU_GROUP)[3])  # still denied: held, not told again
    again = world.remediate()
    assert again.metrics.total("FaultsHeld", Reason="cluster_unreachable") == 1
    assert topic() == []

    world.control.stop_failing_calls(denied.name)
    by_name(world, denied, denied.instance_ids(GPU_GROUP)[3])
    world.remediate()
    assert denied.instance_ids(GPU_GROUP)[3] in rebooted(world)


def test_reconcile_goes_on_with_the_other_clusters_when_one_is_denied(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    denied = slurm_training_cluster(world.aws.client("sagemaker"), world.control, name="denied", gpus=4)
    by_name(world, cluster, cluster.instance_ids(GPU_GROUP)[0])
    by_name(world, denied, denied.instance_ids(GPU_GROUP)[0])
    world.remediate()
    assert len(rebooted(world)) == 2
    world.control.fail_calls(denied.name, "AccessDeniedException", actions=("ListClusterNodes",))
    world.advance(minutes(10).total_seconds())

    report = world.reconcile()

    assert report.summary()["verdicts"] == {"healed": 1}
    assert [r.verdict for r in report.rows if r.cluster == denied.name] == ["cluster_unreachable"]
    assert report.metrics.total("ClusterErrors", ErrorCode="AccessDeniedException") == 1


def test_a_fault_naming_no_cluster_waits_while_a_cluster_cannot_be_listed(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    """An AWS Health event names the instance only: the node may be in the cluster we cannot list."""
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault = NodeFault(
        instance_id=node,
        signal="AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        source=FaultSource.AWS_HEALTH,
        source_event_id="health-1",
        observed_at=world.now(),
    )
    FaultQueue(world.sqs, world.stack.queue_url).send([fault])
    world.control.fail_calls(cluster.name, "AccessDeniedException", actions=("ListClusterNodes",))

    report = world.remediate()

    assert report.metrics.total("FaultsIgnored", Reason="node_not_in_any_cluster") == 0
    assert report.metrics.total("FaultsHeld", Reason="cluster_unreachable") == 1
