"""The node-status table: every status the installed SageMaker model knows is classified, and a status
this version does not know is never acted on nor taken for healthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest

from autoheal.core import guards
from autoheal.core.guards import UNKNOWN_STATUS, GuardKind, NodeContext
from autoheal.core.instance_status import CLASSES, InstanceStatus, StatusClass, status_class
from autoheal.core.ladder import Decision, DecisionKind, Reason
from autoheal.core.reconcile import Observed, Verdict, verdict
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action, Guards, RemediationPolicy

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
POLICY = RemediationPolicy()
ACT = Decision(DecisionKind.ACT, Reason.FIRST_FAULT, step=0)
STUCK = Decision(DecisionKind.ACT, Reason.LAST_ACTION_FAILED, step=1, escalated=True)
OLD = "i-0aaaaaaaaaaaaaaaa"
FUTURE = "HibernationInProgress"  # not in the model: a status a later API version might add


def test_the_table_is_the_models_cluster_instance_status_enum() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert [s.value for s in InstanceStatus] == model.shape_for("ClusterInstanceStatus").enum
    assert set(CLASSES) == set(InstanceStatus)  # every status in exactly one class


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Running", StatusClass.HEALTHY),
        ("Failure", StatusClass.FAILED),
        ("NotFound", StatusClass.GONE),
        ("DetachInProgress", StatusClass.BUSY),
        ("AttachInProgress", StatusClass.BUSY),
        ("Pending", StatusClass.BUSY),
        (FUTURE, StatusClass.UNKNOWN),
        ("running", StatusClass.UNKNOWN),  # case matters: the API's values are exact
        ("", StatusClass.UNKNOWN),
        (None, StatusClass.UNKNOWN),
    ],
)
def test_classes(status: str | None, expected: StatusClass) -> None:
    assert status_class(status) is expected


def after(decision: Decision, status: str | None) -> guards.GuardVerdict | None:
    ctx = NodeContext(cluster_status="InService", group="gpu", group_status="InService", node_status=status)
    history = NodeState(cluster="c1", node_key="n1", last_outcome=LastOutcome.FAILED)
    return guards.after(decision, Action.REBOOT, history, ctx, T0, Guards())


@pytest.mark.parametrize("status", ["DetachInProgress", "AttachInProgress"])
def test_a_busy_node_is_held_unless_stuck_after_a_failed_action(status: str) -> None:
    held = after(ACT, status)
    assert held is not None and (held.kind, held.reason) == (GuardKind.HOLD, f"node_{status}")
    assert after(STUCK, status) is None


@pytest.mark.parametrize("decision", [ACT, STUCK])
def test_an_unknown_status_is_always_held_with_the_status_in_the_detail(decision: Decision) -> None:
    held = after(decision, FUTURE)
    assert held is not None and (held.kind, held.reason) == (GuardKind.HOLD, UNKNOWN_STATUS)
    assert held.detail == f"{UNKNOWN_STATUS}:{FUTURE}"


def test_a_status_not_read_holds_nothing_and_healthy_or_failed_nodes_may_be_acted_on() -> None:
    assert after(ACT, None) is None
    assert after(ACT, "Running") is None
    assert after(ACT, "Failure") is None


def acting() -> NodeState:
    return NodeState(
        cluster="c1",
        node_key="lid-1",
        version=3,
        status=NodeStatus.IN_PROGRESS,
        step=0,
        last_action=Action.REBOOT,
        last_action_at=T0,
        last_outcome=LastOutcome.ACCEPTED,
        instance_id=OLD,
        node_logical_id="lid-1",
    )


@pytest.mark.parametrize(
    ("status", "minutes", "expected"),
    [
        ("NotFound", 1, Verdict.GONE),
        ("DetachInProgress", 10, Verdict.WAIT),  # busy: not healed
        ("AttachInProgress", 31, Verdict.TIMED_OUT),  # ... and timed out like Pending
        (FUTURE, 10, Verdict.WAIT),  # never taken for healthy
        (FUTURE, 31, Verdict.TIMED_OUT),
    ],
)
def test_reconcile_reads_an_action_in_progress_by_class(
    status: str, minutes: float, expected: Verdict
) -> None:
    assert verdict(acting(), Observed(status, OLD), T0 + timedelta(minutes=minutes), POLICY) is expected


@pytest.mark.parametrize(
    "open_state",
    [
        NodeState(cluster="c1", node_key="lid-1", status=NodeStatus.HELD, held_since=T0, instance_id=OLD),
        NodeState(cluster="c1", node_key="lid-1", status=NodeStatus.RETRY_PENDING, retry_at=T0),
        NodeState(
            cluster="c1",
            node_key="lid-1",
            status=NodeStatus.SENDING,
            claim_expires_at=T0,
            intent_action=Action.REBOOT,
            intent_at=T0,
        ),
    ],
)
def test_every_open_node_that_left_the_cluster_is_gone(open_state: NodeState) -> None:
    later = T0 + timedelta(minutes=20)
    assert verdict(open_state, Observed("NotFound", OLD), later, POLICY) is Verdict.GONE
    assert verdict(open_state, None, later, POLICY) is Verdict.GONE
