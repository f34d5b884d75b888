"""Stage 1, parse: SQS records in, (message id, NodeFault) pairs out.

A malformed body is logged, counted and acknowledged: retrying cannot fix it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.validation import summarise


@dataclass
class Parsed:
    faults: list[tuple[str, NodeFault]] = field(default_factory=list)  # (message id, fault)
    metrics: MetricCounts = field(default_factory=MetricCounts)


def parse(records: Sequence[Mapping[str, Any]]) -> Parsed:
    out = Parsed()
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            out.faults.append((message_id, NodeFault.model_validate_json(str(record.get("body", "")))))
        except ValidationError as exc:
            out.metrics.add(Metric.EVENTS_REJECTED, Reason="malformed_message")
            logger.warning(
                "dropping a queue message that is not a NodeFault",
                extra={
                    "message_id": message_id,
                    "errors": exc.error_count(),
                    "first_error": summarise(exc, 1, limit=200),
                },
            )
    return out
