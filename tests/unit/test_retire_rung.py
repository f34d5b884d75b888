"""The retire rung (issue 17): off by default; a lemon retired only on Continuous clusters, never a
protected node type; retires batched at the delete's limit of 50."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core import guards
from autoheal.core.guards import GuardKind, NodeContext
from autoheal.core.ladder import Decision, DecisionKind, NodeFaults, Reason, decide
from autoheal.core.planner import BatchRequest, Target, plan_requests
from autoheal.core.results import IdKind
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import Action, Guards, RemediationPolicy, Step
from autoheal.settings import load_settings

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NODE = "i-0123456789abcdef0"
OFF = load_settings({}).policy
ON = load_settings({"AUTOHEAL_RETIRE_AND_RESTORE": "true"}).policy


def _fault(event_id: str, at: datetime) -> NodeFault:
    return NodeFault(
        cluster_name="c1",
        instance_id=NODE,
        signal="NvidiaErrorTerminate",
        source=FaultSource.NODE_HEALTH,
        source_event_id=event_id,
        observed_at=at,
    )


def _after(action: Action, step: int, action_times: dict[Action, tuple[datetime, ...]]) -> NodeState:
    return NodeState(
        cluster="c1",
        node_key=NODE,
        version=2,
        status=NodeStatus.IN_PROGRESS,
        step=step,
        last_action=action,
        last_action_at=T0,
        last_attempt_at=T0,
        last_outcome=LastOutcome.ACCEPTED,
        action_times=action_times,
        seen_event_ids=("e1",),
    )


def test_the_switch_is_off_by_default_and_adds_the_last_rung_when_on() -> None:
    assert OFF.retire_and_restore is False and OFF.retire_step is None
    assert [s.action for s in ON.ladder] == [Action.REBOOT, Action.REPLACE, Action.RETIRE]
    assert ON.retire_step == 2 and ON.ladder[2].timeout == timedelta(minutes=120)


@pytest.mark.parametrize(
    "ladder",
    [
        (Step(action=Action.RETIRE, timeout=timedelta(hours=1)),),
        (
            Step(action=Action.RETIRE, timeout=timedelta(hours=1)),
            Step(action=Action.REBOOT, timeout=timedelta(hours=1)),
        ),
    ],
)
def test_a_retire_step_needs_the_switch_and_comes_last(ladder: tuple[Step, ...]) -> None:
    with pytest.raises(ValueError, match="retire"):
        RemediationPolicy(ladder=ladder)
    if ladder[-1].action is not Action.RETIRE:
        with pytest.raises(ValueError, match="retire"):
            RemediationPolicy(ladder=ladder, retire_and_restore=True)


def test_a_fault_after_the_replace_climbs_to_retire_only_with_the_switch() -> None:
    later = T0 + timedelta(hours=1)
    history = _after(Action.REPLACE, 1, {Action.REPLACE: (T0,)})
    new = NodeFaults((_fault("e3", later),))

    off = decide(new, history, later, OFF)
    on = decide(new, history, later, ON)

    assert (off.kind, off.reason) == (DecisionKind.NEEDS_HUMAN, Reason.LADDER_EXHAUSTED)
    assert (on.kind, on.reason, on.step) == (DecisionKind.ACT, Reason.RECURRED, 2)


def test_a_lemon_whose_replace_budget_is_spent_is_retired() -> None:
    later = T0 + timedelta(hours=1)
    spent = {Action.REBOOT: (T0,), Action.REPLACE: (T0 - timedelta(days=2), T0 - timedelta(days=1))}
    history = _after(Action.REBOOT, 0, spent)
    new = NodeFaults((_fault("e3", later),))

    off = decide(new, history, later, OFF)
    on = decide(new, history, later, ON)

    assert (off.kind, off.reason) == (DecisionKind.NEEDS_HUMAN, Reason.BUDGET_EXHAUSTED)
    assert (on.kind, on.reason, on.step, on.escalated) == (DecisionKind.ACT, Reason.LEMON, 2, True)


ACT = Decision(DecisionKind.ACT, Reason.RECURRED, step=2, escalated=True)
CONTINUOUS = NodeContext(cluster="c1", group="gpu", provisioning_mode="Continuous", node_type="Compute")


def _history() -> NodeState:
    return NodeState(cluster="c1", node_key=NODE)


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (NodeContext(cluster="c1", group="gpu"), "retire_needs_continuous_provisioning"),
        (NodeContext(cluster="c1", provisioning_mode="Other"), "retire_needs_continuous_provisioning"),
        (
            NodeContext(cluster="c1", provisioning_mode="Continuous", node_type="Controller"),
            "protected_node_type:Controller",
        ),
        (
            NodeContext(cluster="c1", provisioning_mode="Continuous", node_type="Login"),
            "protected_node_type:Login",
        ),
    ],
)
def test_retire_goes_to_a_human_off_continuous_and_for_protected_types(
    context: NodeContext, reason: str
) -> None:
    verdict = guards.after(ACT, Action.RETIRE, _history(), context, T0, Guards())
    assert verdict is not None and (verdict.kind, verdict.reason) == (GuardKind.HUMAN, reason)


def test_a_compute_node_of_a_continuous_cluster_may_be_retired() -> None:
    assert guards.after(ACT, Action.RETIRE, _history(), CONTINUOUS, T0, Guards()) is None


def test_an_excluded_group_is_never_retired() -> None:
    verdict = guards.before([_fault("e1", T0)], CONTINUOUS, T0, Guards(denied_groups=frozenset({"gpu"})))
    assert verdict is not None and verdict.reason == "group_excluded"


@pytest.mark.parametrize(("nodes", "calls"), [(1, 1), (50, 1), (51, 2), (101, 3)])
def test_retires_are_batched_at_the_delete_limit(nodes: int, calls: int) -> None:
    targets = [Target("c1", f"n{i}", instance_id=f"i-{i:017x}") for i in range(nodes)]
    requests = plan_requests((t, Action.RETIRE) for t in targets)
    assert len(requests) == calls
    assert all(r.action is Action.RETIRE and r.id_kind is IdKind.NODE_ID for r in requests)
    assert max(len(r.ids) for r in requests) <= 50
    with pytest.raises(ValueError, match="1-50"):
        BatchRequest("c1", Action.RETIRE, IdKind.NODE_ID, tuple(f"i-{i:017x}" for i in range(51)))
    with pytest.raises(ValueError, match="1-25"):
        BatchRequest("c1", Action.REPLACE, IdKind.NODE_ID, tuple(f"i-{i:017x}" for i in range(26)))
