"""Intake's logic: normalise an event, log and count what was dropped (ignored, rejected, or an unusable
optional field left out of an event that was otherwise used), stamp each fault with its
receipt time (a future-dated `observed_at` clamped to it, metered), enqueue the faults.

The event is an EventBridge event or a CloudWatch Logs subscription delivery of HMA log records.
Malformed or irrelevant input returns normally (logged with its reason, counted); a queue failure
raises, so the invocation fails and the event is retried. `autoheal.intake.wiring` builds `IntakeDeps`
from settings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autoheal.faults import NodeFault, utcnow
from autoheal.intake.normalise import normalise
from autoheal.intake.result import Intake
from autoheal.intake.rules.config import RuleConfig
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.ports import Clock, FaultSink


@dataclass(frozen=True)
class IntakeDeps:
    rules: RuleConfig
    queue: FaultSink
    clock: Clock = utcnow  # the receipt time stamped on every fault


@dataclass(frozen=True)
class IntakeReport:
    event_id: str
    received: int  # faults the event normalised into
    enqueued: int
    ignored: Mapping[str, int] = field(default_factory=dict)  # by reason
    rejected: Mapping[str, int] = field(default_factory=dict)  # by reason
    counts: MetricCounts = field(default_factory=MetricCounts)

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (the handler's return value)."""
        return {
            "event_id": self.event_id,
            "received": self.received,
            "enqueued": self.enqueued,
            "ignored": dict(self.ignored),
            "rejected": dict(self.rejected),
        }


def ingest(raw: Mapping[str, Any], deps: IntakeDeps) -> IntakeReport:
    """One event in: its faults on the queue, a report of what was received, enqueued, ignored, rejected."""
    intake = normalise(raw, deps.rules)
    _log_dropped(intake)
    counts = MetricCounts()
    faults = _received(intake, deps.clock(), counts)
    ignored = Counter(str(i.reason) for i in intake.ignored)
    rejected = Counter([intake.rejected.reason] if intake.rejected else [])
    rejected.update(part.reason for part in intake.rejected_parts)
    for reason, n in ignored.items():
        counts.add(Metric.FAULTS_IGNORED, n, Reason=reason)
    for reason, n in rejected.items():
        counts.add(Metric.EVENTS_REJECTED, n, Reason=reason)
    for name, n in Counter(d.field for d in intake.dropped).items():
        counts.add(Metric.DROPPED_FIELDS, n, Field=name)
    counts.add(Metric.FAULTS_RECEIVED, len(faults))

    enqueued = 0
    if faults:
        enqueued = deps.queue.send(faults).sent
        logger.info(
            "faults enqueued",
            extra={**_context(intake), "enqueued": enqueued, "nodes": [f.node_ref for f in faults]},
        )
    counts.add(Metric.FAULTS_ENQUEUED, enqueued)
    return IntakeReport(intake.event_id, len(faults), enqueued, dict(ignored), dict(rejected), counts)


def _received(intake: Intake, now: datetime, counts: MetricCounts) -> list[NodeFault]:
    """Every fault stamped with its receipt time (its age is judged once, against it) and its
    `observed_at` clamped to it: a node clock running ahead must not make a fault look like a
    recurrence of an action taken after it really happened. The skew is metered and logged."""
    out: list[NodeFault] = []
    for fault in intake.faults:
        stamped, skew = fault.received(now)
        if skew > 0:
            counts.add(Metric.FUTURE_DATED_FAULTS)
            logger.warning(
                "fault stamped in the future: observed_at clamped to its receipt",
                extra={**_context(intake), "node": fault.node_ref, "skew_seconds": round(skew, 3)},
            )
        out.append(stamped)
    return out


def _log_dropped(intake: Intake) -> None:
    for dropped in intake.dropped:
        logger.warning(
            "optional field dropped",
            extra={**_context(intake), "field": dropped.field, "path": dropped.path, "error": dropped.reason},
        )
    for item in intake.ignored:
        logger.info(
            "ignored", extra={**_context(intake), "reason": str(item.reason), "subject": item.subject}
        )
    if intake.rejected:
        logger.warning(
            "event rejected",
            extra={**_context(intake), "reason": intake.rejected.reason, "error": intake.rejected.message},
        )
    for part in intake.rejected_parts:
        logger.warning(
            "record rejected", extra={**_context(intake), "reason": part.reason, "error": part.message}
        )


def _context(intake: Intake) -> dict[str, str]:
    context = {"event_id": intake.event_id, "source": intake.source, "detail_type": intake.detail_type}
    if intake.subject:
        context["subject"] = intake.subject
    return context
