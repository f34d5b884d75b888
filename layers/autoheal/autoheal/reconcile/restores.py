"""Reconcile's part in the retire rung: keep a retire open until its restore is settled.

A retired node leaves the cluster, so the generic rules would close it as gone. Instead, for a node
whose last action (or crashed intent) is a retire with a restore token:

- a crashed `sending` claim is recorded as taken (its token and target kept) and a `RestorePending`
  fault goes through the queue: remediate, the only caller of the API, re-sends the add under the same
  token (within 8 hours: the first call's NodeLogicalIds, never a second node);
- a restore still `planned` (its add failed transiently, the group could not be read, the outcome was
  lost) is re-driven the same way once `redrive_after` has passed;
- an `added` restore is tracked: every added NodeLogicalId `Running` -> closed as restored, the
  operator told (`running`, information); past the policy's `restore_deadline` -> a human, told
  what is known (the ids and their statuses);
- `not_needed`/`running`/`failed` restores fall through to the generic rules (gone -> closed).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from autoheal.adapters.directory import ClusterNodes
from autoheal.adapters.notify import HumanNeeded, notice
from autoheal.core import restore, transitions
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import CLUSTER_ARN_RE, FaultSource, NodeFault
from autoheal.observability import Metric, MetricCounts, signal_class
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate import restore_notices

#: The signal of the fault that asks remediate to resume a restore.
RESTORE_PENDING = "RestorePending"


def owns(h: NodeState, now: datetime) -> bool:
    """Is this node a retire whose restore is not settled (so not for the generic rules)?"""
    if h.restore_token is None or not (restore.pending(h) or restore.tracking(h)):
        return False
    crashed = h.status is NodeStatus.SENDING and not h.claimed_at(now) and h.intent_action is Action.RETIRE
    return crashed or (h.status is NodeStatus.IN_PROGRESS and h.last_action is Action.RETIRE)


def restore_fault(h: NodeState, now: datetime) -> NodeFault:
    """A fault that asks remediate to resume this retire's restore (under its stored token)."""
    is_arn = bool(CLUSTER_ARN_RE.fullmatch(h.cluster))
    return NodeFault(
        cluster_name=None if is_arn else h.cluster,
        cluster_arn=h.cluster if is_arn else None,
        instance_id=h.instance_id,
        node_logical_id=h.node_logical_id,
        instance_group=h.instance_group,
        signal=RESTORE_PENDING,
        reason=f"reconcile: restore {h.restore_status or 'planned'} under token {h.restore_token}",
        source=FaultSource.RECONCILE,
        source_event_id=f"restore:{h.node_key}:{now.isoformat()}"[:256],
        observed_at=now,
        received_at=now,
    )


def judge(
    h: NodeState, nodes: ClusterNodes | None, now: datetime, policy: RemediationPolicy, metrics: MetricCounts
) -> tuple[NodeState | None, NodeFault | None, str]:
    """(new state or None to leave it, a fault to enqueue, the row's verdict) for a node `owns` took."""
    if h.status is NodeStatus.SENDING:
        metrics.add(Metric.CLAIMS_RECOVERED, Resolution="recorded_as_taken")
        return transitions.recorded_as_taken(h), restore_fault(h, now), "restore_resumed"
    if restore.pending(h):
        since = h.retry_at or h.restore_at or h.last_action_at or now
        if now - since < policy.redrive_after:
            return None, None, "wait"
        metrics.add(Metric.RETRIES_REDRIVEN)
        return (
            replace(transitions.redriven(h, now), status=NodeStatus.IN_PROGRESS),
            restore_fault(h, now),
            "restore_resumed",
        )
    statuses = _statuses(h, nodes)
    if statuses and all(s == "Running" for s in statuses.values()):
        metrics.add(
            Metric.ACTION_RESULTS, Action=Action.RETIRE.value, Signal=_signal_class(h), Result="healed"
        )
        if h.last_action_at is not None:
            metrics.observe(
                Metric.TIME_TO_HEALTHY, (now - h.last_action_at).total_seconds(), Action=Action.RETIRE.value
            )
        return restored(h), None, "restored"
    if h.restore_at is not None and now - h.restore_at > policy.restore_deadline:
        metrics.add(Metric.RESTORE_FAILURES, ErrorCode="DeadlinePassed")
        metrics.add(Metric.NEEDS_HUMAN)
        stopped = transitions.handed_to_human(h, h.version)
        told = HumanNeeded(
            h.cluster,
            h.node_key,
            h.instance_id,
            f"restore_deadline_passed ({what_is_known(h, nodes)})",
            "retire",
            None,
            kind="restore_deadline",
            details={"group": h.instance_group or ""},
        )
        return transitions.with_notice(stopped, notice(told, now)), None, "restore_deadline_passed"
    return None, None, "wait"


def running(h: NodeState, verdict: str, now: datetime) -> HumanNeeded | None:
    """The operator's notice for a restore this round closed (`restored`), else None."""
    if verdict != "restored":
        return None
    return restore_notices.running(h, restore_notices.signal_of(h), now)


def _signal_class(h: NodeState) -> str:
    """The lemon's fault signal class (a bounded metric dimension), from the fault kept on its state."""
    fault = NodeFault.model_validate_json(h.pending_fault) if h.pending_fault else None
    return signal_class(fault.signal, fault.source) if fault else signal_class(None)


def restored(h: NodeState) -> NodeState:
    """Every added node runs: the retire is over, and the node (gone from the cluster) is closed."""
    closed = transitions.closed_gone(h)
    return replace(
        closed, restore_status=restore.RestoreStatus.RUNNING.value, last_outcome=LastOutcome.HEALED
    )


def _statuses(h: NodeState, nodes: ClusterNodes | None) -> dict[str, str]:
    if nodes is None:
        return {}
    found = {i: nodes.find(None, i) for i in h.restore_ids}
    return {i: (info.status or "") if info else "NotListed" for i, info in found.items()}


def what_is_known(h: NodeState, nodes: ClusterNodes | None) -> str:
    """For the human: the restore's token and each added node's status."""
    statuses = ", ".join(f"{i}={s}" for i, s in _statuses(h, nodes).items()) or "no node listed"
    return f"restore token {h.restore_token}: {statuses}"
