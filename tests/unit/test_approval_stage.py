"""The approval stage's pieces that need no ledger: a node decided again after a version conflict
(`claim._decide_again`) never gets past the gate, and the pending-approval notice says what, why, until
when, the default and the commands."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from autoheal.core.approvals import Approval, ApprovalGate, ApprovalStatus, GateKind, GateVerdict
from autoheal.core.guards import GuardKind, GuardVerdict
from autoheal.core.ladder import Decision, DecisionKind, Reason
from autoheal.core.planner import Target
from autoheal.core.state import NodeState
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate.approvals import APPROVAL_HOLD, keeps_gate, pending_notice
from autoheal.remediate.model import BatchPlan, Node, NodePlan, RemediationReport

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
REF = ("train", "n1")
POLICY = RemediationPolicy(approvals=ApprovalGate(required_for=frozenset({"replace"})))
APPROVAL = Approval(
    "abcdefgh", "train", "n1", "replace", "fault_recurred", "ladder: x", T0, T0 + timedelta(hours=1), "deny"
)


def plan(action: Action | None, guard: GuardVerdict | None = None) -> NodePlan:
    node = Node(REF, Target("train", "n1", "i-1"))
    kind = DecisionKind.ACT if action else DecisionKind.IGNORE
    return NodePlan(
        node,
        NodeState("train", "n1"),
        Decision(kind, Reason.RECURRED, rule="ladder: x"),
        guard=guard,
        action=action,
    )


def batch(verdicts: dict[tuple[str, str], GateVerdict]) -> BatchPlan:
    return BatchPlan(T0, [], RemediationReport(), POLICY, approvals=verdicts)


def test_a_gated_action_decided_again_is_held_unless_it_was_approved_as_such() -> None:
    again = plan(Action.REPLACE)
    held = keeps_gate(plan(None), again, batch({}))  # not gated before (ignored), gated now
    assert held.hold is not None and held.hold.reason == APPROVAL_HOLD and not held.would_act
    approved = GateVerdict(GateKind.PROCEED, APPROVAL.decided(ApprovalStatus.APPROVED, "arn:x", T0, "ok"))
    assert keeps_gate(plan(Action.REPLACE), again, batch({REF: approved})) is again
    approved_reboot = replace(approved, approval=replace(approved.approval, action="reboot"))
    assert keeps_gate(plan(Action.REBOOT), again, batch({REF: approved_reboot})).hold is not None
    assert keeps_gate(plan(Action.REPLACE), plan(Action.REBOOT), batch({})).would_act  # reboot: not gated


def test_a_denial_stays_a_denial_when_decided_again() -> None:
    denied = plan(Action.REPLACE, GuardVerdict(GuardKind.HUMAN, "approval abcdefgh denied by arn:x: no"))
    again = keeps_gate(denied, plan(Action.REPLACE), batch({}))
    assert again.guard == denied.guard and not again.would_act


def test_the_pending_notice_says_what_why_until_when_the_default_and_the_commands() -> None:
    told = pending_notice(APPROVAL)
    assert told.kind == "approval_pending" and told.details is not None
    assert "replace of node n1" in told.reason and "else deny" in told.reason
    assert f"decide by {(T0 + timedelta(hours=1)).isoformat()}" in told.reason
    assert told.details["commands"].split("\n") == [  # one a line: the renderer lists them
        "autoheal approvals --cluster train",
        "autoheal approve abcdefgh",
        "autoheal approve --all --cluster train",
        'autoheal deny abcdefgh --reason "..."',
    ]
    assert told.details["deadline"] == (T0 + timedelta(hours=1)).isoformat()
