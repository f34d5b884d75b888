"""The pure reconcile verdict: given an open node's ledger state, what the platform says about the node
now, and the clock — did the action work, fail, time out, or is something stuck?

No I/O. `autoheal.reconcile.service` reads the ledger and ListClusterNodes, asks this module, and
applies the verdicts (close, escalate through the queue, record a crashed action, re-drive a retry).
The node's status is read through `autoheal.core.instance_status`: a node not listed, or listed as
`NotFound`, is gone; only a healthy one heals, only a failed one fails; any other status waits until
the step's timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from autoheal.core.instance_status import StatusClass, is_gone, status_class
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action, RemediationPolicy


class Verdict(StrEnum):
    WAIT = "wait"  # the action is still within its time; look again later
    HEALED = "healed"  # Running again, past the healthy delay: the action worked
    FAILED = "failed"  # the node is in Failure: climb the ladder
    TIMED_OUT = "timed_out"  # past the step's timeout and not healthy: climb the ladder
    GONE = "gone"  # the node no longer exists (not listed, or listed as NotFound): close
    RECORD_TAKEN = "record_taken"  # a crashed call (`sending`): treated as sent, then verified
    RELEASE_CLAIM = "release_claim"  # a crashed claim, nothing sent: try again
    REDRIVE = "redrive"  # a transient retry or a held fault is overdue (its message was lost): re-drive it
    REPLACED = "replaced"  # a held fault's instance was replaced meanwhile: the fault is closed


@dataclass(frozen=True)
class Observed:
    """The node as ListClusterNodes shows it now (None of it when the node is not listed)."""

    status: str
    instance_id: str | None


def _gone(seen: Observed | None) -> bool:
    return seen is None or is_gone(seen.status)


@dataclass(frozen=True)
class _Ctx:
    history: NodeState
    observed: Observed | None
    now: datetime
    policy: RemediationPolicy


Rule = Callable[[_Ctx], Verdict | None]


def _in_progress(ctx: _Ctx) -> Verdict | None:
    h, seen = ctx.history, ctx.observed
    if h.status is not NodeStatus.IN_PROGRESS or h.last_action_at is None:
        return None
    if seen is None or _gone(seen):
        return Verdict.GONE
    found = status_class(seen.status)
    if found is StatusClass.FAILED:
        return Verdict.FAILED
    step = ctx.policy.step(h.step)
    elapsed = ctx.now - h.last_action_at
    healthy = found is StatusClass.HEALTHY
    if healthy and elapsed >= ctx.policy.healthy_delay and _action_visible(h, seen):
        return Verdict.HEALED
    if step is not None and elapsed > step.timeout:
        return Verdict.TIMED_OUT
    return Verdict.WAIT


def _action_visible(h: NodeState, seen: Observed) -> bool:
    """A replace is only done once the node runs on a new instance."""
    if h.last_action is Action.REPLACE and h.instance_id and seen.instance_id:
        return seen.instance_id != h.instance_id
    return True


def _crashed_claim(ctx: _Ctx) -> Verdict | None:
    """An expired claim: its invocation died. `claimed` means it died before `sending` was written, so
    nothing was sent: release it. `sending` means the call may have gone out: treat it as sent (never
    send it twice); reconcile then verifies it from the node's status like any action, and only a new
    fault acts again."""
    h, seen = ctx.history, ctx.observed
    if h.status not in (NodeStatus.CLAIMED, NodeStatus.SENDING) or h.claimed_at(ctx.now):
        return None
    if _gone(seen):
        return Verdict.GONE
    if h.status is NodeStatus.SENDING and h.intent_action is not None:
        return Verdict.RECORD_TAKEN
    return Verdict.RELEASE_CLAIM


def _held(ctx: _Ctx) -> Verdict | None:
    """A held fault about a node that is gone, or now runs on another instance, no longer applies."""
    h, seen = ctx.history, ctx.observed
    if h.status is not NodeStatus.HELD:
        return None
    if seen is None or _gone(seen):
        return Verdict.GONE
    if h.instance_id and seen.instance_id and seen.instance_id != h.instance_id:
        return Verdict.REPLACED
    return None


def _overdue_retry(ctx: _Ctx) -> Verdict | None:
    """A retry of a node that left the cluster has nothing left to act on: closed, not re-driven."""
    h = ctx.history
    if h.status not in (NodeStatus.RETRY_PENDING, NodeStatus.HELD):
        return None
    if h.status is NodeStatus.RETRY_PENDING and _gone(ctx.observed):
        return Verdict.GONE
    due = h.retry_at or h.last_attempt_at
    if due is not None and ctx.now - due >= ctx.policy.redrive_after:
        return Verdict.REDRIVE
    return Verdict.WAIT


RULES: Sequence[Rule] = (_in_progress, _crashed_claim, _held, _overdue_retry)


def verdict(
    history: NodeState, observed: Observed | None, now: datetime, policy: RemediationPolicy
) -> Verdict:
    """What reconcile should do about one open node (WAIT for anything it does not own)."""
    ctx = _Ctx(history, observed, now, policy)
    for rule in RULES:
        found = rule(ctx)
        if found is not None:
            return found
    return Verdict.WAIT
