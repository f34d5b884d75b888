"""Every node status the ListClusterNodes model knows, through the real handlers on the local stack:
`NotFound` is a node that left the cluster (gone: closed, never acted on); `DetachInProgress` and
`AttachInProgress` are HyperPod busy with the node (held, never healed, timed out like `Pending`)."""

from __future__ import annotations

import pytest

from autoheal.core.state import LastOutcome, NodeStatus
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import fault, minutes, state
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
BUSY = ["DetachInProgress", "AttachInProgress"]


def rebooted(world: LocalWorld, cluster: ClusterFixture) -> tuple[str, str]:
    """The first GPU node, rebooted on a fault (the reboot itself is over 3 minutes later)."""
    node = cluster.in_group(GPU_GROUP)[0]
    fault(world, cluster, node.instance_id)
    world.remediate()
    assert len(world.calls(REBOOT)) == 1
    world.advance(minutes(3).total_seconds())
    return node.instance_id, node.logical_id


def test_a_node_listed_as_not_found_after_its_action_is_closed_as_gone(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    instance_id, logical_id = rebooted(world, cluster)
    world.control.set_status(instance_id, "NotFound")

    report = world.reconcile()

    assert report.summary()["verdicts"] == {"gone": 1}
    record = state(world, cluster, logical_id)
    assert (record.state.status, record.state.last_outcome) == (NodeStatus.CLOSED, LastOutcome.GONE)
    assert report.metrics.total("NodesClosed", Reason="gone") == 1
    assert report.metrics.total("ActionResults", Action="reboot", Result="gone") == 1
    assert world.reconcile().summary()["open_nodes"] == 0


def test_a_fault_on_a_node_listed_as_not_found_is_ignored_like_a_missing_node(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.set_status(node.instance_id, "NotFound")
    fault(world, cluster, node.instance_id)

    report = world.remediate()

    assert world.calls() == []
    assert report.metrics.total("FaultsIgnored", Reason="node_not_in_cluster") == 1


def test_a_retry_pending_on_a_node_that_left_the_cluster_is_closed_not_redriven(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.set_busy(node.instance_id, 60)
    fault(world, cluster, node.instance_id)
    world.remediate()  # InstanceIdInUse: a transient retry is scheduled
    assert state(world, cluster, node.logical_id).state.status is NodeStatus.RETRY_PENDING
    assert world.drain() != []  # the delayed retry message is lost
    world.control.set_status(node.instance_id, "NotFound")
    world.advance(minutes(11).total_seconds())  # overdue: it would be re-driven

    report = world.reconcile()

    assert report.summary()["verdicts"] == {"gone": 1}
    assert report.metrics.total("RetriesRedriven") == 0
    assert state(world, cluster, node.logical_id).state.status is NodeStatus.CLOSED
    assert world.drain() == []


@pytest.mark.parametrize("status", BUSY)
def test_a_fault_on_a_node_hyperpod_is_busy_with_is_held_not_acted_on(
    world: LocalWorld, cluster: ClusterFixture, status: str
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.set_status(node.instance_id, status)
    fault(world, cluster, node.instance_id)

    report = world.remediate()

    assert world.calls() == []
    assert report.metrics.total("FaultsHeld", Reason=f"node_{status}") == 1
    held = state(world, cluster, node.logical_id).state
    assert (held.status, held.hold) == (NodeStatus.HELD, f"node_{status}")


@pytest.mark.parametrize("status", BUSY)
def test_a_node_busy_after_its_action_is_not_healed_and_times_out_like_pending(
    world: LocalWorld, cluster: ClusterFixture, status: str
) -> None:
    instance_id, logical_id = rebooted(world, cluster)
    world.control.set_status(instance_id, status)
    world.advance(minutes(10).total_seconds())  # well past the healthy delay

    assert world.reconcile().summary()["verdicts"] == {"wait": 1}  # not healed: it is not Running
    assert state(world, cluster, logical_id).state.status is NodeStatus.IN_PROGRESS

    world.advance(minutes(20).total_seconds())  # past the reboot step's 30-minute timeout
    assert world.reconcile().summary()["verdicts"] == {"timed_out": 1}
