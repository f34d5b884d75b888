"""How a node's state moves on: every transition of `NodeState`, pure, in one place.

Remediate and reconcile both write node states; neither builds one by hand. Each function takes the
state as read (or as last written by this invocation) and returns the next one with its version bumped,
so the caller writes it conditionally on the version it read.

    idle/retry_pending/in_progress --claim--> claimed --sending--> sending --accepted--> in_progress
                                                  |                         --transient--> retry_pending (or needs_human)
                                                  |                         --gone------> closed
                                                  |                         --permanent--> needs_human
                                                  --released_for_hold--> as before the claim (paused)
    in_progress --healed--> idle
    claimed (its invocation died: nothing was sent) --released--> retry_pending
    sending (its invocation died: treated as sent) --recorded_as_taken--> in_progress (then verified)
    in_progress --failed / timed out--> retry_pending ; any open state --closed_gone--> closed
    decided, not acted --needs_human--> needs_human ; --dry_run--> unchanged but last_outcome
    idle/closed/retry_pending/held --held--> held --(decided again once the hold lifts)--> claimed,
        needs_human, or --hold_closed--> idle (the held fault no longer applies: reason in the row)
    held (its delayed message lost) --redriven--> held ; held, node gone --closed_gone--> closed
    needs_human --handed_back (an operator: `autoheal release`)--> idle, back at the ladder's first rung
    needs_human: `with_notice` (same write as the outcome) --notified--> notice cleared once published
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action


def _next(h: NodeState) -> NodeState:
    return replace(h, version=h.version + 1)


#: Statuses a held fault may be recorded from: nothing else is open on the node (an action in flight,
#: a crashed claim or a human's turn keep their own state; their held fault is only re-queued).
HOLDABLE = frozenset({NodeStatus.IDLE, NodeStatus.CLOSED, NodeStatus.RETRY_PENDING, NodeStatus.HELD})


def _without_hold(h: NodeState) -> NodeState:
    return replace(h, hold=None, held_since=None)


def _without_claim(h: NodeState) -> NodeState:
    """The claim and its intent cleared (the outcome is known, or reconcile settled it)."""
    return replace(
        h, claim_expires_at=None, intent_action=None, intent_step=-1, intent_at=None, intent_instance_id=None
    )


# --- remediate: before the call -----------------------------------------------------------------------


def observed(
    h: NodeState, instance_id: str | None, node_logical_id: str | None, instance_group: str | None
) -> NodeState:
    """The node's ids as the platform lists them now (not a new version: nothing happened yet)."""
    return replace(
        h,
        instance_id=instance_id or h.instance_id,
        node_logical_id=node_logical_id or h.node_logical_id,
        instance_group=instance_group or h.instance_group,
    )


def claimed(
    seen: NodeState,
    read_version: int,
    now: datetime,
    ttl: timedelta,
    action: Action,
    step: int,
    instance_id: str | None,
    pending_fault: str,
) -> NodeState:
    """We hold the node and are about to call; the intent lets reconcile tell what happened if we die
    before the outcome is written."""
    return replace(
        _without_hold(seen),
        status=NodeStatus.CLAIMED,
        version=read_version + 1,
        claim_expires_at=now + ttl,
        intent_action=action,
        intent_step=step,
        intent_at=now,
        intent_instance_id=instance_id,
        pending_fault=pending_fault,
    )


def sending(claim: NodeState) -> NodeState:
    """Written just before the call: from here on a crash means "sent, outcome unknown" and recovery
    treats the call as sent (never sends it twice); before it, a crash left nothing sent."""
    return replace(_next(claim), status=NodeStatus.SENDING)


def released_for_hold(claim: NodeState, before: NodeState) -> NodeState:
    """A hold found just before the call (a pause set while the batch ran): nothing was sent; the node
    is as it was before our claim (the batch's event ids not remembered, so the re-queued fault is not
    a duplicate)."""
    return replace(before, version=claim.version + 1)


def with_notice(h: NodeState, notice: str) -> NodeState:
    """A needs-human notice to publish, carried in the same item write as the outcome that needs it."""
    return replace(h, notify_pending=notice)


def notified(h: NodeState) -> NodeState:
    """The needs-human notice was published."""
    return replace(_next(h), notify_pending=None)


def handed_to_human(seen: NodeState, read_version: int) -> NodeState:
    """The ladder (or a guard) stops here: an operator takes over."""
    return replace(
        _without_hold(seen), status=NodeStatus.NEEDS_HUMAN, version=read_version + 1, claim_expires_at=None
    )


