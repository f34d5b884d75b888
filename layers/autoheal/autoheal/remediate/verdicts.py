"""Stage 9, verdicts: the faults `resolve` dropped (their cluster does not exist, their node is not in
it, their instance was already replaced) are kept in the ledger with their reason for a week
(`autoheal.adapters.verdicts`), so that "what became of this event's fault?" has an answer: `autoheal
selftest` reads its own fault's (`cluster_not_found`).

Last, after every other write: the faults were dropped whatever happens here, so a ledger error is
logged and does not fail the batch (failing it would only make SQS redeliver the batch's other faults).
"""

from __future__ import annotations

from collections.abc import Sequence

from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.verdicts import DroppedFault
from autoheal.observability import logger
from autoheal.ports import DroppedFaults


def keep_verdicts(dropped: Sequence[DroppedFault], verdicts: DroppedFaults | None) -> None:
    if not dropped or verdicts is None:
        return
    try:
        verdicts.record_dropped(dropped)
    except LedgerError as error:
        logger.warning(
            "dropped faults' verdicts not kept",
            extra={
                "error": type(error).__name__,
                "event_ids": sorted({d.event_id for d in dropped}),
                "reasons": sorted({d.reason for d in dropped}),
            },
        )
