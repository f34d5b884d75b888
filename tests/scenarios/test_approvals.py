"""The approval gate (issue 18 §1) through the real handlers and the `autoheal` CLI on the local stack:
an action listed in `ApprovalRequiredFor` is recorded as a pending approval and held; `approve` lets it
proceed (once, batched as usual), `deny` hands the node to a human, the deadline applies the default;
a redelivered fault is never acted on twice; reconcile meters pending approvals and re-sends the fault
of one whose deadline passed without its fault coming back.

SQS delays run on the wall clock: the held faults go back on the queue at once (`SimulatedDelays`, as
in test_holds), and the tests move the control plane's clock themselves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.approvals import DEADLINE, Approval, ApprovalStatus
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.ports import RetryQueue
from autoheal.remediate.service import Deps, RemediationReport
from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run, minutes, slurm_training_cluster

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"
GPU_GROUP = "gpu-a"
CALLER = "arn:aws:sts::123456789012:user/moto"  # who moto's STS says the test credentials are
GATED = {"AUTOHEAL_APPROVAL_REQUIRED_FOR": "reboot,replace", "AUTOHEAL_APPROVAL_TIMEOUT_MINUTES": "60"}

Cli = Callable[..., Run]


class SimulatedDelays:
    """The real retry queue, its delay remembered and not waited for (see the module docstring)."""

    def __init__(self, real: RetryQueue) -> None:
        self.real = real
        self.delays: list[int] = []

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        self.delays.append(delay_seconds)
        self.real.requeue(faults, 0)


def make_world(aws: Any, monkeypatch: pytest.MonkeyPatch, **env: str) -> LocalWorld:
    return LocalWorld(aws, monkeypatch.setenv, env={**GATED, **env})


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return make_world(aws, monkeypatch)


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=64)


@pytest.fixture
def cli(world: LocalWorld, capsys: pytest.CaptureFixture[str]) -> Cli:
    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv), now=world.now)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def remediate(
    world: LocalWorld, records: Sequence[Mapping[str, Any]] | None = None
) -> tuple[RemediationReport, list[int]]:
    queues: list[SimulatedDelays] = []

    def hook(deps: Deps) -> Deps:
        queues.append(SimulatedDelays(deps.retry_queue))
        deps.retry_queue = queues[-1]
        return deps

    report = world.remediate(records, deps_hook=hook)
    return report, queues[0].delays


def faults(world: LocalWorld, cluster: ClusterFixture, ids: Sequence[str], **kw: Any) -> None:
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now(), **kw) for i in ids])


def approvals(world: LocalWorld) -> list[Approval]:
    return LedgerApprovals(world.aws.client("dynamodb"), world.stack.table_name).all()


def state(world: LocalWorld, cluster: ClusterFixture, node: str) -> NodeState:
    found = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name).load(
        [(cluster.name, node)]
    )
    return found[(cluster.name, node)]


def nodes_called(world: LocalWorld, action: str) -> int:
    return sum(c.size for c in world.calls(action))


def ask(world: LocalWorld, cluster: ClusterFixture, count: int = 1) -> list[Approval]:
    """`count` faults -> as many pending approvals, held, nothing called; the notices read."""
    nodes = cluster.instance_ids(GPU_GROUP)[:count]
    faults(world, cluster, nodes)
    report, delays = remediate(world)
    assert world.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="approval") == count
    assert report.metrics.total("ApprovalsRequested") == count
    assert all(0 < d <= 900 for d in delays) and len(delays) == count
    pending = approvals(world)
    assert sorted(str(a.instance_id) for a in pending) == sorted(nodes)
    assert {a.status for a in pending} == {ApprovalStatus.PENDING}
    return pending


# ---------------------------------------------------------------- asked, held, told


def test_an_action_that_needs_approval_is_held_recorded_and_told(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    (a,) = ask(world, cluster)
    assert a.action == "reboot" and a.reason == "first_fault" and a.default == "deny"
    assert a.deadline - a.created == minutes(60) and len(a.id) == 8
    held = state(world, cluster, a.node_key)
    assert (held.status, held.hold) == (NodeStatus.HELD, "approval")

    (message,) = world.topic_messages()
    (node,) = message["nodes"]
    assert node["kind"] == "approval_pending"
    details = node["details"]
    assert details["approval_id"] == a.id and details["default"] == "deny"
    assert details["deadline"] == a.deadline.isoformat()
    commands = details["commands"].split("\n")  # one a line: the message lists them
    assert f"autoheal approve {a.id}" in commands
    assert any(c.startswith(f"autoheal deny {a.id} --reason") for c in commands)
    assert "evidence" in details  # filled by the evidence feature

    # the held fault comes back: still pending, the same approval, no second request, no second notice
    world.advance(900)
    report, _ = remediate(world)
    assert report.metrics.total("ApprovalsRequested") == 0 and world.calls() == []
    assert [x.id for x in approvals(world)] == [a.id]
    assert world.topic_messages() == []


# ---------------------------------------------------------------- approve, deny


def test_approve_lets_the_action_proceed_once_and_records_who(
    world: LocalWorld, cluster: ClusterFixture, cli: Cli
) -> None:
    (a,) = ask(world, cluster)
    listed = cli("approvals", "--cluster", cluster.name, "--json")
    assert listed.code == 0
    assert [x["id"] for x in json.loads(listed.out)["approvals"]] == [a.id]

    world.advance(120)
    run = cli("approve", a.id, "--reason", "checked the node")
    assert run.code == 0, run.err
    assert f"approved {a.id}" in run.out
    (decided,) = approvals(world)
    assert (decided.status, decided.decided_by, decided.decision_reason) == (
        ApprovalStatus.APPROVED,
        CALLER,
        "checked the node",
    )
    assert decided.decided_at == world.now()

    # the approve put the fault back; the hold's own copy is on the queue too: two deliveries, one action
    records = world.drain()
    assert len(records) == 2
    first, _ = remediate(world, records[:1])
    second, _ = remediate(world, records[1:])
    assert nodes_called(world, REBOOT) == 1
    assert first.metrics.total("ApprovalDecisions", Decision="approved") == 1
    assert second.metrics.total("RebootRequests") == 0
    assert state(world, cluster, a.node_key).status is NodeStatus.IN_PROGRESS

    again = cli("approve", a.id)  # decided already: nothing changes
    assert again.code == 0 and "not pending (approved" in again.out


def test_deny_hands_the_node_to_a_human_with_the_reason(
    world: LocalWorld, cluster: ClusterFixture, cli: Cli
) -> None:
    (a,) = ask(world, cluster)
    world.topic_messages()
    with pytest.raises(SystemExit) as usage:  # --reason is required
        cli("deny", a.id)
    assert usage.value.code == 2
    run = cli("deny", a.id, "--reason", "job checkpointing")
    assert run.code == 0, run.err
    report, _ = remediate(world)

    assert world.calls() == []
    assert report.metrics.total("ApprovalDecisions", Decision="denied") == 1
    assert state(world, cluster, a.node_key).status is NodeStatus.NEEDS_HUMAN
    (message,) = world.topic_messages()
    (node,) = message["nodes"]
    assert node["reason"] == f"approval {a.id} denied by {CALLER}: job checkpointing"


def test_approve_all_of_a_cluster_acts_in_one_batched_call(
    world: LocalWorld, cluster: ClusterFixture, cli: Cli
) -> None:
    pending = ask(world, cluster, count=30)
    assert cli("approve", "--all").code == 2  # --all needs --cluster
    run = cli("approve", "--all", "--cluster", cluster.name, "--json")
    assert run.code == 0, run.err
    assert len(json.loads(run.out)["decided"]) == 30
    world.run_until_quiet()

    assert nodes_called(world, REBOOT) == 30
    assert sorted(c.size for c in world.calls(REBOOT)) == [5, 25]  # at most 25 ids a call
    assert {x.status for x in approvals(world)} == {ApprovalStatus.APPROVED}
    assert {state(world, cluster, a.node_key).status for a in pending} == {NodeStatus.IN_PROGRESS}


def test_an_unknown_approval_id_is_an_error(world: LocalWorld, cluster: ClusterFixture, cli: Cli) -> None:
    ask(world, cluster)
    run = cli("approve", "zzzzzzzz")
    assert run.code == 1 and "no approval zzzzzzzz" in run.err


# ---------------------------------------------------------------- the deadline's default


def test_no_decision_by_the_deadline_denies_by_default(world: LocalWorld, cluster: ClusterFixture) -> None:
    (a,) = ask(world, cluster)
    world.topic_messages()
    world.advance(minutes(60).total_seconds())
    report, _ = remediate(world)

    assert world.calls() == []
    assert report.metrics.total("ApprovalDecisions", Decision="default_deny") == 1
    (decided,) = approvals(world)
    assert (decided.status, decided.decided_by) == (ApprovalStatus.DENIED, DEADLINE)
    assert state(world, cluster, a.node_key).status is NodeStatus.NEEDS_HUMAN
    (message,) = world.topic_messages()
    assert "not decided by" in message["nodes"][0]["reason"]


def test_no_decision_by_the_deadline_approves_when_the_default_is_approve(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = make_world(aws, monkeypatch, AUTOHEAL_APPROVAL_DEFAULT="approve", AUTOHEAL_HOLD_CEILING_HOURS="1")
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    ask(world, cluster)
    for _ in range(3):  # still pending: held, whatever the hold ceiling (the approval has its own deadline)
        world.advance(15 * 60)
        remediate(world)
        assert world.calls() == []
    world.advance(15 * 60)
    report, _ = remediate(world)

    assert nodes_called(world, REBOOT) == 1
    assert report.metrics.total("ApprovalDecisions", Decision="default_approve") == 1
    assert approvals(world)[0].status is ApprovalStatus.APPROVED


# ---------------------------------------------------------------- the switches


def test_a_rule_listed_in_auto_approve_acts_without_asking(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = make_world(
        aws,
        monkeypatch,
        AUTOHEAL_SIGNAL_FIRST_RUNG="NvidiaErrorTerminate=replace",
        AUTOHEAL_APPROVAL_AUTO_APPROVE_RULES="override",
    )
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    faults(world, cluster, cluster.instance_ids(GPU_GROUP)[:2])
    report, _ = remediate(world)

    assert nodes_called(world, REPLACE) == 2
    assert report.metrics.total("ApprovalsRequested") == 0
    assert approvals(world) == []


def test_without_approval_required_nothing_is_asked(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = LocalWorld(aws, monkeypatch.setenv)
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    faults(world, cluster, cluster.instance_ids(GPU_GROUP)[:1])
    remediate(world)
    assert nodes_called(world, REBOOT) == 1 and approvals(world) == []


# ---------------------------------------------------------------- reconcile


def test_reconcile_meters_pending_approvals_and_resends_an_overdue_fault(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    (a,) = ask(world, cluster)
    world.drain()  # the held fault's message is lost
    world.advance(minutes(30).total_seconds())
    report = world.reconcile()
    assert report.metrics.total("ApprovalsPending") == 1
    assert report.enqueued == 1  # the held fault re-driven (the node is recorded as held)

    world.drain()  # lost again
    world.advance(minutes(45).total_seconds())  # past the deadline and the redrive delay
    report = world.reconcile()
    assert report.enqueued >= 1
    world.run_until_quiet()
    assert state(world, cluster, a.node_key).status is NodeStatus.NEEDS_HUMAN
    assert approvals(world)[0].decided_by == DEADLINE