def dry_run(seen: NodeState, read_version: int) -> NodeState:
    """Decided and recorded, nothing called: the ladder state does not move (a held fault is settled)."""
    status = NodeStatus.IDLE if seen.status is NodeStatus.HELD else seen.status
    return replace(
        _without_hold(seen), status=status, version=read_version + 1, last_outcome=LastOutcome.DRY_RUN
    )


def held(
    seen: NodeState, read_version: int, hold: str, now: datetime, due: datetime, pending_fault: str
) -> NodeState:
    """A fault waits for `hold` to lift: recorded with the fault, so reconcile re-drives it if its
    delayed message is lost (`due`: when it should be back). `held_since` is kept while the node stays
    held, whatever the hold (the ceiling counts from the first hold)."""
    assert seen.status in HOLDABLE
    since = seen.held_since if seen.status is NodeStatus.HELD and seen.held_since else now
    return replace(
        seen,
        status=NodeStatus.HELD,
        version=read_version + 1,
        hold=hold,
        held_since=since,
        pending_fault=pending_fault,
        retry_at=due,
    )


def hold_closed(seen: NodeState, read_version: int) -> NodeState:
    """The held fault no longer applies (decided again once the hold lifted: ignored, or its node was
    replaced meanwhile): nothing open is left."""
    return replace(
        _without_hold(seen),
        status=NodeStatus.IDLE,
        version=read_version + 1,
        pending_fault=None,
        retry_at=None,
    )


# --- remediate: the call's per-entry outcome ------------------------------------------------------------


def _settled(claim: NodeState, now: datetime) -> NodeState:
    return replace(_without_claim(_next(claim)), last_attempt_at=now, retry_at=None)


def _taken(h: NodeState, action: Action, step: int, at: datetime) -> NodeState:
    """An action the platform accepted at `at`: the ladder's step and the node's action times move."""
    times = (*h.action_times.get(action, ()), at)
    return replace(
        h,
        status=NodeStatus.IN_PROGRESS,
        step=step,
        last_action=action,
        last_action_at=at,
        last_outcome=LastOutcome.ACCEPTED,
        transient_retries=0,
        action_times={**h.action_times, action: times},
    )


def accepted(claim: NodeState, action: Action, step: int, now: datetime) -> NodeState:
    return replace(_taken(_settled(claim, now), action, step, now), last_error_code=None)


def transient_retry(
    claim: NodeState,
    before: NodeState,
    step: int,
    error_code: str | None,
    retries: int,
    max_retries: int,
    retry_at: datetime,
    now: datetime,
) -> NodeState:
    """A retryable failure: retry the same step later, or hand to a human once the budget is spent.
    The batch's event ids are forgotten (`before`'s kept) so the re-queued fault is not a duplicate."""
    return replace(
        _settled(claim, now),
        seen_event_ids=before.seen_event_ids,
        step=step,
        last_outcome=LastOutcome.FAILED_TRANSIENT,
        last_error_code=error_code,
        transient_retries=retries,
        status=NodeStatus.RETRY_PENDING if retries <= max_retries else NodeStatus.NEEDS_HUMAN,
        retry_at=retry_at,
    )


def entry_gone(claim: NodeState, error_code: str | None, now: datetime) -> NodeState:
    """The node (or its cluster) no longer exists: close it."""
    return replace(
        _settled(claim, now),
        status=NodeStatus.CLOSED,
        last_outcome=LastOutcome.GONE,
        last_error_code=error_code,
        pending_fault=None,
    )


def entry_failed(claim: NodeState, error_code: str | None, now: datetime) -> NodeState:
    """A permanent failure: retrying will not help, a human takes over."""
    return replace(
        _settled(claim, now),
        status=NodeStatus.NEEDS_HUMAN,
        last_outcome=LastOutcome.PERMANENT,
        last_error_code=error_code,
    )


# --- reconcile -------------------------------------------------------------------------------------------


def healed(h: NodeState, instance_id: str | None, signal: str | None = None) -> NodeState:
    """Running again past the healthy delay: the remediation is over. `signal` (the healed fault's)
    is kept so a recurrence can find the success it undoes (the adaptive ladder's counters)."""
    return replace(
        _next(h),
        status=NodeStatus.IDLE,
        last_outcome=LastOutcome.HEALED,
        pending_fault=None,
        healed_signal=signal,
        instance_id=instance_id or h.instance_id,
    )


def action_failed(h: NodeState, now: datetime, fault: str) -> NodeState:
    """Failed or timed out: open until remediate climbs the ladder on `fault` (re-driven if lost)."""
    return replace(
        _next(h),
        status=NodeStatus.RETRY_PENDING,
        last_outcome=LastOutcome.FAILED,
        retry_at=now,
        pending_fault=fault,
    )


