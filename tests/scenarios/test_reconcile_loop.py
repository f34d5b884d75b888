"""Closing the loop, with the control plane's clock: verify, escalate on failure or timeout, survive
crashes mid-action, stop replacing where capacity ran out. Reconcile never calls anything mutating:
escalations go through the queue to remediate, the only actor."""

from __future__ import annotations

import pytest

from autoheal.adapters.control import LedgerCooldowns
from autoheal.core.state import LastOutcome, NodeStatus
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import cluster_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import DIES_AFTER_THE_CALL, DIES_BEFORE_THE_CALL, Crash, fault, minutes, state
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


def reboot_then(world: LocalWorld, cluster: ClusterFixture) -> tuple[str, str]:
    node = cluster.in_group(GPU_GROUP)[0]
    fault(world, cluster, node.instance_id)
    world.remediate()
    assert len(world.calls(REBOOT)) == 1
    return node.instance_id, node.logical_id


def test_a_reboot_that_fixes_the_node_is_verified_and_closed(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    _, logical = reboot_then(world, cluster)
    world.advance(minutes(1).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}  # still rebooting

    world.advance(minutes(5).total_seconds())
    report = world.reconcile()

    assert report.summary()["verdicts"] == {"healed": 1}
    record = state(world, cluster, logical)
    assert (record.state.status, record.state.last_outcome) == (NodeStatus.IDLE, LastOutcome.HEALED)
    assert [a.outcome for a in record.attempts] == ["accepted", "healed"]
    assert report.metrics.total("ActionResults", Action="reboot", Result="healed") == 1
    assert list(report.metrics.timings.values()) == [[360.0]]  # TimeToHealthy, seconds
    assert world.reconcile().summary()["open_nodes"] == 0  # off the open index


def test_a_reboot_that_leaves_the_node_failed_escalates_to_replace(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    old, logical = reboot_then(world, cluster)
    world.advance(minutes(3).total_seconds())
    world.control.set_status(old, "Failure")

    assert world.reconcile().summary()["verdicts"] == {"failed": 1}
    report = world.remediate()  # the reconcile fault, through the queue

    assert [len(c.node_ids) for c in world.calls(REPLACE)] == [1]
    assert report.metrics.total("Escalations") == 1
    world.advance(minutes(12).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"healed": 1}
    healed = state(world, cluster, logical).state
    assert healed.instance_id != old  # history follows the hardware slot onto the new instance


def test_a_reboot_that_never_finishes_times_out_and_escalates(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    old, _ = reboot_then(world, cluster)
    world.advance(minutes(3).total_seconds())
    world.control.set_status(old, "Pending")  # stuck
    world.advance(minutes(20).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}  # within the 30 minute step timeout

    world.advance(minutes(10).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"timed_out": 1}
    world.remediate()
    assert len(world.calls(REPLACE)) == 1


def test_a_replace_without_capacity_goes_to_a_human_and_stops_replaces_in_the_group(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    world.control.set_capacity(cluster.name, GPU_GROUP, 0)
    topic = world.topic_messages  # subscribed before anything is published
    old, logical = reboot_then(world, cluster)
    world.advance(minutes(10).total_seconds())
    fault(world, cluster, old)  # the fault comes back: replace
    world.remediate()
    assert len(world.calls(REPLACE)) == 1
    world.advance(minutes(2).total_seconds())  # the replacement fails: no capacity
    events = [e for e in world.control.events(cluster.name) if e.event_level == "Error"]
    assert events, "the control plane reports the capacity failure as a cluster event"

    world.deliver([cluster_event(e) for e in events])  # intake: InsufficientCapacity
    report = world.remediate()

    assert report.metrics.total("CapacityCooldowns") == 1
    assert state(world, cluster, logical).state.status is NodeStatus.NEEDS_HUMAN
    reasons = [n["reason"] for m in topic() for n in m["nodes"]]
    assert any(r.startswith("insufficient capacity") for r in reasons)

    # another node of the group needs a replace during the cool-down: held, not sent
    other = cluster.in_group(GPU_GROUP)[1]
    fault(world, cluster, other.instance_id)
    world.remediate()
    world.advance(minutes(10).total_seconds())
    fault(world, cluster, other.instance_id)
    held = world.remediate()
    assert held.metrics.total("FaultsHeld", Reason="capacity_cooldown") == 1
    assert len(world.calls(REPLACE)) == 1
    cooldowns = LedgerCooldowns(world.aws.client("dynamodb"), world.stack.table_name).cooldowns(
        [(cluster.name, GPU_GROUP)], world.now()
    )
    assert "do not have sufficient capacity" in cooldowns[(cluster.name, GPU_GROUP)].reason


def test_a_crash_after_the_claim_is_released_by_reconcile_and_acted_on_once(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    fault(world, cluster, node.instance_id)
    records = world.drain()
    with pytest.raises(Crash):
        world.remediate(records, deps_hook=DIES_BEFORE_THE_CALL)
    assert world.calls() == []

    world.advance(minutes(16).total_seconds())  # the claim expires; SQS redelivers the message
    redelivered = world.remediate(records)
    assert redelivered.metrics.total("FaultsIgnored", Reason="duplicate_event") == 1
    report = world.reconcile()
    assert report.metrics.total("ClaimsRecovered", Resolution="released") == 1
    world.remediate()  # the re-driven fault

    assert [list(c.node_ids) for c in world.calls(REBOOT)] == [[node.instance_id]]
    assert state(world, cluster, node.logical_id).state.status is NodeStatus.IN_PROGRESS


def test_a_crash_after_the_call_is_recorded_as_taken_and_never_replaced_twice(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    old, logical = reboot_then(world, cluster)
    world.advance(minutes(10).total_seconds())
    fault(world, cluster, old)
    records = world.drain()
    with pytest.raises(Crash):
        world.remediate(records, deps_hook=DIES_AFTER_THE_CALL)
    assert len(world.calls(REPLACE)) == 1  # the replace went out before the crash

    world.advance(minutes(16).total_seconds())
    world.remediate(records)  # redelivery: the claim remembers the event
    report = world.reconcile()
    assert report.metrics.total("ClaimsRecovered", Resolution="recorded_as_taken") == 1
    recorded = state(world, cluster, logical)
    assert (recorded.state.status, recorded.state.last_action) == (NodeStatus.IN_PROGRESS, "replace")
    assert "recovered" in [a.outcome for a in recorded.attempts]

    assert world.reconcile().summary()["verdicts"] == {"healed": 1}
    world.remediate()
    assert len(world.calls(REPLACE)) == 1  # never re-sent


def test_a_lost_retry_is_redriven_by_reconcile(world: LocalWorld, cluster: ClusterFixture) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.set_busy(node.instance_id, 60)
    fault(world, cluster, node.instance_id)
    world.remediate()
    assert world.drain() != []  # the delayed retry message ... is lost (drained and dropped here)

    world.advance(minutes(11).total_seconds())
    report = world.reconcile()
    assert report.metrics.total("RetriesRedriven") == 1
    world.remediate()
    assert [list(c.node_ids) for c in world.calls(REBOOT)] == [[node.instance_id], [node.instance_id]]
    assert world.calls(REBOOT)[-1].failed_codes == ()
