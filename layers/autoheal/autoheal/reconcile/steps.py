"""The step notifications reconcile sees (`autoheal.alerts.steps`): `healed` (actions it verified this
round) and `stuck` (actions running more than twice their expected time, told once per action through
a rate-limit record, `ports.Notices`). One message per cluster and step per round, listing the nodes;
each step only when `NotifySteps` has it. Commentary, not a record: a failed publish or rate-limit write
is logged and the round goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.notify import NodeNotice
from autoheal.alerts.steps import EXPECTED, NotifyStep, stuck_for
from autoheal.core.state import NodeState
from autoheal.observability import logger
from autoheal.ports import HumanNotifier, Notices
from autoheal.remediate.steps import tell_steps

#: A stuck action is told once: its rate-limit record outlives any step's timeout.
STUCK_TOLD_FOR = timedelta(days=7)


def tell_round(
    healed: Sequence[tuple[NodeState, NodeState]],
    waiting: Sequence[NodeState],
    notifier: HumanNotifier,
    notices: Notices | None,
    now: datetime,
) -> int:
    """`healed`: (before, after) of each node closed as healed this round; `waiting`: the open nodes
    left as they were. Returns the messages sent."""
    told: list[NodeNotice] = []
    if NotifyStep.HEALED in notifier.steps:
        told += [_healed(before, after, now) for before, after in healed]
    if NotifyStep.STUCK in notifier.steps:
        told += [n for h in waiting if (n := _stuck(h, notices, now)) is not None]
    return tell_steps(told, notifier)


def _healed(before: NodeState, after: NodeState, now: datetime) -> NodeNotice:
    took = _minutes(now - before.last_action_at) if before.last_action_at else "?"
    action = before.last_action.value if before.last_action else None
    return NodeNotice(
        cluster=before.cluster,
        node_key=before.node_key,
        instance_id=after.instance_id or before.instance_id,
        reason=f"healed after {action or 'its action'}",
        last_action=action,
        signal=None,
        kind=NotifyStep.HEALED.value,
        details={"took": took},
    )


def _stuck(h: NodeState, notices: Notices | None, now: datetime) -> NodeNotice | None:
    elapsed = stuck_for(h, now)
    if elapsed is None or h.last_action is None or h.last_action_at is None:
        return None
    subject = f"stuck#{h.cluster}#{h.node_key}#{h.last_action_at.isoformat()}"
    try:
        if notices is not None and not notices.first_notice(subject, now, STUCK_TOLD_FOR):
            return None  # told already
    except LedgerError:
        logger.exception("stuck notice not rate-limited; not sent this round", extra={"node": h.node_key})
        return None
    return NodeNotice(
        cluster=h.cluster,
        node_key=h.node_key,
        instance_id=h.instance_id,
        reason=f"{h.last_action.value} running for {_minutes(elapsed)}",
        last_action=h.last_action.value,
        signal=None,
        kind=NotifyStep.STUCK.value,
        details={
            "expected": _minutes(EXPECTED[h.last_action]),
            "since": h.last_action_at.isoformat(),
        },
    )


def _minutes(span: timedelta) -> str:
    return f"{int(span.total_seconds() // 60)} min"