def closed_gone(h: NodeState) -> NodeState:
    """The node no longer exists: closed, any claim dropped."""
    return _without_hold(
        _without_claim(
            replace(_next(h), status=NodeStatus.CLOSED, last_outcome=LastOutcome.GONE, pending_fault=None)
        )
    )


def recorded_as_taken(h: NodeState) -> NodeState:
    """A crashed call (`sending`): treated as sent, recorded as taken at its intent time; reconcile then
    verifies it like any action (healed, failed, timed out) and only a new fault acts again."""
    assert h.intent_action is not None and h.intent_at is not None
    taken = _taken(_next(h), h.intent_action, h.intent_step, h.intent_at)
    return _without_claim(replace(taken, last_attempt_at=h.intent_at))


def as_decided_on(h: NodeState, now: datetime) -> NodeState:
    """The state remediate decides a fault on: an expired `sending` (its invocation died during the
    call) counts as the call taken, as reconcile will record it, so a fault arriving before reconcile
    does is judged against that action (an echo, a recurrence), never as a first fault. The version is
    the one read: nothing is written here."""
    if h.status is NodeStatus.SENDING and not h.claimed_at(now) and h.intent_action is not None:
        return replace(recorded_as_taken(h), version=h.version)
    return h


def claim_released(h: NodeState, now: datetime, fault_event_id: str) -> NodeState:
    """A crashed claim whose call was never sent: try again (repeated crashes end with a human);
    the re-driven fault's event id is forgotten so it is not taken for a duplicate."""
    return _without_claim(
        replace(
            _next(h),
            status=NodeStatus.RETRY_PENDING,
            step=h.intent_step,
            last_outcome=LastOutcome.FAILED_TRANSIENT,
            last_attempt_at=h.intent_at or now,
            transient_retries=h.transient_retries + 1,
            retry_at=now,
            seen_event_ids=tuple(e for e in h.seen_event_ids if e != fault_event_id),
        )
    )


def redriven(h: NodeState, now: datetime) -> NodeState:
    """An overdue transient retry or held fault (its delayed message lost) is sent again."""
    return replace(_next(h), retry_at=now)


# --- an operator ----------------------------------------------------------------------------------------


def handed_back(seen: NodeState, read_version: int, by: str, reason: str, now: datetime) -> NodeState:
    """An operator hands a node that needed a human back to automation: nothing is open, and its next
    fault starts the ladder again (its action times stay: the per-node budget still counts them)."""
    return replace(
        _without_claim(seen),
        status=NodeStatus.IDLE,
        version=read_version + 1,
        step=-1,
        transient_retries=0,
        pending_fault=None,
        retry_at=None,
        released_by=by,
        released_at=now,
        release_reason=reason,
    )


# --- the retire rung's restore -------------------------------------------------------------------------


def retire_intended(claim: NodeState, token: str, target: int | None) -> NodeState:
    """A retire's claim carries its restore's ClientToken and the group's TargetCount before the
    retire: both are in the ledger before the delete (and so before the add) is sent."""
    return replace(
        claim, restore_token=token, restore_target=target, restore_status="planned", restore_ids=()
    )


def restore_sending(
    h: NodeState, now: datetime, token: str, nodes_to_add: tuple[tuple[str, int], ...], slot: int
) -> NodeState:
    """Written just before the add: the call this node's restore is part of (its token, its exact
    parameters, the node's slot). From here on the add may have been made, so a retry re-sends that
    same call (same nodes within 8 hours) instead of judging by the counts alone."""
    return replace(h, restore_at=now, restore_token=token, restore_batch=nodes_to_add, restore_slot=slot)


def restore_recorded(
    h: NodeState,
    status: str,
    ids: tuple[str, ...],
    error_code: str | None,
    now: datetime,
    sent: NodeState | None = None,
) -> NodeState:
    """The add's outcome (or that none was needed): kept on the node's state for reconcile, with the
    call it was part of (`sent`: the state written before the call, if one was)."""
    if sent is not None:
        h = replace(
            h,
            restore_token=sent.restore_token,
            restore_batch=sent.restore_batch,
            restore_slot=sent.restore_slot,
            restore_at=sent.restore_at,
        )
    return replace(
        h,
        restore_status=status,
        restore_ids=ids or h.restore_ids,
        restore_at=h.restore_at or now,
        last_error_code=error_code if error_code is not None else h.last_error_code,
    )
