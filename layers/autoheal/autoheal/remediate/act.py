"""Stage 6, act: the claimed nodes in the fewest SageMaker calls (<= 25 ids each), one typed receipt
per call.

A rung that needs two calls, or evidence captured before a destructive call, plugs in here: the
requests come from `core.planner.plan_requests` and every receipt goes on to `record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from autoheal.adapters.sagemaker import CallReceipt
from autoheal.core.planner import BatchRequest, plan_requests
from autoheal.core.results import unknown_codes
from autoheal.observability import Metric, logger
from autoheal.ports import NodeActions
from autoheal.remediate.claim import Claimed
from autoheal.remediate.model import CallRow, Effects


@dataclass
class Acted:
    receipts: list[tuple[BatchRequest, CallReceipt]] = field(default_factory=list)
    effects: Effects = field(default_factory=Effects)  # the call rows and call counts


def act(claimed: Sequence[Claimed], nodes: NodeActions) -> Acted:
    out = Acted()
    for request in plan_requests((c.node.target, c.action) for c in claimed):
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
