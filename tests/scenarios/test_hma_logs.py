"""Slurm's fault path end to end: HMA log records -> CloudWatch Logs delivery -> intake -> queue ->
remediate -> Batch* calls, on the local control plane; and the same fault arriving by EventBridge
and by HMA log is remediated once.

"Equivalent" is decided the way every duplicate is: per node, by time. Faults of one node in one
batch collapse into one decision; a fault observed before the node's last action (or within the
recurrence grace after it) is not a recurrence; a node being acted on is claimed. Signals are not
compared: the two paths name the same fault differently (`NvidiaErrorTerminate` vs `XidError:48`).
The Xid of these records is 48 (double-bit ECC), which the signal table starts on a reboot; Xids that
start elsewhere are in tests/scenarios/test_first_rung.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from autoheal.adapters.attempts import LedgerAttempts
from autoheal.faults import FaultSource, NodeFault
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.hma_logs import dcgm_record, node_delivery, npd_event_record
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


def hma(
    world: LocalWorld, cluster: ClusterFixture, node: str, *ages: float, xid: int = 48
) -> dict[str, object]:
    """A delivery of `node`'s DCGM Xid records written `ages` seconds ago (default: now)."""
    now = world.now()
    return node_delivery(
        cluster.name,
        cluster.arn,
        GPU_GROUP,
        node,
        [(now - timedelta(seconds=age), dcgm_record(xid)) for age in (ages or (0,))],
    )


def eventbridge(world: LocalWorld, cluster: ClusterFixture, node: str, age: float = 0) -> dict[str, object]:
    return node_health_event(cluster.name, cluster.arn, node, world.now() - timedelta(seconds=age))


def rebooted(world: LocalWorld) -> list[str]:
    return [i for c in world.calls(REBOOT) for i in c.node_ids]


def reasons(world: LocalWorld) -> list[str]:
    return [row.reason for row in world.reports[-1].nodes]


def test_a_subscription_delivery_goes_through_intake_and_the_queue_to_a_reboot_call(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[7]
    [summary] = world.deliver([hma(world, cluster, node, 2, 1, 0)])
    assert (summary["received"], summary["enqueued"], summary["ignored"]) == (1, 1, {"duplicate_in_event": 2})

    records = world.drain()
    [fault] = [NodeFault.model_validate_json(r["body"]) for r in records]
    assert (fault.source, fault.cluster_name, fault.instance_id, fault.instance_group, fault.signal) == (
        FaultSource.HMA_LOG,
        cluster.name,
        node,
        GPU_GROUP,
        "XidError:48",
    )
    report = world.remediate(records)

    assert rebooted(world) == [node]
    assert world.calls(REPLACE) == []
    assert report.batch_item_failures == []
    assert world.control.node(node).status == "Pending"
    [attempt] = LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name).attempts(
        cluster.name, world.control.node(node).logical_id
    )
    assert (attempt.action.value, attempt.instance_id) == ("reboot", node)


def test_a_storm_of_60_node_streams_makes_three_reboot_calls(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:60]
    world.deliver([hma(world, cluster, n) for n in nodes])
    world.remediate()
    assert sorted(len(c.node_ids) for c in world.calls(REBOOT)) == [10, 25, 25]
    assert sorted(rebooted(world)) == sorted(nodes)


def test_the_same_fault_by_eventbridge_and_by_hma_log_in_one_batch_is_rebooted_once(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver([eventbridge(world, cluster, node), hma(world, cluster, node, 3)])
    world.remediate()
    assert rebooted(world) == [node]
    assert len(world.reports[-1].nodes) == 1  # one node, one decision


def test_eventbridge_first_then_the_slower_hma_delivery_is_not_acted_on_again(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[1]
    world.deliver([eventbridge(world, cluster, node)])
    world.remediate()
    world.advance(90)  # the log subscription delivers later; HMA wrote the record before the reboot
    world.deliver([hma(world, cluster, node, 95)])
    world.remediate()
    assert rebooted(world) == [node]
    assert reasons(world) == ["predates_last_action"]


def test_hma_first_then_hyperpods_later_eventbridge_event_is_an_echo(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[2]
    world.deliver([hma(world, cluster, node)])
    world.remediate()
    world.advance(120)  # HyperPod's own event for the same fault, emitted after our reboot started
    world.deliver([eventbridge(world, cluster, node, age=60)])
    world.remediate()
    assert rebooted(world) == [node] and world.calls(REPLACE) == []
    assert reasons(world) == ["echo_of_last_action"]


def test_a_redelivered_hma_payload_is_a_duplicate(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.instance_ids(GPU_GROUP)[3]
    delivery = hma(world, cluster, node)
    world.deliver([delivery])
    world.remediate()
    world.advance(600)  # Lambda retried the asynchronous invocation much later
    world.deliver([delivery])
    world.remediate()
    assert rebooted(world) == [node]
    assert reasons(world) == ["duplicate_event"]


def test_the_fault_coming_back_after_the_reboot_still_climbs_to_replace(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[4]
    world.deliver([eventbridge(world, cluster, node), hma(world, cluster, node)])
    world.remediate()
    world.advance(minutes(20).total_seconds())  # rebooted and Running again; HMA sees the Xid again
    assert world.control.node(node).status == "Running"
    world.deliver([hma(world, cluster, node)])
    world.remediate()
    assert [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]
    assert len(world.calls(REBOOT)) == 1


def test_hmas_replace_verdict_starts_the_ladder_at_replace(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    """Issue 17: HMA's explicit verdict chooses the first rung (it was only a signal before). Here
    on NodeRecovery None: on Automatic, HyperPod acts on it itself (the test below)."""
    node = cluster.instance_ids(GPU_GROUP)[5]
    record = npd_event_record("replace", "NvidiaGPUUnhealthy", "NvidiaGpuXidErrorPendingReplacement", 74)
    world.deliver([node_delivery(cluster.name, cluster.arn, GPU_GROUP, node, [(world.now(), record)])])
    world.remediate()
    assert rebooted(world) == [] and [i for c in world.calls(REPLACE) for i in c.node_ids] == [node]


def test_on_automatic_node_recovery_hma_faults_are_left_to_hyperpod(world: LocalWorld) -> None:
    cluster = create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "slurm-auto",
        [GroupSpec(name=GPU_GROUP, instance_type="ml.p5.48xlarge", count=4, node_type="Compute")],
        node_recovery="Automatic",
    )
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver([hma(world, cluster, node)])
    report = world.remediate()
    assert world.calls() == []
    assert report.metrics.total("FaultsIgnored", Reason="deferred_to_hyperpod") == 1
