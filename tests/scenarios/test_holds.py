"""Holds never drop a fault, a version conflict is decided again, and a Batch* response or a node clock
that contradicts itself does not make the service act twice -- through the real handlers, on the
control plane's clock.

SQS delays run on the wall clock, not the simulated one: the held faults' retry queue here puts them
back at once and remembers the delay, and each round advances the simulated clock by it, as the real
queue would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from autoheal.adapters.control import LedgerPauses
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.sagemaker import HyperPodNodes
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.ports import RetryQueue
from autoheal.remediate.service import Deps, RemediationReport
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


class SimulatedDelays:
    """The real retry queue, its delay kept on the simulated clock (see the module docstring)."""

    def __init__(self, real: RetryQueue) -> None:
        self.real = real
        self.delays: list[int] = []

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        self.delays.append(delay_seconds)
        self.real.requeue(faults, 0)


def remediate_round(world: LocalWorld) -> tuple[RemediationReport, list[int]]:
    """One remediate invocation; the delays its re-queued faults asked for."""
    queues: list[SimulatedDelays] = []

    def hook(deps: Deps) -> Deps:
        queues.append(SimulatedDelays(deps.retry_queue))
        deps.retry_queue = queues[-1]
        return deps

    report = world.remediate(deps_hook=hook)
    return report, queues[0].delays


def pauses(world: LocalWorld) -> LedgerPauses:
    return LedgerPauses(world.aws.client("dynamodb"), world.stack.table_name)


def open_states(world: LocalWorld, cluster: ClusterFixture) -> list[NodeState]:
    return LedgerOpenNodes(world.aws.client("dynamodb"), world.stack.table_name).open_nodes(cluster.name)


def node_state(world: LocalWorld, cluster: ClusterFixture, logical_id: str) -> NodeState:
    record = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name).node_record(
        cluster.name, logical_id
    )
    assert record.state is not None
    return record.state


def faults(world: LocalWorld, cluster: ClusterFixture, ids: Sequence[str], **kw: Any) -> None:
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now(), **kw) for i in ids])


# ---------------------------------------------------------------- holds never drop a fault (item 1)


def test_a_90_minute_pause_holds_the_faults_in_the_ledger_and_resume_acts_on_them(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:3]
    pauses(world).pause(cluster.name, by="oncall", reason="bad AMI rollout")
    faults(world, cluster, nodes)
    paused_at = world.now()

    held: list[set[tuple[str, str | None, Any]]] = []
    for _ in range(6):  # 90 minutes, each round held again: past the 60-minute event age limit
        report, delays = remediate_round(world)
        assert report.metrics.total("FaultsIgnored") == 0  # never judged stale while held
        assert report.metrics.total("FaultsHeld", Reason="paused") == 3
        assert delays == [900, 900, 900]  # the hold's re-queue delay is unchanged
        held.append({(str(s.status), s.hold, s.held_since) for s in open_states(world, cluster)})
        world.advance(max(delays))
    assert world.now() - paused_at >= timedelta(minutes=90)
    assert world.calls() == []
    assert held == [{("held", "paused", paused_at)}] * 6  # in the ledger, with the hold and since when

    assert pauses(world).resume(cluster.name) is True
    report, _ = remediate_round(world)

    assert sorted(c.size for c in world.calls(REBOOT)) == [3]
    assert report.metrics.total("RebootRequests") == 3
    assert {(s.status, s.hold, s.held_since) for s in open_states(world, cluster)} == {
        (NodeStatus.IN_PROGRESS, None, None)
    }


def test_a_held_fault_whose_message_is_lost_is_redriven_by_reconcile(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    (node,) = cluster.instance_ids(GPU_GROUP)[:1]
    pauses(world).pause(cluster.name, by="oncall", reason="maintenance")
    faults(world, cluster, [node])
    remediate_round(world)
    lost = world.drain()  # the held fault's delayed message is lost
    assert len(lost) == 1
    pauses(world).resume(cluster.name)

    world.advance(minutes(10).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}  # not due yet
    world.advance((minutes(15) + world.settings.policy.redrive_after).total_seconds())
    assert world.reconcile().summary()["faults_enqueued"] == 1
    report, _ = remediate_round(world)

    assert report.metrics.total("RebootRequests") == 1
    assert [c.size for c in world.calls(REBOOT)] == [1]


def test_a_fault_held_past_the_ceiling_goes_to_a_human_instead_of_being_acted_on(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fixtures import slurm_training_cluster

    world = LocalWorld(aws, monkeypatch.setenv, env={"AUTOHEAL_HOLD_CEILING_HOURS": "1"})
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    nodes = cluster.instance_ids(GPU_GROUP)[:2]
    pauses(world).pause(cluster.name, by="oncall", reason="long investigation")
    faults(world, cluster, nodes)
    topic = world.topic_messages

    humans: list[dict[str, Any]] = []
    for _ in range(6):  # 90 minutes; the ceiling is one hour
        _, delays = remediate_round(world)
        humans += [n for m in topic() for n in m["nodes"]]
        world.advance(max(delays, default=900))
    pauses(world).resume(cluster.name)
    world.run_until_quiet()

    assert world.calls() == []
    assert sorted(h["reason"] for h in humans) == ["held_too_long:paused"] * 2
    assert {(s.status, s.hold) for s in open_states(world, cluster)} == {(NodeStatus.NEEDS_HUMAN, None)}


def test_a_held_fault_whose_instance_was_replaced_meanwhile_is_closed(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    pauses(world).pause(cluster.name, by="oncall", reason="maintenance")
    faults(world, cluster, [node.instance_id])
    remediate_round(world)
    # someone replaces the node by hand while the cluster is paused
    world.aws.client("sagemaker").batch_replace_cluster_nodes(
        ClusterName=cluster.name, NodeIds=[node.instance_id]
    )
    world.advance(minutes(60).total_seconds())
    pauses(world).resume(cluster.name)

    report = world.reconcile()
    assert report.summary()["verdicts"] == {"replaced": 1}
    state = node_state(world, cluster, node.logical_id)
    assert (state.status, state.hold, state.pending_fault) == (NodeStatus.IDLE, None, None)
    remediate_round(world)  # the held message comes back: it names the old instance
    assert world.calls(REBOOT) == [] and len(world.calls(REPLACE)) == 1  # only the operator's


# ---------------------------------------------------------------- a version conflict is decided again (item 2)


def test_reconcile_closing_the_node_between_read_and_claim_does_not_lose_the_fault(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    faults(world, cluster, [node.instance_id])
    world.remediate()
    assert len(world.calls(REBOOT)) == 1
    world.advance(minutes(10).total_seconds())  # rebooted, Running past the healthy delay
    faults(world, cluster, [node.instance_id])  # a new fault: it recurred

    def race(deps: Deps) -> Deps:
        real = deps.states.put_if_unchanged
        raced: list[bool] = []

        def put_if_unchanged(state: NodeState, expected_version: int, now: Any) -> bool:
            if not raced:  # reconcile writes "healed" between remediate's read and its claim
                raced.append(True)
                assert world.reconcile().summary()["verdicts"] == {"healed": 1}
            return real(state, expected_version, now)

        deps.states.put_if_unchanged = put_if_unchanged  # type: ignore[method-assign]
        return deps

    report = world.remediate(deps_hook=race)

    assert report.metrics.total("ClaimConflicts") == 1
    assert len(world.calls(REPLACE)) == 1  # decided again on the healed state: the fault recurred
    state = node_state(world, cluster, node.logical_id)
    assert state.status is NodeStatus.IN_PROGRESS


# ---------------------------------------------------------------- contradictory entries (item 8)


class Contradicting:
    """A SageMaker client whose reboot response also lists every successful id as failed."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def batch_reboot_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.real.batch_reboot_cluster_nodes(**kwargs)
        failed = [
            {"NodeId": i, "ErrorCode": "InstanceIdInUse", "Message": "busy"} for i in response["Successful"]
        ]
        return {**response, "Failed": [*response.get("Failed", []), *failed]}


