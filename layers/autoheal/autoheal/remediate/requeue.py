"""Stage 8, requeue and notify: faults to try again later go back on the queue with their delay;
nodes we stopped acting on are told to a human (their notices were committed with their outcomes, and
are cleared once published).

A fault that could not be re-queued is not lost: its messages are returned to SQS as batch item
failures (the returned message ids), and SQS redelivers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from autoheal.adapters.notify import HumanNeeded, NotifyError
from autoheal.adapters.queue import QueueError
from autoheal.core import transitions
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault
from autoheal.observability import logger
from autoheal.ports import HumanNotifier, NodeStates, RetryQueue
from autoheal.remediate.model import Later


class ReturnToSource:
    """The retry queue when none is configured: every fault goes back to its own SQS queue (as batch
    item failures), redelivered after the queue's visibility timeout instead of its own delay."""

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        raise QueueError("no retry queue configured: returning the messages to their queue")


def requeue(later: Sequence[Later], queue: RetryQueue) -> list[str]:
    """Re-queue each node's latest fault alone with its delay; the message ids that could not be."""
    failed: list[str] = []
    for item in later:
        try:
            queue.requeue([item.node.latest], item.delay)
        except QueueError:  # the message is not lost: SQS redelivers it
            logger.exception("re-queueing failed; returning the messages as batch item failures")
            failed.extend(item.node.message_ids)
    return failed


def notify(
    humans: Sequence[HumanNeeded],
    notices: Sequence[NodeState],
    notifier: HumanNotifier,
    states: NodeStates,
    now: datetime,
) -> None:
    """One message per cluster; once it is out, the cluster's pending notices are cleared. A publish that
    fails leaves them pending in the ledger (the outcomes are committed): reconcile sends them again."""
    by_cluster: dict[str, list[HumanNeeded]] = {}
    for h in humans:
        by_cluster.setdefault(h.cluster, []).append(h)
    for cluster, members in by_cluster.items():
        try:
            sent = notifier.needs_human(members)
        except NotifyError:
            logger.exception(
                "needs-human notice not published; reconcile sends it again", extra={"cluster": cluster}
            )
            continue
        if not sent:
            logger.warning("nodes need a human but no topic is configured", extra={"nodes": len(members)})
            continue
        for state in notices:
            if state.cluster == cluster:
                states.put_if_unchanged(transitions.notified(state), state.version, now)
