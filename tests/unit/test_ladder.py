"""The ladder: reboot first, replace on recurrence or failure, then a human; budgets and windows hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core.ladder import DecisionKind, NodeFaults, Reason, decide
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import Action, Budget, RemediationPolicy, Step

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RemediationPolicy()
NODE = "i-0123456789abcdef0"


def fault(event_id: str = "e1", at: datetime = T0, signal: str = "NvidiaErrorTerminate") -> NodeFault:
    return NodeFault(
        cluster_name="c1",
        instance_id=NODE,
        signal=signal,
        source=FaultSource.NODE_HEALTH,
        source_event_id=event_id,
        observed_at=at,
    )


def faults(*fs: NodeFault) -> NodeFaults:
    return NodeFaults(tuple(fs) or (fault(),))


def fresh() -> NodeState:
    return NodeState(cluster="c1", node_key=NODE)


def after(action: Action, at: datetime, step: int, **kw: object) -> NodeState:
    base = dict(
        version=2,
        status=NodeStatus.IN_PROGRESS,
        step=step,
        last_action=action,
        last_action_at=at,
        last_attempt_at=at,
        last_outcome=LastOutcome.ACCEPTED,
        action_times={action: (at,)},
        seen_event_ids=("e1",),
    )
    base.update(kw)
    return NodeState(cluster="c1", node_key=NODE, **base)  # type: ignore[arg-type]


def test_first_fault_reboots() -> None:
    d = decide(faults(), fresh(), T0, POLICY)
    assert (d.kind, d.reason, d.step, d.escalated) == (DecisionKind.ACT, Reason.FIRST_FAULT, 0, False)
    assert POLICY.ladder[d.step].action is Action.REBOOT


def test_duplicate_event_is_ignored() -> None:
    d = decide(
        faults(fault("e1", T0 + timedelta(hours=1))),
        after(Action.REBOOT, T0, 0),
        T0 + timedelta(hours=1),
        POLICY,
    )
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.DUPLICATE_EVENT)


def test_recurrence_after_reboot_replaces() -> None:
    later = T0 + timedelta(minutes=40)
    d = decide(faults(fault("e2", later)), after(Action.REBOOT, T0, 0), later, POLICY)
    assert (d.kind, d.reason, d.step, d.escalated) == (DecisionKind.ACT, Reason.RECURRED, 1, True)
    assert POLICY.ladder[d.step].action is Action.REPLACE


def test_an_echo_within_the_grace_is_not_a_recurrence() -> None:
    soon = T0 + timedelta(minutes=2)
    d = decide(faults(fault("e2", soon)), after(Action.REBOOT, T0, 0), soon, POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.ECHO_OF_LAST_ACTION)


def test_a_fault_observed_before_the_action_is_not_a_recurrence() -> None:
    d = decide(
        faults(fault("e0", T0 - timedelta(seconds=5))),
        after(Action.REBOOT, T0, 0),
        T0 + timedelta(minutes=1),
        POLICY,
    )
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.PREDATES_LAST_ACTION)


def test_a_fault_after_the_escalation_window_starts_over_with_a_reboot() -> None:
    much_later = T0 + POLICY.escalation_window + timedelta(minutes=1)
    d = decide(faults(fault("e9", much_later)), after(Action.REBOOT, T0, 0), much_later, POLICY)
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.FRESH_FAULT, 0)


def test_a_failure_signal_escalates_at_once() -> None:
    soon = T0 + timedelta(minutes=1)
    d = decide(faults(fault("e2", soon, signal="RebootFailed")), after(Action.REBOOT, T0, 0), soon, POLICY)
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.LAST_ACTION_FAILED, 1)


def test_a_recorded_failure_escalates() -> None:
    later = T0 + timedelta(minutes=31)
    history = after(Action.REBOOT, T0, 0, last_outcome=LastOutcome.FAILED)
    d = decide(faults(fault("e2", later)), history, later, POLICY)
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.LAST_ACTION_FAILED, 1)


def test_past_the_last_rung_a_human_is_needed() -> None:
    later = T0 + timedelta(hours=1)
    d = decide(faults(fault("e3", later)), after(Action.REPLACE, T0, 1), later, POLICY)
    assert (d.kind, d.reason) == (DecisionKind.NEEDS_HUMAN, Reason.LADDER_EXHAUSTED)


def test_the_replace_budget_stops_the_ladder() -> None:
    later = T0 + timedelta(hours=1)
    history = after(
        Action.REBOOT,
        T0,
        0,
        action_times={Action.REBOOT: (T0,), Action.REPLACE: (T0 - timedelta(days=2), T0 - timedelta(days=1))},
    )
    d = decide(faults(fault("e3", later)), history, later, POLICY)
    assert (d.kind, d.reason, d.step) == (DecisionKind.NEEDS_HUMAN, Reason.BUDGET_EXHAUSTED, 1)


def test_replaces_outside_the_budget_window_do_not_count() -> None:
    later = T0 + timedelta(hours=1)
    old = T0 - timedelta(days=8)
    history = after(Action.REBOOT, T0, 0, action_times={Action.REBOOT: (T0,), Action.REPLACE: (old, old)})
    assert decide(faults(fault("e3", later)), history, later, POLICY).kind is DecisionKind.ACT


def test_a_transient_failure_retries_the_same_step() -> None:
    history = after(Action.REBOOT, T0, 1, last_outcome=LastOutcome.FAILED_TRANSIENT, transient_retries=1)
    d = decide(faults(fault("e1", T0)), replace_seen(history), T0 + timedelta(minutes=1), POLICY)
    assert (d.kind, d.reason, d.step, d.retry) == (DecisionKind.ACT, Reason.RETRY, 1, True)


def test_a_first_attempt_that_failed_transiently_is_retried_not_restarted() -> None:
    history = NodeState(
        cluster="c1",
        node_key=NODE,
        version=2,
        status=NodeStatus.RETRY_PENDING,
        step=0,
        last_attempt_at=T0,
        last_outcome=LastOutcome.FAILED_TRANSIENT,
        transient_retries=POLICY.max_transient_retries,
    )
    d = decide(faults(fault("e1", T0)), history, T0 + timedelta(minutes=1), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.NEEDS_HUMAN, Reason.RETRIES_EXHAUSTED)


def test_a_node_held_by_a_live_claim_is_left_alone() -> None:
    history = after(
        Action.REBOOT, T0, 0, status=NodeStatus.CLAIMED, claim_expires_at=T0 + timedelta(minutes=10)
    )
    d = decide(faults(fault("e5", T0 + timedelta(minutes=9))), history, T0 + timedelta(minutes=9), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.ACTION_IN_FLIGHT)


def test_a_node_waiting_for_a_human_is_left_alone() -> None:
    history = after(Action.REPLACE, T0, 1, status=NodeStatus.NEEDS_HUMAN)
    d = decide(faults(fault("e7", T0 + timedelta(hours=2))), history, T0 + timedelta(hours=2), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.AWAITING_HUMAN)


def test_collapsed_faults_use_the_newest_unseen_one() -> None:
    history = after(Action.REBOOT, T0, 0)
    batch = faults(
        fault("e1", T0), fault("e2", T0 + timedelta(minutes=30)), fault("e3", T0 + timedelta(minutes=1))
    )
    d = decide(batch, history, T0 + timedelta(minutes=31), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.ACT, Reason.RECURRED)
    assert batch.event_ids == ("e1", "e2", "e3")


def test_the_ladder_is_data() -> None:
    policy = RemediationPolicy(
        ladder=(Step(action=Action.REPLACE, timeout=timedelta(minutes=30)),),
        budgets={Action.REPLACE: Budget(max_actions=1, window=timedelta(days=1))},
    )
    assert policy.ladder[decide(faults(), fresh(), T0, policy).step].action is Action.REPLACE
    later = T0 + timedelta(hours=1)
    d = decide(faults(fault("e2", later)), after(Action.REPLACE, T0, 0), later, policy)
    assert d.kind is DecisionKind.NEEDS_HUMAN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"ladder": ()},
        {"escalation_window": timedelta(0)},
        {"recurrence_grace": timedelta(hours=7)},
        {"ladder": (Step(action=Action.REBOOT, timeout=timedelta(0)),)},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RemediationPolicy(**kwargs)  # type: ignore[arg-type]


def replace_seen(history: NodeState) -> NodeState:
    """A transient failure forgets the event ids it was for, so the retry is not a duplicate."""
    from dataclasses import replace

    return replace(history, seen_event_ids=())


def test_a_replace_that_found_no_capacity_goes_to_a_human() -> None:
    soon = T0 + timedelta(minutes=3)
    history = after(Action.REPLACE, T0, 1)
    d = decide(faults(fault("e4", soon, signal="InsufficientCapacity")), history, soon, POLICY)
    assert (d.kind, d.reason) == (DecisionKind.NEEDS_HUMAN, Reason.LADDER_EXHAUSTED)


def test_a_failure_report_about_an_older_action_does_not_escalate_again() -> None:
    """RebootFailed (Cluster Event) and ActionFailed (reconcile) about the same reboot: once the
    first has escalated to replace, the second is about the reboot, not the replace."""
    replaced_at = T0 + timedelta(minutes=10)
    history = after(Action.REPLACE, replaced_at, 1)
    late_report = fault("e8", T0 + timedelta(minutes=4), signal="ActionFailed")
    d = decide(faults(late_report), history, replaced_at + timedelta(minutes=1), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.PREDATES_LAST_ACTION)
