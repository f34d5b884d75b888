"""A node's state transitions (`core.transitions`), with plain data: claim, every call outcome, the
reconcile verdicts, needs-human and dry run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from autoheal.core import transitions
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=20)
OLD, NEW = "i-0aaaaaaaaaaaaaaaa", "i-0bbbbbbbbbbbbbbbb"
INTENT_FIELDS = ("claim_expires_at", "intent_action", "intent_at", "intent_instance_id")


def idle(**changes: object) -> NodeState:
    base = NodeState(
        cluster="c1",
        node_key="lid-1",
        version=4,
        instance_id=OLD,
        node_logical_id="lid-1",
        seen_event_ids=("e-old",),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def claim(h: NodeState | None = None, action: Action = Action.REBOOT, step: int = 0) -> NodeState:
    h = h or idle()
    seen = h.remember(("e-new",))
    return transitions.claimed(seen, h.version, T0, timedelta(minutes=15), action, step, OLD, '{"fault": 1}')


def assert_no_claim(h: NodeState) -> None:
    assert all(getattr(h, name) is None for name in INTENT_FIELDS)
    assert h.intent_step == -1


def test_a_claim_records_the_intent_and_bumps_the_version_read() -> None:
    c = claim(action=Action.REPLACE, step=1)
    assert (c.status, c.version) == (NodeStatus.CLAIMED, 5)
    assert c.claim_expires_at == T0 + timedelta(minutes=15) and c.claimed_at(T0)
    assert (c.intent_action, c.intent_step, c.intent_at, c.intent_instance_id) == (Action.REPLACE, 1, T0, OLD)
    assert c.pending_fault == '{"fault": 1}' and c.seen_event_ids == ("e-old", "e-new")


def test_observed_ids_fill_in_without_a_new_version() -> None:
    h = transitions.observed(idle(instance_group=None), NEW, None, "gpu")
    assert (h.instance_id, h.node_logical_id, h.instance_group, h.version) == (NEW, "lid-1", "gpu", 4)


def test_accepted_moves_the_ladder_and_clears_the_claim() -> None:
    before = idle(action_times={Action.REBOOT: (T0 - timedelta(days=1),)}, transient_retries=2)
    s = transitions.accepted(claim(before), Action.REBOOT, 0, LATER)
    assert (s.status, s.version, s.step, s.last_action) == (NodeStatus.IN_PROGRESS, 6, 0, Action.REBOOT)
    assert (s.last_action_at, s.last_attempt_at, s.last_outcome) == (LATER, LATER, LastOutcome.ACCEPTED)
    assert s.transient_retries == 0 and s.last_error_code is None and s.retry_at is None
    assert s.action_times[Action.REBOOT] == (T0 - timedelta(days=1), LATER)
    assert_no_claim(s)


def test_a_transient_failure_retries_the_step_and_forgets_the_batch_events() -> None:
    before = idle()
    retry_at = LATER + timedelta(seconds=60)
    s = transitions.transient_retry(claim(before), before, 0, "InstanceIdInUse", 1, 3, retry_at, LATER)
    assert (s.status, s.step, s.transient_retries) == (NodeStatus.RETRY_PENDING, 0, 1)
    assert (s.last_outcome, s.last_error_code) == (LastOutcome.FAILED_TRANSIENT, "InstanceIdInUse")
    assert (s.retry_at, s.last_attempt_at) == (retry_at, LATER)
    assert s.seen_event_ids == ("e-old",) and s.last_action is None
    assert_no_claim(s)


def test_retries_past_the_budget_go_to_a_human() -> None:
    before = idle()
    s = transitions.transient_retry(claim(before), before, 0, "InternalServerError", 4, 3, LATER, LATER)
    assert s.status is NodeStatus.NEEDS_HUMAN


def test_a_gone_entry_closes_the_node_and_a_permanent_one_hands_it_over() -> None:
    gone = transitions.entry_gone(claim(), "InstanceIdNotFound", LATER)
    assert (gone.status, gone.last_outcome, gone.pending_fault) == (NodeStatus.CLOSED, LastOutcome.GONE, None)
    failed = transitions.entry_failed(claim(), "ValidationException", LATER)
    assert (failed.status, failed.last_outcome) == (NodeStatus.NEEDS_HUMAN, LastOutcome.PERMANENT)
    assert failed.last_error_code == "ValidationException" and failed.pending_fault == '{"fault": 1}'
    for s in (gone, failed):
        assert s.version == 6 and s.last_attempt_at == LATER
        assert_no_claim(s)


def test_needs_human_and_dry_run_before_any_call() -> None:
    h = idle(status=NodeStatus.IN_PROGRESS, claim_expires_at=T0)
    human = transitions.handed_to_human(h, h.version)
    assert (human.status, human.version, human.claim_expires_at) == (NodeStatus.NEEDS_HUMAN, 5, None)
    dry = transitions.dry_run(h, h.version)
    assert (dry.status, dry.version, dry.last_outcome) == (NodeStatus.IN_PROGRESS, 5, LastOutcome.DRY_RUN)
    assert dry.step == h.step and dry.last_action is None


def in_progress() -> NodeState:
    return transitions.accepted(claim(), Action.REPLACE, 1, T0)


def test_healed_closes_the_remediation_on_the_new_instance() -> None:
    s = transitions.healed(in_progress(), NEW)
    assert (s.status, s.last_outcome, s.pending_fault, s.instance_id) == (
        NodeStatus.IDLE,
        LastOutcome.HEALED,
        None,
        NEW,
    )
    assert transitions.healed(in_progress(), None).instance_id == OLD


def test_a_failed_or_timed_out_action_waits_for_the_next_step() -> None:
    s = transitions.action_failed(in_progress(), LATER, '{"signal": "ActionFailed"}')
    assert (s.status, s.last_outcome, s.retry_at) == (NodeStatus.RETRY_PENDING, LastOutcome.FAILED, LATER)
    assert s.pending_fault == '{"signal": "ActionFailed"}' and s.step == 1


def test_gone_closes_any_open_state_and_drops_a_claim() -> None:
    s = transitions.closed_gone(claim())
    assert (s.status, s.last_outcome, s.version) == (NodeStatus.CLOSED, LastOutcome.GONE, 6)
    assert_no_claim(s)


def test_sending_keeps_the_claim_and_its_intent() -> None:
    c = claim(action=Action.REPLACE, step=1)
    s = transitions.sending(c)
    assert (s.status, s.version) == (NodeStatus.SENDING, c.version + 1)
    assert s.claimed_at(T0) and (s.intent_action, s.intent_step, s.intent_at) == (Action.REPLACE, 1, T0)
    accepted = transitions.accepted(s, Action.REPLACE, 1, LATER)  # the outcome follows the sending write
    assert (accepted.status, accepted.version) == (NodeStatus.IN_PROGRESS, s.version + 1)


def test_a_claim_released_for_a_hold_is_the_node_as_before_it() -> None:
    before = idle(status=NodeStatus.RETRY_PENDING, transient_retries=1)
    c = claim(before)
    s = transitions.released_for_hold(c, before)
    assert s == replace(before, version=c.version + 1)  # the batch's event ids are not remembered
    assert s.status is NodeStatus.RETRY_PENDING and not s.claimed_at(T0)


def test_a_notice_rides_with_the_outcome_and_is_cleared_once_published() -> None:
    h = transitions.entry_failed(claim(), "ValidationException", LATER)
    noticed = transitions.with_notice(h, '{"at": "x"}')
    assert (noticed.notify_pending, noticed.version) == ('{"at": "x"}', h.version)  # the same write
    cleared = transitions.notified(noticed)
    assert (cleared.notify_pending, cleared.version, cleared.status) == (None, h.version + 1, h.status)


def test_a_crashed_call_is_recorded_as_taken_at_its_intent_time() -> None:
    s = transitions.recorded_as_taken(transitions.sending(claim(action=Action.REPLACE, step=1)))
    assert (s.status, s.step, s.last_action) == (NodeStatus.IN_PROGRESS, 1, Action.REPLACE)
    assert (s.last_action_at, s.last_attempt_at, s.last_outcome) == (T0, T0, LastOutcome.ACCEPTED)
    assert s.action_times[Action.REPLACE] == (T0,)
    assert_no_claim(s)


def test_a_crashed_claim_that_never_sent_is_released_for_a_retry() -> None:
    s = transitions.claim_released(claim(), LATER, "e-new")
    assert (s.status, s.step, s.last_outcome) == (NodeStatus.RETRY_PENDING, 0, LastOutcome.FAILED_TRANSIENT)
    assert (s.transient_retries, s.retry_at, s.last_attempt_at) == (1, LATER, T0)
    assert s.seen_event_ids == ("e-old",)  # the re-driven fault is not a duplicate
    assert_no_claim(s)


def test_an_overdue_retry_is_redriven() -> None:
    before = idle()
    pending = transitions.transient_retry(claim(before), before, 0, "InstanceIdInUse", 1, 3, T0, T0)
    s = transitions.redriven(pending, LATER)
    assert (s.status, s.retry_at, s.version) == (NodeStatus.RETRY_PENDING, LATER, pending.version + 1)


def test_a_held_fault_is_recorded_with_its_hold_and_keeps_its_first_held_since() -> None:
    h = transitions.held(idle(), 4, "paused", T0, T0 + timedelta(minutes=15), '{"fault": 1}')
    assert (h.status, h.version, h.hold, h.held_since, h.retry_at) == (
        NodeStatus.HELD,
        5,
        "paused",
        T0,
        T0 + timedelta(minutes=15),
    )
    assert h.pending_fault == '{"fault": 1}' and h.seen_event_ids == (
        "e-old",
    )  # not remembered: not acted on
    again = transitions.held(h, 5, "breaker_open", LATER, LATER + timedelta(minutes=15), '{"fault": 1}')
    assert (again.hold, again.held_since, again.version) == ("breaker_open", T0, 6)


def test_a_lifted_hold_is_cleared_by_the_claim_a_human_or_its_closing() -> None:
    h = transitions.held(idle(), 4, "paused", T0, LATER, '{"fault": 1}')
    for after in (claim(h), transitions.handed_to_human(h, 5), transitions.hold_closed(h, 5)):
        assert (after.hold, after.held_since) == (None, None)
    closed = transitions.hold_closed(h, 5)
    assert (closed.status, closed.pending_fault, closed.retry_at) == (NodeStatus.IDLE, None, None)
    assert transitions.dry_run(h, 5).status is NodeStatus.IDLE
    assert transitions.closed_gone(h).hold is None


def test_an_expired_sending_is_decided_on_as_the_call_taken_without_a_new_version() -> None:
    s = transitions.sending(claim(action=Action.REBOOT, step=0))
    assert transitions.as_decided_on(s, T0) is s  # the claim still holds: its holder decides
    seen = transitions.as_decided_on(s, LATER)
    assert (seen.status, seen.version, seen.last_action, seen.last_action_at) == (
        NodeStatus.IN_PROGRESS,
        s.version,
        Action.REBOOT,
        T0,
    )
    expired_claim = claim()  # `claimed`: nothing was sent, decided on as it is
    assert transitions.as_decided_on(expired_claim, LATER) is expired_claim