def test_an_id_listed_as_successful_and_failed_is_accepted_and_metered_not_sent_again(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    faults(world, cluster, [node.instance_id])

    def contradicting(deps: Deps) -> Deps:
        deps.nodes = HyperPodNodes(Contradicting(world.aws.client("sagemaker")))
        return deps

    report = world.remediate(deps_hook=contradicting)
    world.run_until_quiet()

    assert report.metrics.total("ContradictoryEntries") == 1
    assert report.metrics.total("RebootRequests") == 1
    assert report.metrics.total("RetriesScheduled") == 0
    assert len(world.calls(REBOOT)) == 1
    assert node_state(world, cluster, node.logical_id).status is NodeStatus.IN_PROGRESS


# ---------------------------------------------------------------- future-dated events (item 9)


def test_a_future_dated_fault_after_a_reboot_is_an_echo_not_a_recurrence(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group(GPU_GROUP)[0]
    faults(world, cluster, [node.instance_id])
    world.remediate()
    assert len(world.calls(REBOOT)) == 1
    world.advance(minutes(3).total_seconds())
    # the node's clock runs 10 minutes ahead
    world.deliver([node_health_event(cluster.name, cluster.arn, node.instance_id, world.now() + minutes(10))])

    report = world.remediate()

    assert world.calls(REPLACE) == []
    assert report.metrics.total("Escalations") == 0
    assert report.metrics.total("FaultsIgnored", Reason="echo_of_last_action") == 1
    assert sum(r.counts.total("FutureDatedFaults") for r in world.intake_reports) == 1
