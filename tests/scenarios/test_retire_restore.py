"""The retire rung (issue 17) through the real handlers on the local stack: a lemon -- its fault back
after its replace -- is retired with BatchDeleteClusterNodes and its group restored with
BatchAddClusterNodes under a ClientToken kept in the ledger; with the switch off, on a cluster that is
not Continuous-provisioned, or for a Slurm controller, it goes to a human as before."""

from __future__ import annotations

from typing import Any

import pytest

from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeState, NodeStatus
from hyperpod_local.plane import GroupSpec, create_cluster
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import DIES_AFTER_THE_CALL, Crash, minutes, slurm_training_cluster

pytestmark = pytest.mark.scenario

DELETE = "BatchDeleteClusterNodes"
ADD = "BatchAddClusterNodes"
ON = {"AUTOHEAL_RETIRE_AND_RESTORE": "true"}


def fault(world: LocalWorld, cluster: ClusterFixture, logical_id: str) -> dict[str, Any]:
    instance_id = world.control.node(logical_id).instance_id
    return node_health_event(cluster.name, cluster.arn, instance_id, world.now())


def make_a_lemon(world: LocalWorld, cluster: ClusterFixture, logical_id: str) -> None:
    """Reboot, replace, then the fault comes back once more (the third delivery)."""
    for _ in range(2):
        world.deliver([fault(world, cluster, logical_id)])
        world.remediate()
        world.advance(minutes(20).total_seconds())
    world.deliver([fault(world, cluster, logical_id)])


def state(world: LocalWorld, cluster: str, node_key: str) -> NodeState:
    states = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    return states.load([(cluster, node_key)])[(cluster, node_key)]


def target_count(world: LocalWorld, cluster: str, group: str) -> int:
    described = world.aws.client("sagemaker").describe_cluster(ClusterName=cluster)
    return next(int(g["TargetCount"]) for g in described["InstanceGroups"] if g["InstanceGroupName"] == group)


@pytest.fixture
def world_on(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv, env=ON)


def test_a_lemon_is_retired_and_its_group_restored(world_on: LocalWorld) -> None:
    world = world_on
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=8)
    lemon = cluster.in_group("gpu-a")[0].logical_id
    make_a_lemon(world, cluster, lemon)
    lemon_instance = world.control.node(lemon).instance_id

    report = world.remediate()

    (delete,) = world.calls(DELETE)
    (add,) = world.calls(ADD)
    assert delete.node_ids == (lemon_instance,)
    assert add.nodes_to_add == (("gpu-a", 1),)
    assert add.client_token is not None and add.client_token.startswith("autoheal-")
    h = state(world, cluster.name, lemon)
    assert (h.last_action, h.step, h.restore_token, h.restore_target) == ("retire", 2, add.client_token, 8)
    assert h.restore_status == "added" and len(h.restore_ids) == 1
    assert h.restore_ids[0] != lemon
    assert report.metrics.total("RetireRequests") == 1
    assert report.metrics.total("RestoredNodes") == 1
    assert [(c.operation, c.size) for c in report.calls if c.operation in (DELETE, ADD)] == [
        (DELETE, 1),
        (ADD, 1),
    ]
    history = LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name).attempts(
        cluster.name, lemon
    )
    assert [a.action.value for a in history] == ["reboot", "replace", "retire"]
    assert add.client_token in history[-1].message and h.restore_ids[0] in history[-1].message
    world.advance(minutes(10).total_seconds())
    assert target_count(world, cluster.name, "gpu-a") == 8  # back to its size, no overshoot
    assert world.control.node(h.restore_ids[0]).status == "Running"


def test_with_the_switch_off_a_lemon_goes_to_a_human(world: LocalWorld) -> None:
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=8)
    lemon = cluster.in_group("gpu-a")[0].logical_id
    make_a_lemon(world, cluster, lemon)

    report = world.remediate()

    assert world.calls(DELETE) == [] and world.calls(ADD) == []
    assert [(r.decision, r.reason) for r in report.nodes] == [("needs_human", "ladder_exhausted")]
    assert state(world, cluster.name, lemon).status is NodeStatus.NEEDS_HUMAN


def test_a_cluster_that_is_not_continuous_hands_its_lemon_to_a_human(world_on: LocalWorld) -> None:
    world = world_on
    cluster = create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "legacy",
        [GroupSpec("gpu-a", "ml.p5.48xlarge", 4, node_type="Compute")],
        provisioning_mode=None,
    )
    lemon = cluster.in_group("gpu-a")[0]
    key = lemon.logical_id

    make_a_lemon(world, cluster, key)
    report = world.remediate()

    assert world.calls(DELETE) == [] and world.calls(ADD) == []
    assert [r.reason for r in report.nodes] == ["retire_needs_continuous_provisioning"]
    assert state(world, cluster.name, key).status is NodeStatus.NEEDS_HUMAN


