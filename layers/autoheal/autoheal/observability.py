"""The one place that creates Powertools' logger, tracer and metrics, and names every metric.

Service name and namespace come from the template's Globals (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE). Logic records counts into a `MetricCounts` (plain data, easy to assert
in tests and to summarise in the demo); handlers flush it as EMF with `flush_counts`.

Every dimension value is normalised here, in `_key` (printable ASCII, single spaces, at most
`DIMENSION_MAX` characters), and the `Signal` dimension is a signal *class* from a bounded vocabulary
(`signal_class`): `XidError:79` or `NvidiaErrorTerminate` are classes; a CloudWatch alarm's name is free
text chosen per alarm (one series per node with the `autoheal:<cluster>:<instance>` convention), so an
alarm's fault counts as `CloudWatchAlarm`. The raw text stays in the logs and the ledger.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeAlias

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit, single_metric

Handler: TypeAlias = Callable[[Any, Any], Any]

SERVICE = "hyperpod-autoheal"
NAMESPACE = "HyperPodAutoheal"


class LazyTracer:
    """Powertools' `Tracer`, built on the first invocation rather than at import: building it imports
    the X-Ray SDK (~100 ms of a handler's ~300 ms import on this machine, see bench/README.md), which
    the handler module should not pay before it is even invoked. Same decorator, same order."""

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    def get(self) -> Tracer:
        if self._tracer is None:
            self._tracer = Tracer()
        return self._tracer

    def capture_lambda_handler(self, handler: Handler) -> Handler:
        wrapped: Handler | None = None

        @functools.wraps(handler)
        def traced(event: Any, context: Any) -> Any:
            nonlocal wrapped
            if wrapped is None:
                wrapped = self.get().capture_lambda_handler(handler)
            return wrapped(event, context)

        return traced


logger = Logger(service=None)  # service name from POWERTOOLS_SERVICE_NAME
tracer = LazyTracer()
metrics = Metrics()


class Metric(StrEnum):
    """Every metric the code emits. The dashboard test checks widgets against this list."""

    FAULTS_RECEIVED = "FaultsReceived"
    FAULTS_IGNORED = "FaultsIgnored"  # dimension Reason
    EVENTS_REJECTED = "EventsRejected"  # dimension Reason: malformed input, dropped
    DROPPED_FIELDS = "DroppedFields"  # dimension Field: an unusable optional field left out, event kept
    FAULTS_ENQUEUED = "FaultsEnqueued"
    FAULTS_DEQUEUED = "FaultsDequeued"  # faults remediate took off the queue
    DUPLICATE_FAULTS = "DuplicateFaults"
    REBOOT_REQUESTS = "RebootRequests"  # nodes asked to reboot
    REPLACE_REQUESTS = "ReplaceRequests"  # nodes asked to be replaced
    RETIRE_REQUESTS = "RetireRequests"  # lemons asked to be deleted (the retire rung)
    RESTORED_NODES = "RestoredNodes"  # nodes BatchAddClusterNodes added to restore a group's size
    RESTORE_FAILURES = (
        "RestoreFailures"  # dimension ErrorCode: a restore's add failed, or its node did not run
    )
    BATCH_CALLS = "BatchCalls"  # dimension Action: mutating SageMaker calls made
    FAILED_ENTRIES = "FailedEntries"  # dimensions Action, ErrorCode: one count per failed entry
    RETRIES_SCHEDULED = "RetriesScheduled"
    ESCALATIONS = "Escalations"
    NEEDS_HUMAN = "NeedsHuman"
    CLAIM_CONFLICTS = "ClaimConflicts"
    NODES_CLOSED = "NodesClosed"  # dimension Reason
    FAULTS_HELD = "FaultsHeld"  # dimension Reason: kept for later (paused, cool-down), never dropped
    CALLS_DEFERRED = "CallsDeferred"  # dimension Reason: planned calls not sent (throttled): faults re-queued
    TIME_TO_ACTION = "TimeToAction"  # seconds, dimension Action: fault observed -> action accepted
    TIME_TO_HEALTHY = "TimeToHealthy"  # seconds, dimension Action: action accepted -> node verified healthy
    ACTION_RESULTS = "ActionResults"  # dimensions Action, Signal, Result: success rate per action and signal
    RETRIES_REDRIVEN = "RetriesRedriven"  # reconcile re-drove an overdue retry
    CLAIMS_RECOVERED = "ClaimsRecovered"  # dimension Resolution: a crashed invocation's claim resolved
    CAPACITY_COOLDOWNS = "CapacityCooldowns"  # an instance group stopped for replaces after no capacity
    BREAKER_TRIPS = "BreakerTrips"  # dimension Scope: group | cluster
    FLEET_BREAKER_TRIPPED = "FleetBreakerTripped"  # dimension Reason: clusters | share (one per trip)
    DRY_RUN_ACTIONS = "DryRunActions"  # dimension Action: what dry-run mode would have done
    CONTRADICTORY_ENTRIES = "ContradictoryEntries"  # Batch* ids listed as successful and failed at once
    FUTURE_DATED_FAULTS = "FutureDatedFaults"  # stamped ahead of their receipt: clamped (skew in the log)
    CLUSTER_ERRORS = "ClusterErrors"  # dimension ErrorCode: a cluster could not be read (its faults wait)
    # percent, dimensions Signal, Action: the adaptive ladder's success rate over its window, published
    # by reconcile each time it updates a signal's aggregate
    LADDER_SUCCESS_RATE = "LadderSuccessRate"
    # the approval gate: requests asked, decisions applied (dimension Decision: approved | denied |
    # default_approve | default_deny), and reconcile's count of pending ones and the oldest one's age
    # (seconds, one value a round: chart its Maximum)
    APPROVALS_REQUESTED = "ApprovalsRequested"
    APPROVAL_DECISIONS = "ApprovalDecisions"
    APPROVALS_PENDING = "ApprovalsPending"
    APPROVAL_OLDEST_AGE_SECONDS = "ApprovalOldestAgeSeconds"
    # canary waves (issue 18 §3): episodes started, faults held by a wave, nodes released, waves
    # verified healthy by reconcile, episodes stopped (a recurrence, a failed action, an operator)
    CANARY_EPISODES = "CanaryEpisodes"
    CANARY_HELD = "CanaryHeld"
    CANARY_WAVE_RELEASED = "CanaryWaveReleased"
    CANARY_WAVES_VERIFIED = "CanaryWavesVerified"
    CANARY_STOPPED = "CanaryStopped"
    EVIDENCE_CAPTURED = (
        "EvidenceCaptured"  # dimension Outcome: complete | partial | failed (a bundle per node)
    )
    EVIDENCE_BYTES = "EvidenceBytes"  # bytes of evidence bundles written


METRIC_DIMENSIONS: Mapping[Metric, tuple[str, ...]] = {
    Metric.FAULTS_IGNORED: ("Reason",),
    Metric.EVENTS_REJECTED: ("Reason",),
    Metric.DROPPED_FIELDS: ("Field",),
    Metric.BATCH_CALLS: ("Action",),
    Metric.FAILED_ENTRIES: ("Action", "ErrorCode"),
    Metric.RESTORE_FAILURES: ("ErrorCode",),
    Metric.NODES_CLOSED: ("Reason",),
    Metric.FAULTS_HELD: ("Reason",),
    Metric.CALLS_DEFERRED: ("Reason",),
    Metric.TIME_TO_ACTION: ("Action",),
    Metric.TIME_TO_HEALTHY: ("Action",),
    Metric.ACTION_RESULTS: ("Action", "Signal", "Result"),
    Metric.CLAIMS_RECOVERED: ("Resolution",),
    Metric.BREAKER_TRIPS: ("Scope",),
    Metric.FLEET_BREAKER_TRIPPED: ("Reason",),
    Metric.DRY_RUN_ACTIONS: ("Action",),
    Metric.CLUSTER_ERRORS: ("ErrorCode",),
    Metric.LADDER_SUCCESS_RATE: ("Action", "Signal"),
    Metric.APPROVAL_DECISIONS: ("Decision",),
    Metric.EVIDENCE_CAPTURED: ("Outcome",),
}

#: Metrics that carry durations (seconds) rather than counts.
TIMINGS = frozenset({Metric.TIME_TO_ACTION, Metric.TIME_TO_HEALTHY})
#: Metrics that carry a level (percent): the last value of each (metric, dimensions) is emitted.
GAUGES = frozenset({Metric.LADDER_SUCCESS_RATE})
#: EMF allows at most 100 values per metric in one blob.
MAX_VALUES_PER_BLOB = 100


#: Longest dimension value emitted (CloudWatch takes 1,024; our own values are far shorter).
DIMENSION_MAX = 64
#: A dimension value that normalises to nothing.
UNKNOWN = "unknown"
#: The `Signal` of a fault raised by a CloudWatch alarm (its name is free text, often one per node).
ALARM_SIGNAL = "CloudWatchAlarm"
#: The `Signal` of a fault whose signal is not shaped like a class (free text from an event).
OTHER_SIGNAL = "Other"
_ALARM_SOURCE = "aws.cloudwatch"  # FaultSource.CLOUDWATCH_ALARM (faults.py imports nothing from here)
_BLANKS = re.compile(r"\s+")  # tabs, newlines, runs of spaces: one space
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]+")  # control characters, non-ASCII
#: A signal class: a CamelCase or UPPER_SNAKE name, optionally `:<code>` (`XidError:79`).
_SIGNAL_CLASS = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}(:[0-9]{1,6})?")


def dimension_value(text: str) -> str:
    """A dimension value as emitted: blanks collapsed to one space, each run of other characters that
    are not printable ASCII (control characters, non-ASCII) one `_`, clipped to `DIMENSION_MAX`
    characters; nothing left: `unknown`."""
    cleaned = _NOT_PRINTABLE.sub("_", _BLANKS.sub(" ", text)).strip(" _")[:DIMENSION_MAX].rstrip()
    return cleaned or UNKNOWN


def signal_class(signal: str | None, source: str | None = None) -> str:
    """The bounded `Signal` dimension of a fault: `CloudWatchAlarm` for an alarm's fault (whatever its
    name), the signal itself when it is shaped like a class, else `Other` (or `unknown` if none)."""
    if source == _ALARM_SOURCE:
        return ALARM_SIGNAL
    if not signal:
        return UNKNOWN
    return signal if _SIGNAL_CLASS.fullmatch(signal) else OTHER_SIGNAL


Key = tuple[Metric, tuple[tuple[str, str], ...]]


def _key(metric: Metric, dimensions: Mapping[str, str]) -> Key:
    """The counter key: the dimensions checked against the metric's, every value normalised (and a
    `Signal` that is not a class counted as `Other`), so no caller can emit unbounded free text."""
    expected = METRIC_DIMENSIONS.get(metric, ())
    if tuple(sorted(dimensions)) != tuple(sorted(expected)):
        raise ValueError(f"{metric} takes dimensions {expected}, got {tuple(dimensions)}")
    values = {
        name: dimension_value(signal_class(value) if name == "Signal" else value)
        for name, value in dimensions.items()
    }
    return (metric, tuple(sorted(values.items())))


@dataclass
class MetricCounts:
    """Counts (and durations) keyed by (metric, dimensions); flushed once per invocation."""

    counts: Counter[Key] = field(default_factory=Counter)
    timings: dict[Key, list[float]] = field(default_factory=dict)
    gauges: dict[Key, float] = field(default_factory=dict)

    def add(self, metric: Metric, value: int = 1, **dimensions: str) -> None:
        if metric in TIMINGS:
            raise ValueError(f"{metric} is a duration: use observe()")
        if metric in GAUGES:
            raise ValueError(f"{metric} is a level: use gauge()")
        # zero is kept: a FaultsReceived of 0 still shows the function ran
        self.counts[_key(metric, dimensions)] += value

    def observe(self, metric: Metric, seconds: float, **dimensions: str) -> None:
        """Record one duration sample (CloudWatch gets every sample, so p50/p99 can be charted)."""
        if metric not in TIMINGS:
            raise ValueError(f"{metric} is a count: use add()")
        self.timings.setdefault(_key(metric, dimensions), []).append(max(0.0, seconds))

    def gauge(self, metric: Metric, percent: float, **dimensions: str) -> None:
        """Record a level (percent); a later value of the same key replaces it."""
        if metric not in GAUGES:
            raise ValueError(f"{metric} is not a level")
        self.gauges[_key(metric, dimensions)] = percent

    def total(self, metric: Metric, **dimensions: str) -> int:
        want = {(name, dimension_value(value)) for name, value in dimensions.items()}
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
            for key, values in other.timings.items():
                self.timings.setdefault(key, []).extend(values)
            self.gauges.update(other.gauges)
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
    for (metric, dims), level in counts.gauges.items():
        with single_metric(name=str(metric), unit=MetricUnit.Percent, value=level) as metric_ctx:
            for key, dim_value in dims:
                metric_ctx.add_dimension(name=key, value=dim_value)
    for (metric, dims), values in counts.timings.items():
        for start in range(0, len(values), MAX_VALUES_PER_BLOB):
            blob = EphemeralMetrics()
            for key, dim_value in dims:
                blob.add_dimension(name=key, value=dim_value)
            for sample in values[start : start + MAX_VALUES_PER_BLOB]:
                blob.add_metric(name=str(metric), unit=MetricUnit.Seconds, value=sample)
            if blob.metric_set:  # Powertools itself publishes a metric when it reaches 100 values
                blob.flush_metrics()
