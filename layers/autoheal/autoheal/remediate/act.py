"""Stage 6, act: the claimed nodes in the fewest SageMaker calls (<= 25 ids each), one typed receipt
per call.

Immediately before each call, two small steps guard it:

1. the pause is read again for the call's cluster and the global scope (one BatchGetItem per call, not
   per node): a pause set while a large batch runs stops its remaining calls (a call of the cluster
   running side by side and already past this check still goes: `lanes`); their nodes' claims give
   way to held records and their faults are re-queued, like the pause hold at planning;
2. the call's nodes are marked `sending` (one BatchWriteItem per call, under our claims): if the
   process dies after this point, recovery treats the call as sent and never sends it again; before
   it, nothing was sent and the expired claim is simply released.

Between the two, `evidence.capture_before` writes an evidence bundle per node of a replace or retire
call (a node whose bundle is required and missing gives way to a hold, like a pause). A rung that needs
two calls plugs in here too: the requests come from `core.planner.plan_requests` and every receipt
goes on to `record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from autoheal.adapters.control import covering
from autoheal.adapters.sagemaker import CallReceipt
from autoheal.core import transitions
from autoheal.core.planner import BatchRequest, plan_requests
from autoheal.core.results import unknown_codes
from autoheal.core.state import NodeState
from autoheal.observability import Metric, logger
from autoheal.ports import NodeActions, NodeStates, Pauses
from autoheal.remediate.claim import Claimed
from autoheal.remediate.evidence import EVIDENCE_HOLD, Evidence, capture_before
from autoheal.remediate.model import CallRow, Effects, Hold, Later, Node

#: The hold of a call found paused just before it was sent.
PAUSED = "paused"


@dataclass
class Acted:
    receipts: list[tuple[BatchRequest, CallReceipt]] = field(default_factory=list)
    sent: list[Claimed] = field(default_factory=list)  # the nodes called, as marked `sending`
    effects: Effects = field(default_factory=Effects)  # call rows and counts; paused nodes held


def act(
    claimed: Sequence[Claimed],
    nodes: NodeActions,
    states: NodeStates,
    pauses: Pauses,
    now: datetime,
    evidence: Evidence | None = None,
) -> Acted:
    out = Acted()
    by_call_id = {(c.node.target.cluster, c.action, c.node.target.api_id): c for c in claimed}
    for request in plan_requests((c.node.target, c.action) for c in claimed):
        members = [by_call_id[(request.cluster, request.action, i)] for i in request.ids]
        pause = covering(pauses.paused([request.cluster]), request.cluster)
        if pause is not None:
            _hold(members, Hold(PAUSED, f"paused:{pause.scope}"), states, now, out.effects)
            continue
        captured = capture_before(members, request.action, evidence, now)  # evidence before destruction
        out.effects.metrics.merge([captured.metrics])
        if captured.held:
            _hold(captured.held, Hold(EVIDENCE_HOLD, EVIDENCE_HOLD), states, now, out.effects)
            if not captured.ready:
                continue
            request = replace(request, ids=tuple(c.node.target.api_id for c in captured.ready))
        members = captured.ready
        sending = [replace(c, claimed=transitions.sending(c.claimed)) for c in members]
        states.put_claimed([c.claimed for c in sending], now)
        out.sent += sending
        receipt = nodes.execute(request)
        out.receipts.append((request, receipt))
        out.effects.metrics.add(Metric.BATCH_CALLS, Action=request.action.value)
        failed = sum(1 for r in receipt.results if r.failed)
        out.effects.calls.append(
            CallRow(receipt.operation, receipt.cluster, receipt.size, failed, receipt.call_error)
        )
        contradictory = sum(1 for r in receipt.results if r.contradictory)
        if contradictory:
            out.effects.metrics.add(Metric.CONTRADICTORY_ENTRIES, contradictory)
            logger.warning(
                "entries listed as successful and as failed, taken as accepted",
                extra={"entries": contradictory},
            )
        for code in unknown_codes(receipt.results):
            logger.warning("unknown SageMaker error code, treated as transient", extra={"error_code": code})
    return out


def _hold(
    members: Sequence[Claimed], hold: Hold, states: NodeStates, now: datetime, effects: Effects
) -> None:
    """Not called: each claim gives way to a held record (as the pause hold at planning writes it), or,
    for a node with something else open, to its state before the claim; the faults wait for later."""
    written = []
    for c in members:
        node = replace(c.node, faults=[f.admitted(now) for f in c.node.faults])
        written.append(_released(c, node, hold, now))
        effects.later.append(Later(node, hold.delay))
        effects.metrics.add(Metric.FAULTS_HELD, len(c.node.faults), Reason=hold.reason)
        effects.rows.append(c.node.row("held", hold.detail))
    states.put_claimed(written, now)
    logger.warning(
        "held while the batch ran (paused, or evidence required and missing): call not sent",
        extra={"cluster": members[0].node.target.cluster, "nodes": len(members), "hold": hold.detail},
    )


def _released(c: Claimed, node: Node, hold: Hold, now: datetime) -> NodeState:
    if c.before.status not in transitions.HOLDABLE:
        return transitions.released_for_hold(c.claimed, c.before)
    due = now + timedelta(seconds=hold.delay)
    fault = node.latest.model_dump_json()
    return transitions.held(c.before, c.claimed.version, hold.reason, now, due, fault)
