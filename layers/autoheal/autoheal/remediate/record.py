"""Stage 7, record: every call entry's outcome becomes the node's next state (`core.transitions`), an
attempt record, a report row and its metrics; transient failures get a jittered backoff and go to
`later`, permanent ones and exhausted retries to a human, whose notice is written in the node's state
item with the outcome (`notify_pending`) and published after. The caller commits states and attempts
in one batch write.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.notify import notice
from autoheal.adapters.sagemaker import CallReceipt
from autoheal.core import transitions
from autoheal.core.ladder import Reason
from autoheal.core.results import EntryOutcome, EntryResult
from autoheal.core.state import NodeState, NodeStatus
from autoheal.observability import Metric, MetricCounts
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate import restore_notices
from autoheal.remediate.act import Acted
from autoheal.remediate.claim import Claimed, human
from autoheal.remediate.model import RETRY_MAX_SECONDS, Effects, Later, NodeRow
from autoheal.remediate.restore import Restores, applied, failed

#: Metric counting accepted node actions, per action.
REQUEST_METRICS: dict[Action, Metric] = {
    Action.REBOOT: Metric.REBOOT_REQUESTS,
    Action.REPLACE: Metric.REPLACE_REQUESTS,
    Action.RETIRE: Metric.RETIRE_REQUESTS,
}


@dataclass
class Recorded:
    states: list[NodeState] = field(default_factory=list)
    attempts: list[AttemptRecord] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)


def record(
    claimed: Sequence[Claimed],
    acted: Acted,
    now: datetime,
    policy: RemediationPolicy,
    rng: random.Random,
    restores: Restores | None = None,
) -> Recorded:
    by_call_id = {(c.node.target.cluster, c.action, c.node.target.api_id): c for c in claimed}
    out = Recorded()
    effects = out.effects
    restored = restores.by_node if restores is not None else {}
    for request, receipt in acted.receipts:
        for result in receipt.results:
            c = by_call_id[(request.cluster, request.action, result.node_id)]
            delay = backoff(c, policy, rng)
            state, row = outcome(c, result, now, policy, delay)
            restoring = restored.get(c.node.target.node_key)
            state = applied(state, restoring, now)
            if restoring is not None and failed(state, restoring):  # retired, not restored: a human
                state = replace(state, status=NodeStatus.NEEDS_HUMAN)
                row = replace(row, reason=f"restore_failed:{restoring.error_code}")
            elif restoring is not None and (info := restore_notices.retired(state, c.node.latest.signal)):
                effects.humans.append(info)  # information: retired, group restored (not stored)
            if state.status is NodeStatus.NEEDS_HUMAN:  # the notice is committed with the outcome
                told = replace(human(state, row.reason, c.node.latest.signal), evidence_uri=c.evidence)
                state = transitions.with_notice(state, notice(told, now))
                effects.humans.append(told)
                effects.notices.append(state)
            out.states.append(state)
            attempt = _attempt(c, result, receipt, now)
            if restoring is not None:  # `autoheal history` shows the restore with the retire
                attempt = replace(attempt, message=_restore_note(state, attempt.message))
            out.attempts.append(attempt)
            effects.rows.append(row)
            _count(c, result, state, now, effects.metrics)
            if state.status is NodeStatus.RETRY_PENDING:
                effects.later.append(Later(c.node, delay))
    return out


def outcome(
    c: Claimed, result: EntryResult, now: datetime, policy: RemediationPolicy, retry_delay: int
) -> tuple[NodeState, NodeRow]:
    """The node's state after the call, and its report row."""
    if result.outcome is EntryOutcome.ACCEPTED:
        state = transitions.accepted(c.claimed, c.action, c.decision.step, now)
        reason = c.decision.reason.value
    elif result.outcome is EntryOutcome.TRANSIENT:
        retries = c.before.transient_retries + 1 if c.decision.retry else 1
        retry_at = now + timedelta(seconds=retry_delay)
        state = transitions.transient_retry(
            c.claimed,
            c.before,
            c.decision.step,
            result.error_code,
            retries,
            policy.max_transient_retries,
            retry_at,
            now,
        )
        reason = (
            "retry_scheduled" if state.status is NodeStatus.RETRY_PENDING else Reason.RETRIES_EXHAUSTED.value
        )
    elif result.outcome in (EntryOutcome.GONE, EntryOutcome.CLUSTER_GONE):
        state = transitions.entry_gone(c.claimed, result.error_code, now)
        reason = result.outcome.value
    else:
        state = transitions.entry_failed(c.claimed, result.error_code, now)
        reason = "permanent_failure"
    row = NodeRow(
        cluster=c.node.target.cluster,
        node_key=c.node.target.node_key,
        instance_id=c.node.target.instance_id,
        decision=c.decision.kind.value,
        reason=reason,
        action=c.action.value,
        step=c.decision.step,
        outcome=result.outcome.value,
        error_code=result.error_code,
    )
    return state, row


def _count(c: Claimed, result: EntryResult, state: NodeState, now: datetime, metrics: MetricCounts) -> None:
    if result.outcome is EntryOutcome.ACCEPTED:
        metrics.add(REQUEST_METRICS[c.action])
        first_seen = min(f.observed_at for f in c.node.faults)
        metrics.observe(Metric.TIME_TO_ACTION, (now - first_seen).total_seconds(), Action=c.action.value)
        if c.decision.escalated:
            metrics.add(Metric.ESCALATIONS)
        return
    metrics.add(Metric.FAILED_ENTRIES, Action=c.action.value, ErrorCode=result.error_code or "Unknown")
    if state.status is NodeStatus.RETRY_PENDING:
        metrics.add(Metric.RETRIES_SCHEDULED)
    elif state.status is NodeStatus.NEEDS_HUMAN:
        metrics.add(Metric.NEEDS_HUMAN)
    elif state.status is NodeStatus.CLOSED:
        metrics.add(Metric.NODES_CLOSED, Reason=result.outcome.value)


def _restore_note(state: NodeState, message: str) -> str:
    ids = ",".join(state.restore_ids) or "none"
    note = (
        f"restore {state.restore_status} under ClientToken {state.restore_token}; added NodeLogicalIds: {ids}"
    )
    return f"{message}; {note}" if message else note


def _attempt(c: Claimed, result: EntryResult, receipt: CallReceipt, now: datetime) -> AttemptRecord:
    return AttemptRecord(
        cluster=c.node.target.cluster,
        node_key=c.node.target.node_key,
        attempt_id=uuid.uuid4().hex[:16],
        action=c.action,
        step=c.decision.step,
        at=now,
        outcome=result.outcome.value,
        error_code=result.error_code,
        message=result.message,
        request_id=receipt.request_id,
        instance_id=c.node.target.instance_id,
        node_logical_id=c.node.target.node_logical_id,
        signal=c.node.latest.signal,
        source_event_ids=c.node.event_ids,
        rule=c.decision.rule or None,
        recommendation=c.node.latest.recommendation,
        evidence_uri=c.evidence,
    )


def backoff(c: Claimed, policy: RemediationPolicy, rng: random.Random) -> int:
    """Jittered exponential backoff for the n-th transient retry of a step."""
    attempt = c.before.transient_retries + 1 if c.decision.retry else 1
    base = policy.retry_backoff.total_seconds() * 2 ** (attempt - 1)
    return int(min(RETRY_MAX_SECONDS, base * rng.uniform(0.8, 1.2)))
