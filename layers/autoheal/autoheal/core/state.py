"""A node's remediation state as the decision core sees it (status, ladder step, claim, intent, the
recent event ids and action times): plain data, no storage concerns.

The ledger maps its DynamoDB items to and from `NodeState` explicitly (`autoheal.adapters.ledger`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from autoheal.actions import Action

#: How many recent source event ids a node remembers for duplicate detection.
SEEN_EVENTS_KEPT = 32


class NodeStatus(StrEnum):
    IDLE = "idle"  # nothing open
    CLAIMED = "claimed"  # an actor holds the node and is about to call SageMaker
    SENDING = "sending"  # the call is being sent, outcome unknown (a crash here: treated as sent)
    IN_PROGRESS = "in_progress"  # the platform accepted an action
    RETRY_PENDING = "retry_pending"  # a transient failure; a retry is queued
    HELD = "held"  # a fault waits for a hold (pause, breaker, cool-down) to lift; never dropped
    NEEDS_HUMAN = "needs_human"  # we stopped acting; an operator was told
    CLOSED = "closed"  # the node is gone or the fault was closed


#: Statuses that keep a node on the "open" index (status/reconcile queries).
OPEN_STATUSES = frozenset(
    {
        NodeStatus.CLAIMED,
        NodeStatus.SENDING,
        NodeStatus.IN_PROGRESS,
        NodeStatus.RETRY_PENDING,
        NodeStatus.NEEDS_HUMAN,
        NodeStatus.HELD,
    }
)


class LastOutcome(StrEnum):
    ACCEPTED = "accepted"
    HEALED = "healed"  # reconcile saw the node Running after the action
    DRY_RUN = "dry_run"  # decided and recorded, nothing called
    FAILED_TRANSIENT = "failed_transient"
    FAILED = "failed"  # the action did not fix the node (reconcile, or a failure event)
    GONE = "gone"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class NodeState:
    """One node's current remediation state, as the ledger last recorded it (its history of attempts
    is the separate attempt records)."""

    cluster: str
    node_key: str
    version: int = 0
    status: NodeStatus = NodeStatus.IDLE
    step: int = -1  # index into the ladder of the last action; -1 = none yet
    last_action: Action | None = None
    last_action_at: datetime | None = None
    last_attempt_at: datetime | None = None  # last call, whatever its outcome
    last_outcome: LastOutcome | None = None
    last_error_code: str | None = None
    transient_retries: int = 0
    action_times: dict[Action, tuple[datetime, ...]] = field(default_factory=dict)
    seen_event_ids: tuple[str, ...] = ()
    claim_expires_at: datetime | None = None
    instance_id: str | None = None
    node_logical_id: str | None = None
    instance_group: str | None = None
    # the intent recorded by a claim, cleared with the outcome (crash recovery reads it)
    intent_action: Action | None = None
    intent_step: int = -1
    intent_at: datetime | None = None
    intent_instance_id: str | None = None
    # while open: the fault to re-drive, and when a transient retry (or a held fault) is due back
    pending_fault: str | None = None
    # after a heal: the healed fault's signal (the adaptive ladder undoes its success on a recurrence)
    healed_signal: str | None = None
    retry_at: datetime | None = None
    # while HELD: the hold's name (paused, breaker_open, node_cooldown, capacity_cooldown, ...) and
    # since when the fault has been held (kept while it is held again and again)
    hold: str | None = None
    held_since: datetime | None = None
    # the last time an operator handed the node back to automation (`autoheal release`): who, when, why
    released_by: str | None = None
    released_at: datetime | None = None
    release_reason: str | None = None
    # a needs-human notice written with the outcome and not yet published (JSON; reconcile re-sends it)
    notify_pending: str | None = None
    # the retire rung's restore: the BatchAddClusterNodes ClientToken (written with the claim, before
    # any call, reused on every retry), the group's TargetCount read before the retire, the
    # NodeLogicalIds the add returned, when it was last called and where the restore stands
    restore_token: str | None = None
    restore_target: int | None = None
    restore_ids: tuple[str, ...] = ()
    restore_at: datetime | None = None
    restore_status: str | None = None  # RestoreStatus value
    # the add call this retire's restore is part of (several retires share one call): its exact
    # NodesToAdd and this node's slot in it (index among the group's returned ids, sorted); the
    # call's ClientToken is `restore_token`. Written before the call, re-sent as is on every retry.
    restore_batch: tuple[tuple[str, int], ...] = ()
    restore_slot: int | None = None

    def claimed_at(self, now: datetime) -> bool:
        return self.claim_expires_at is not None and self.claim_expires_at > now

    def actions_within(self, action: Action, window: timedelta, now: datetime) -> int:
        return sum(1 for t in self.action_times.get(action, ()) if now - t < window)

    def remember(self, event_ids: tuple[str, ...]) -> NodeState:
        merged = tuple(dict.fromkeys(self.seen_event_ids + event_ids))
        return replace(self, seen_event_ids=merged[-SEEN_EVENTS_KEPT:])
