"""Reconcile's watch over pending approvals (`autoheal.core.approvals`): metered every round, and a
deadline enforced when the held fault did not come back.

- `ApprovalsPending` (how many) and `ApprovalOldestAgeSeconds` (the oldest one's age, 0 when none) every
  scheduled round;
- a pending approval past its deadline by `redrive_after` whose node did not get its fault back (the
  delayed message lost, and the node not recorded as held: reconcile's own re-drive of held faults
  covers that case) -> its fault is sent to the queue again, and remediate applies `ApprovalDefault`.
  Sending it twice is harmless: remediate's decision of a fault it already decided is a duplicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from autoheal.adapters.queue import QueueError
from autoheal.core.approvals import ApprovalStatus
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.ports import Approvals, FaultSink


def watch_approvals(
    approvals: Approvals, queue: FaultSink, now: datetime, redrive_after: timedelta, metrics: MetricCounts
) -> int:
    """Meter the pending approvals and re-send the faults of those overdue; how many were sent."""
    pending = [a for a in approvals.all() if a.status is ApprovalStatus.PENDING]
    metrics.add(Metric.APPROVALS_PENDING, len(pending))
    ages = [int((now - a.created).total_seconds()) for a in pending]
    metrics.add(Metric.APPROVAL_OLDEST_AGE_SECONDS, max([0, *ages]))
    overdue: list[NodeFault] = []
    for a in pending:
        if a.fault and now - a.deadline >= redrive_after:
            overdue.append(NodeFault.model_validate_json(a.fault))
    if not overdue:
        return 0
    try:
        queue.send(overdue)
    except QueueError:  # the next round tries again: the approvals are still pending
        logger.exception("overdue approvals' faults not re-sent", extra={"faults": len(overdue)})
        return 0
    logger.warning("approvals past their deadline: faults re-sent", extra={"faults": len(overdue)})
    return len(overdue)