def test_a_slurm_controller_is_never_retired(world_on: LocalWorld) -> None:
    world = world_on
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=4)
    controller = cluster.in_group("controller")[0].logical_id

    for _ in range(4):
        world.deliver([fault(world, cluster, controller)])
        world.remediate()
        world.advance(minutes(20).total_seconds())

    assert world.calls(DELETE) == [] and world.calls(ADD) == []
    assert world.calls("BatchReplaceClusterNodes") == []
    assert state(world, cluster.name, controller).status is NodeStatus.NEEDS_HUMAN


def test_a_crash_after_the_add_never_adds_twice_the_redelivered_restore_reuses_the_token(
    world_on: LocalWorld,
) -> None:
    world = world_on
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=8)
    lemon = cluster.in_group("gpu-a")[0].logical_id
    make_a_lemon(world, cluster, lemon)
    records = world.drain()
    with pytest.raises(Crash):  # the delete and the add went out; their outcome was never written
        world.remediate(records, deps_hook=DIES_AFTER_THE_CALL)
    (first,) = world.calls(ADD)
    added = [
        n.logical_id for n in world.control.nodes(cluster.name) if n.logical_id not in cluster.logical_ids()
    ]
    assert len(added) == 1
    assert state(world, cluster.name, lemon).status is NodeStatus.SENDING

    world.advance(minutes(16).total_seconds())  # the claim expired; SQS redelivers the batch
    world.remediate(records)
    recovered = world.reconcile()  # the retire recorded as taken, its restore re-driven
    pending_records = world.drain()
    report = world.remediate(pending_records)  # the redelivered restore

    adds = world.calls(ADD)
    assert recovered.metrics.total("ClaimsRecovered", Resolution="recorded_as_taken") == 1
    assert [r.reason for r in report.nodes] == ["restore_resumed"]
    assert len(adds) == 2 and adds[1].client_token == first.client_token
    assert adds[1].nodes_to_add == first.nodes_to_add
    assert len(world.calls(DELETE)) == 1
    gpu = [n for n in world.control.nodes(cluster.name) if n.instance_group_name == "gpu-a"]
    assert len(gpu) == 8 and target_count(world, cluster.name, "gpu-a") == 8  # one node added, not two
    h = state(world, cluster.name, lemon)
    assert (h.restore_status, h.restore_ids, h.restore_token) == ("added", tuple(added), first.client_token)

    world.advance(minutes(10).total_seconds())  # the added node runs
    tracked = world.reconcile()
    h = state(world, cluster.name, lemon)
    assert [r.verdict for r in tracked.rows if r.node_key == lemon] == ["restored"]
    assert (h.status, h.restore_status) == (NodeStatus.CLOSED, "running")


def test_an_added_node_still_pending_past_the_deadline_goes_to_a_human(world_on: LocalWorld) -> None:
    world = world_on
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=8)
    lemon = cluster.in_group("gpu-a")[0].logical_id
    make_a_lemon(world, cluster, lemon)
    world.control.capacity_shortage(cluster.name, "gpu-a", 6 * 3600)

    world.remediate()
    world.advance(minutes(30).total_seconds())
    waiting = world.reconcile()
    world.advance(minutes(121).total_seconds())
    late = world.reconcile()

    h = state(world, cluster.name, lemon)
    assert [r.verdict for r in waiting.rows if r.node_key == lemon] == ["wait"]
    assert [r.verdict for r in late.rows if r.node_key == lemon] == ["restore_deadline_passed"]
    assert h.status is NodeStatus.NEEDS_HUMAN and h.notify_pending is not None
    assert h.restore_ids[0] in h.notify_pending and "Pending" in h.notify_pending
    assert late.metrics.total("RestoreFailures", ErrorCode="DeadlinePassed") == 1


# --- restores batched to the API's limits (one add call per <= 5 groups / 50 nodes) -----------------


def two_group_cluster(world: LocalWorld) -> ClusterFixture:
    return create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "train-2g",
        [
            GroupSpec("controller", "ml.m5.xlarge", 1, node_type="Controller"),
            GroupSpec("gpu-a", "ml.p5.48xlarge", 4, node_type="Compute"),
            GroupSpec("gpu-b", "ml.p5.48xlarge", 4, node_type="Compute"),
        ],
    )


