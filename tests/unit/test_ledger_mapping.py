"""Ledger items map to and from the decision core's NodeState without loss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from autoheal.adapters.ledger import (
    AttemptRecord,
    attempt_to_item,
    item_to_attempt,
    item_to_state,
    node_pk,
    state_to_item,
)
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_history_round_trips() -> None:
    h = NodeState(
        cluster="c1",
        node_key="lid-1",
        version=3,
        status=NodeStatus.IN_PROGRESS,
        step=1,
        last_action=Action.REPLACE,
        last_action_at=T0,
        last_attempt_at=T0,
        last_outcome=LastOutcome.ACCEPTED,
        action_times={Action.REBOOT: (T0 - timedelta(hours=1),), Action.REPLACE: (T0,)},
        seen_event_ids=("e1", "e2"),
        instance_id="i-0123456789abcdef0",
        node_logical_id="lid-1",
        instance_group="gpu",
    )
    item = state_to_item(h, T0)
    assert item["pk"] == node_pk("c1", "lid-1") and item["sk"] == "STATE"
    assert item["open_cluster"] == "c1"  # open nodes are on the sparse index
    assert item_to_state(item) == h


def test_a_sending_node_with_a_pending_notice_round_trips_on_the_open_index() -> None:
    h = NodeState(
        cluster="c1",
        node_key="lid-1",
        version=5,
        status=NodeStatus.SENDING,
        claim_expires_at=T0,
        intent_action=Action.REBOOT,
        intent_step=0,
        intent_at=T0,
        notify_pending='{"at": "2026-11-25T12:00:00+00:00"}',
    )
    item = state_to_item(h, T0)
    assert item["open_cluster"] == "c1" and item["notify_pending"] == h.notify_pending
    assert item_to_state(item) == h


def test_closed_nodes_leave_the_open_index() -> None:
    item = state_to_item(NodeState(cluster="c1", node_key="n", status=NodeStatus.CLOSED), T0)
    assert "open_cluster" not in item


def test_attempts_carry_a_ttl_and_round_trip() -> None:
    a = AttemptRecord(
        "c1", "lid-1", "abc", Action.REBOOT, 0, T0, "accepted", request_id="r-1", signal="Xid79"
    )
    item = attempt_to_item(a, timedelta(days=30))
    assert item["sk"].startswith("ATTEMPT#2026-11-25")
    assert item["expires_at"] == int((T0 + timedelta(days=30)).timestamp())
    assert item_to_attempt(item) == a


def test_holds_and_releases_round_trip_and_held_nodes_stay_on_the_open_index() -> None:
    held = NodeState(
        cluster="c1", node_key="n", version=2, status=NodeStatus.HELD, hold="paused", held_since=T0
    )
    item = state_to_item(held, T0)
    assert (item["hold"], item["open_cluster"]) == ("paused", "c1")
    assert item_to_state(item) == held
    released = NodeState(
        cluster="c1",
        node_key="n",
        version=3,
        released_by="arn:aws:iam::1:user/a",
        released_at=T0,
        release_reason="ok",
    )
    assert item_to_state(state_to_item(released, T0)) == released
