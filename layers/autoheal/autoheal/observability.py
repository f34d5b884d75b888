"""The one place that creates Powertools' logger, tracer and metrics, and names every metric.

Service name and namespace come from the template's Globals (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE). Logic records counts into a `MetricCounts` (plain data, easy to assert
in tests and to summarise in the demo); handlers flush it as EMF with `flush_counts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "hyperpod-autoheal"
NAMESPACE = "HyperPodAutoheal"

logger = Logger(service=None)  # service name from POWERTOOLS_SERVICE_NAME
tracer = Tracer()  # aws_xray_sdk is imported lazily by Powertools, on first use
metrics = Metrics()


class Metric(StrEnum):
    """Every metric the code emits. The dashboard test checks widgets against this list."""

    FAULTS_RECEIVED = "FaultsReceived"
    FAULTS_IGNORED = "FaultsIgnored"  # dimension Reason
    EVENTS_REJECTED = "EventsRejected"  # dimension Reason: malformed input, dropped
    FAULTS_ENQUEUED = "FaultsEnqueued"
    FAULTS_DEQUEUED = "FaultsDequeued"  # faults remediate took off the queue
    DUPLICATE_FAULTS = "DuplicateFaults"
    REBOOT_REQUESTS = "RebootRequests"  # nodes asked to reboot
    REPLACE_REQUESTS = "ReplaceRequests"  # nodes asked to be replaced
    BATCH_CALLS = "BatchCalls"  # dimension Action: mutating SageMaker calls made
    FAILED_ENTRIES = "FailedEntries"  # dimensions Action, ErrorCode: one count per failed entry
    RETRIES_SCHEDULED = "RetriesScheduled"
    ESCALATIONS = "Escalations"
    NEEDS_HUMAN = "NeedsHuman"
    CLAIM_CONFLICTS = "ClaimConflicts"
    NODES_CLOSED = "NodesClosed"  # dimension Reason
    FAULTS_HELD = "FaultsHeld"  # dimension Reason: kept for later (paused), never dropped


METRIC_DIMENSIONS: Mapping[Metric, tuple[str, ...]] = {
    Metric.FAULTS_IGNORED: ("Reason",),
    Metric.EVENTS_REJECTED: ("Reason",),
    Metric.BATCH_CALLS: ("Action",),
    Metric.FAILED_ENTRIES: ("Action", "ErrorCode"),
    Metric.NODES_CLOSED: ("Reason",),
    Metric.FAULTS_HELD: ("Reason",),
}


@dataclass
class MetricCounts:
    """Counts keyed by (metric, dimensions); flushed once per invocation."""

    counts: Counter[tuple[Metric, tuple[tuple[str, str], ...]]] = field(default_factory=Counter)

    def add(self, metric: Metric, value: int = 1, **dimensions: str) -> None:
        expected = METRIC_DIMENSIONS.get(metric, ())
        if tuple(sorted(dimensions)) != tuple(sorted(expected)):
            raise ValueError(f"{metric} takes dimensions {expected}, got {tuple(dimensions)}")
        # zero is kept: a FaultsReceived of 0 still shows the function ran
        self.counts[(metric, tuple(sorted(dimensions.items())))] += value

    def total(self, metric: Metric, **dimensions: str) -> int:
        want = set(dimensions.items())
        return sum(n for (m, dims), n in self.counts.items() if m == metric and want <= set(dims))

    def as_rows(self) -> list[dict[str, object]]:
        """Plain rows for summaries: {"metric", "dimensions", "value"}."""
        return [
            {"metric": str(m), "dimensions": dict(dims), "value": n}
            for (m, dims), n in sorted(self.counts.items(), key=lambda kv: (kv[0][0], kv[0][1]))
        ]

    def merge(self, others: Iterable[MetricCounts]) -> MetricCounts:
        for other in others:
            self.counts.update(other.counts)
        return self


def flush_counts(counts: MetricCounts) -> None:
    """Emit the counts as EMF: undimensioned ones on the shared `metrics`, the rest one blob each."""
    for (metric, dims), value in counts.counts.items():
        if not dims:
            metrics.add_metric(name=str(metric), unit=MetricUnit.Count, value=value)
            continue
        with single_metric(name=str(metric), unit=MetricUnit.Count, value=value) as metric_ctx:
            for key, dim_value in dims:
                metric_ctx.add_dimension(name=key, value=dim_value)
