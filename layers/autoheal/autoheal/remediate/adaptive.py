"""The adaptive ladder's I/O in remediate (issue 17 §2; the rule itself is `autoheal.core.adaptive`).

- `read_counters` (before `decide`): the counters of the batch's signals, one BatchGetItem, and only
  when the adaptive ladder is on (off: no read at all, `decide` uses the static table).
- `count_recurrences` (after the claims are committed): a node claimed on a `fault_recurred` decision
  after a HEALED action moves that action's provisional success (counted by reconcile when it closed
  the node healed) to a failure: `ok - 1` on the healed action's day. This is the one place that sees
  the recurrence and writes once per claim (a redelivered fault is a duplicate event, never claimed
  again). A recurrence handed straight to a human (a budget spent) acts on nothing and is not moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from autoheal.adapters.dynamo import LedgerError
from autoheal.core.ladder import Reason
from autoheal.core.state import LastOutcome, NodeState
from autoheal.observability import logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import LadderStats
from autoheal.remediate.claim import Claimed
from autoheal.remediate.model import Node

RECURRED_RULE = f"ladder: {Reason.RECURRED.value}"


def read_counters(
    nodes: Iterable[Node], policy: RemediationPolicy, stats: LadderStats | None
) -> Mapping[str, Mapping[str, int]]:
    """Per signal, its counters: {} when the adaptive ladder is off (no read) or nothing is stored."""
    if not policy.adaptive.enabled or stats is None:
        return {}
    signals = {f.signal for node in nodes for f in node.faults}
    return stats.counters(signals)


def count_recurrences(claimed: Iterable[Claimed], stats: LadderStats | None) -> int:
    """Undo the success of each healed action whose fault came back; returns how many were moved.
    A failed write is logged (the count is lost), never fails the batch: the actions were taken."""
    moved = 0
    for c in claimed:
        h = c.before
        if stats is None or not _recurred_after_heal(c, h):
            continue
        assert h.last_action is not None and h.last_action_at is not None and h.healed_signal
        try:
            stats.record(h.healed_signal, h.last_action.value, h.last_action_at.date(), 0, -1)
        except LedgerError:
            logger.exception("ladder counters not updated", extra={"signal": h.healed_signal})
            continue
        moved += 1
    return moved


def _recurred_after_heal(c: Claimed, h: NodeState) -> bool:
    return (
        c.decision.rule == RECURRED_RULE
        and h.last_outcome is LastOutcome.HEALED
        and h.last_action is not None
        and h.last_action_at is not None
        and bool(h.healed_signal)
    )
