"""Stage 8, requeue and notify: faults to try again later go back on the queue with their delay;
nodes we stopped acting on are told to a human.

A fault that could not be re-queued is not lost: its messages are returned to SQS as batch item
failures (the returned message ids), and SQS redelivers them.
"""

from __future__ import annotations

from collections.abc import Sequence

from autoheal.adapters.notify import HumanNeeded
from autoheal.adapters.queue import QueueError
from autoheal.faults import NodeFault
from autoheal.observability import logger
from autoheal.ports import HumanNotifier, RetryQueue
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


def notify(humans: Sequence[HumanNeeded], notifier: HumanNotifier) -> None:
    sent = notifier.needs_human(humans)
    if humans and not sent:
        logger.warning("nodes need a human but no topic is configured", extra={"nodes": len(humans)})
