"""Stage 8b, the `started` step notification: the actions HyperPod accepted in this batch, one message
per cluster listing the nodes (`autoheal.alerts.steps`; off unless `NotifySteps` has `started`).

A step notification is commentary, not a record: a publish that fails is logged and not retried (the
ledger and `autoheal history` have every action).
"""

from __future__ import annotations

from collections.abc import Sequence

from autoheal.adapters.notify import NodeNotice, NotifyError
from autoheal.alerts.steps import NotifyStep
from autoheal.core.results import EntryOutcome
from autoheal.observability import logger
from autoheal.ports import HumanNotifier
from autoheal.remediate.model import NodeRow


def tell_started(rows: Sequence[NodeRow], notifier: HumanNotifier) -> int:
    """Tell the accepted actions among `rows`; returns the messages sent."""
    if NotifyStep.STARTED not in notifier.steps:
        return 0
    started = [
        NodeNotice(
            cluster=r.cluster,
            node_key=r.node_key,
            instance_id=r.instance_id,
            reason=f"{r.action} accepted ({r.reason})",
            last_action=r.action,
            signal=None,
            kind=NotifyStep.STARTED.value,
            details={"step": str(r.step)},
        )
        for r in rows
        if r.outcome == EntryOutcome.ACCEPTED.value and r.action
    ]
    return tell_steps(started, notifier)


def tell_steps(notices: Sequence[NodeNotice], notifier: HumanNotifier) -> int:
    """Publish step notices (grouped per cluster and kind by the notifier); a failure is logged."""
    if not notices:
        return 0
    try:
        return notifier.needs_human(notices)
    except NotifyError:
        logger.exception("step notification not published", extra={"nodes": len(notices)})
        return 0
