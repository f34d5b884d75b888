"""Remediate's stages one at a time, with plain data and small stand-ins for the ports (the end-to-end
behaviour is in tests/scenarios)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from autoheal.adapters.control import Cooldown, Pause
from autoheal.adapters.queue import QueueError
from autoheal.core.ladder import DecisionKind
from autoheal.core.planner import Target
from autoheal.core.results import EntryOutcome, EntryResult, IdKind
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate.claim import Claimed
from autoheal.remediate.decide import node_plan
from autoheal.remediate.hold import hold_switched
from autoheal.remediate.model import Later, Node, NodePlan
from autoheal.remediate.parse import parse
from autoheal.remediate.record import backoff, outcome
from autoheal.remediate.requeue import ReturnToSource, requeue

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RemediationPolicy()
IID = "i-0aaaaaaaaaaaaaaaa"


def fault(event_id: str = "e-1", signal: str = "GpuXid79") -> NodeFault:
    return NodeFault(
        cluster_name="train",
        instance_id=IID,
        instance_group="gpu",
        signal=signal,
        source=FaultSource.NODE_HEALTH,
        source_event_id=event_id,
        observed_at=NOW - timedelta(seconds=30),
    )


def node(*faults: NodeFault) -> Node:
    target = Target(cluster="train", node_key=IID, instance_id=IID, instance_group="gpu")
    return Node(ref=("train", IID), target=target, status="Running", faults=list(faults), message_ids=["m-1"])


def acting_plan() -> NodePlan:
    return node_plan(node(fault()), NodeState("train", IID), None, NOW, POLICY)


class NoSwitches:
    """LedgerPauses and LedgerCooldowns with nothing set."""

    def paused(self, clusters: Iterable[str]) -> dict[str, Pause]:
        return {}

    def cooldowns(self, groups: Iterable[tuple[str, str]], now: datetime) -> dict[tuple[str, str], Cooldown]:
        return {}

    def start_cooldown(self, cooldown: Cooldown) -> None:
        raise AssertionError("not in this stage")


class PausedEverywhere(NoSwitches):
    def paused(self, clusters: Iterable[str]) -> dict[str, Pause]:
        return {"*": Pause("*", "oncall", "bad AMI", NOW)}


def test_parse_keeps_faults_and_counts_a_malformed_body() -> None:
    parsed = parse(
        [{"messageId": "m-1", "body": fault().model_dump_json()}, {"messageId": "m-2", "body": "{"}]
    )
    assert [m for m, _ in parsed.faults] == ["m-1"]
    assert parsed.metrics.total("EventsRejected", Reason="malformed_message") == 1


def test_a_first_fault_decides_a_reboot() -> None:
    p = acting_plan()
    assert (p.decision.kind, p.action, p.would_act) == (DecisionKind.ACT, Action.REBOOT, True)


def test_no_switches_set_holds_nothing_and_a_pause_holds_the_action() -> None:
    plans = [acting_plan()]
    assert hold_switched(plans, NoSwitches(), NoSwitches(), NOW) == plans
    (held,) = hold_switched(plans, PausedEverywhere(), NoSwitches(), NOW)
    assert held.hold is not None and (held.hold.reason, held.hold.detail) == ("paused", "paused:*")
    assert not held.would_act


def test_a_transient_entry_schedules_a_retry_of_the_same_step() -> None:
    p = acting_plan()
    claim = NodeState("train", IID, version=1, status=NodeStatus.CLAIMED, claim_expires_at=NOW)
    c = Claimed(p.node, p.decision, Action.REBOOT, before=p.history, claimed=claim)
    result = EntryResult(IID, IdKind.NODE_ID, EntryOutcome.TRANSIENT, "InstanceIdInUse")
    state, row = outcome(c, result, NOW, POLICY, 60)
    assert (state.status, state.retry_at, state.version) == (
        NodeStatus.RETRY_PENDING,
        NOW + timedelta(seconds=60),
        2,
    )
    assert (row.reason, row.outcome, row.error_code) == ("retry_scheduled", "transient", "InstanceIdInUse")


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[list[str], int]] = []
        self.fail = fail

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        if self.fail:
            raise QueueError("SendMessage failed", code="InternalError")
        self.sent.append(([f.source_event_id for f in faults], delay_seconds))


def test_requeue_sends_each_nodes_latest_fault_with_its_delay() -> None:
    queue = Recorder()
    later = [Later(node(fault("e-1"), fault("e-2")), 60)]
    assert requeue(later, queue) == []
    assert len(queue.sent) == 1 and queue.sent[0][1] == 60


def test_faults_that_cannot_be_requeued_go_back_as_batch_item_failures() -> None:
    later = [Later(node(fault()), 60)]
    assert requeue(later, Recorder(fail=True)) == ["m-1"]
    assert requeue(later, ReturnToSource()) == ["m-1"]  # no retry queue configured


def test_backoff_is_jittered_within_the_sqs_maximum() -> None:
    p = acting_plan()
    c = Claimed(p.node, p.decision, Action.REBOOT, before=p.history, claimed=p.history)
    delays = {backoff(c, POLICY, random.Random(seed)) for seed in range(20)}
    base = POLICY.retry_backoff.total_seconds()
    assert all(int(base * 0.8) <= d <= min(900, base * 1.2) for d in delays)
