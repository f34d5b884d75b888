"""Reconcile's pure verdicts: healed, failed, timed out, gone, crashed claims, overdue retries."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core.reconcile import Observed, Verdict, verdict
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action, RemediationPolicy

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RemediationPolicy()
OLD, NEW = "i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"


def acting(action: Action = Action.REBOOT, step: int = 0) -> NodeState:
    return NodeState(
        cluster="c1",
        node_key="lid-1",
        version=3,
        status=NodeStatus.IN_PROGRESS,
        step=step,
        last_action=action,
        last_action_at=T0,
        last_outcome=LastOutcome.ACCEPTED,
        instance_id=OLD,
        node_logical_id="lid-1",
    )


def claimed(intent: Action, expires: datetime = T0 + timedelta(minutes=15)) -> NodeState:
    return NodeState(
        cluster="c1",
        node_key="lid-1",
        version=2,
        status=NodeStatus.CLAIMED,
        claim_expires_at=expires,
        intent_action=intent,
        intent_step=0 if intent is Action.REBOOT else 1,
        intent_at=T0,
        intent_instance_id=OLD,
        instance_id=OLD,
        node_logical_id="lid-1",
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("minutes", "status", "expected"),
    [
        (6, "Running", Verdict.HEALED),
        (2, "Running", Verdict.WAIT),  # too soon to call it healthy
        (10, "Pending", Verdict.WAIT),  # still rebooting, within the 30 minute step timeout
        (31, "Pending", Verdict.TIMED_OUT),
        (3, "Failure", Verdict.FAILED),
    ],
)
def test_a_reboot_in_progress(minutes: float, status: str, expected: Verdict) -> None:
    assert verdict(acting(), Observed(status, OLD), at(minutes), POLICY) is expected


def test_a_replace_is_only_healed_on_a_new_instance() -> None:
    h = acting(Action.REPLACE, 1)
    assert verdict(h, Observed("Running", OLD), at(20), POLICY) is Verdict.WAIT
    assert verdict(h, Observed("Running", NEW), at(20), POLICY) is Verdict.HEALED
    assert verdict(h, Observed("Pending", NEW), at(46), POLICY) is Verdict.TIMED_OUT


def test_a_node_that_is_not_listed_any_more_is_gone() -> None:
    assert verdict(acting(), None, at(1), POLICY) is Verdict.GONE


def test_a_live_claim_is_left_to_its_holder() -> None:
    assert verdict(claimed(Action.REPLACE), Observed("Running", OLD), at(5), POLICY) is Verdict.WAIT


STATUSES_SEEN = [
    Observed("Running", NEW),
    Observed("ShuttingDown", OLD),
    Observed("Running", OLD),
    Observed("Pending", OLD),
]


@pytest.mark.parametrize("intent", [Action.REBOOT, Action.REPLACE])
@pytest.mark.parametrize("observed", STATUSES_SEEN)
def test_a_claim_whose_holder_died_before_sending_is_released(intent: Action, observed: Observed) -> None:
    """`claimed` is written before `sending`: nothing was sent, whatever the node looks like now (issue
    15 item 6: the node's status used to be taken as evidence, and a finished reboot was sent again)."""
    assert verdict(claimed(intent), observed, at(16), POLICY) is Verdict.RELEASE_CLAIM


@pytest.mark.parametrize("intent", [Action.REBOOT, Action.REPLACE])
@pytest.mark.parametrize("observed", STATUSES_SEEN)
def test_a_claim_whose_holder_died_while_sending_is_recorded_as_taken(
    intent: Action, observed: Observed
) -> None:
    """`sending`: the call may have reached the platform: treated as sent, never sent again."""
    h = replace(claimed(intent), status=NodeStatus.SENDING)
    assert verdict(h, observed, at(5), POLICY) is Verdict.WAIT  # the claim still holds
    assert verdict(h, observed, at(16), POLICY) is Verdict.RECORD_TAKEN
    assert verdict(h, None, at(16), POLICY) is Verdict.GONE


def test_an_overdue_retry_is_redriven() -> None:
    h = replace(
        acting(), status=NodeStatus.RETRY_PENDING, last_outcome=LastOutcome.FAILED_TRANSIENT, retry_at=T0
    )
    assert verdict(h, Observed("Running", OLD), at(5), POLICY) is Verdict.WAIT
    assert verdict(h, Observed("Running", OLD), at(11), POLICY) is Verdict.REDRIVE


@pytest.mark.parametrize("status", [NodeStatus.NEEDS_HUMAN, NodeStatus.IDLE, NodeStatus.CLOSED])
def test_nodes_reconcile_does_not_own_are_left_alone(status: NodeStatus) -> None:
    assert verdict(replace(acting(), status=status), Observed("Failure", OLD), at(60), POLICY) is Verdict.WAIT


def held() -> NodeState:
    return NodeState(
        cluster="c1",
        node_key="lid-1",
        version=2,
        status=NodeStatus.HELD,
        hold="paused",
        held_since=T0,
        retry_at=T0 + timedelta(minutes=15),
        instance_id=OLD,
        node_logical_id="lid-1",
    )


def test_a_held_fault_is_redriven_when_its_message_is_overdue_and_closed_when_its_node_moved_on() -> None:
    assert verdict(held(), Observed("Running", OLD), at(20), POLICY) is Verdict.WAIT
    assert verdict(held(), Observed("Running", OLD), at(26), POLICY) is Verdict.REDRIVE
    assert verdict(held(), Observed("Running", NEW), at(5), POLICY) is Verdict.REPLACED
    assert verdict(held(), None, at(5), POLICY) is Verdict.GONE
