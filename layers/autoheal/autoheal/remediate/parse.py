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
                    "first_error": _first_error(exc),
                },
            )
    return out


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)[:200]
    first = errors[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"[:200]