def make_lemons(world: LocalWorld, cluster: ClusterFixture, logical_ids: list[str]) -> None:
    """Reboot, replace, then the faults come back once more (the third delivery), together."""
    for _ in range(2):
        world.deliver([fault(world, cluster, key) for key in logical_ids])
        world.remediate()
        world.advance(minutes(20).total_seconds())
    world.deliver([fault(world, cluster, key) for key in logical_ids])


def added(world: LocalWorld, cluster: ClusterFixture) -> list[str]:
    return [
        n.logical_id for n in world.control.nodes(cluster.name) if n.logical_id not in cluster.logical_ids()
    ]


def test_lemons_of_two_groups_are_restored_in_one_add_call_each_taking_its_slot(world_on: LocalWorld) -> None:
    world = world_on
    cluster = two_group_cluster(world)
    lemons = [cluster.in_group("gpu-a")[0].logical_id, cluster.in_group("gpu-a")[1].logical_id]
    lemons.append(cluster.in_group("gpu-b")[0].logical_id)
    make_lemons(world, cluster, lemons)
    topic = world.topic_messages
    topic()

    report = world.remediate()

    (add,) = world.calls(ADD)  # one call for the cluster's three restores, not one per node
    assert add.nodes_to_add == (("gpu-a", 2), ("gpu-b", 1))
    states = [state(world, cluster.name, key) for key in lemons]
    assert {h.restore_token for h in states} == {add.client_token}
    assert {h.restore_batch for h in states} == {(("gpu-a", 2), ("gpu-b", 1))}
    assert all(h.restore_status == "added" and len(h.restore_ids) == 1 for h in states)
    assert sorted(i for h in states for i in h.restore_ids) == sorted(added(world, cluster))
    assert [(c.operation, c.size, c.failed) for c in report.calls if c.operation == ADD] == [(ADD, 3, 0)]
    assert report.metrics.total("RestoredNodes") == 3
    (message,) = topic()  # the retires told, with what was restored (information, one per cluster)
    told = {n["node_key"]: n for n in message["nodes"]}
    assert sorted(told) == sorted(lemons)
    for h in states:
        reason = told[h.node_key]["reason"]
        assert reason.startswith("retired_and_restored: ") and "after 1 replace;" in reason
        assert f"group {h.instance_group} restored with NodeLogicalId {h.restore_ids[0]}" in reason
        assert (
            told[h.node_key]["signal"] == "NvidiaErrorTerminate"
            and told[h.node_key]["last_action"] == "retire"
        )

    world.advance(minutes(10).total_seconds())  # the added nodes run
    tracked = world.reconcile()

    assert [r.verdict for r in tracked.rows if r.node_key in lemons] == ["restored"] * 3
    assert tracked.metrics.total("ActionResults", Action="retire", Result="healed") == 3
    assert tracked.metrics.total("ActionResults", Action="retire", Signal="unknown") == 0
    (message,) = topic()
    reasons = [n["reason"] for n in message["nodes"]]
    assert len(reasons) == 3 and all(r.startswith("restore_running: ") for r in reasons)
    assert target_count(world, cluster.name, "gpu-a") == 4 and target_count(world, cluster.name, "gpu-b") == 4


def test_a_partly_redelivered_batch_resends_its_one_call_and_never_adds_twice(world_on: LocalWorld) -> None:
    world = world_on
    cluster = two_group_cluster(world)
    lemons = [cluster.in_group("gpu-a")[0].logical_id, cluster.in_group("gpu-a")[1].logical_id]
    lemons.append(cluster.in_group("gpu-b")[0].logical_id)
    make_lemons(world, cluster, lemons)
    records = world.drain()
    with pytest.raises(Crash):  # the delete and the add went out; their outcome was never written
        world.remediate(records, deps_hook=DIES_AFTER_THE_CALL)
    (first,) = world.calls(ADD)
    first_added = sorted(added(world, cluster))
    world.advance(minutes(16).total_seconds())
    world.remediate(records)  # SQS redelivers the batch whose invocation died
    world.reconcile()  # the retires recorded as taken, their restores queued (one fault each)
    pending = world.drain()
    assert len(pending) == 3

    world.remediate(pending[:1])  # only one member comes back first
    world.remediate(pending[1:])  # then the two others, together

    adds = world.calls(ADD)
    assert len(adds) == 3 and {(a.client_token, a.nodes_to_add) for a in adds} == {
        (first.client_token, first.nodes_to_add)
    }
    assert sorted(added(world, cluster)) == first_added  # the same three nodes, none twice
    states = [state(world, cluster.name, key) for key in lemons]
    assert sorted(i for h in states for i in h.restore_ids) == first_added
    assert target_count(world, cluster.name, "gpu-a") == 4 and target_count(world, cluster.name, "gpu-b") == 4
