"""Rules for the three HyperPod detail-types.

- Node Health Event: `Unhealthy` is a fault (signal: the fault type HMA names in its reason, else
  `NodeUnhealthy`); `Healthy` is a recovery, ignored; other spellings are ignored and counted.
- Cluster Event: only `Instance`-scope `Warn`/`Error` events naming an instance id or NodeLogicalId
  are faults; `Info` and the "lost orchestration-ready status" `Warn` noise are ignored. The signal
  comes from the event's family (`_DESCRIPTION_SIGNALS`), capacity failures first. An event with no
  `EventLevel` (or one we do not know) is judged by what it says: if it describes a failure (a known
  failure family, a capacity message, an unhealthy `NodeHealthInfo`, or "fail" in its description) it
  is a fault like a `Warn` (severity warning); otherwise it is ignored as `unknown_level_not_a_failure`.
- Cluster State Change: never a node fault.
- A self-test Node Health Event (`autoheal.reserved.SELFTEST_SOURCE`) is read as a Node Health Event
  only when it names a reserved cluster by name (`selftest_node_health`); any other is ignored and
  counted (`selftest_not_reserved`), and its fault never carries a cluster ARN (a real cluster's ARN
  would be what remediate looks up).
"""

from __future__ import annotations

import re

from autoheal.faults import FaultSource, NodeFault, Severity
from autoheal.intake.models import (
    ClusterEvent,
    ClusterEventDetails,
    ClusterStateChange,
    EventLevel,
    HealthStatus,
    NodeHealthEvent,
    ResourceType,
)
from autoheal.intake.result import Disposition, IgnoreReason, ignore
from autoheal.intake.rules.common import MATCH_WINDOW, fault_type, reason_text
from autoheal.reserved import is_reserved_cluster

NODE_UNHEALTHY = "NodeUnhealthy"
INSUFFICIENT_CAPACITY = "InsufficientCapacity"
CLUSTER_EVENT_ERROR = "ClusterEventError"

_NOISE_LOST_ORCHESTRATION_READY = "lost orchestration-ready status"
_CAPACITY_RE = re.compile(r"insufficient\s+(?:instance\s+)?capacity|sufficient\s+capacity", re.IGNORECASE)
_FAILURE_RE = re.compile(r"\bfail(?:ed|s|ure)?\b|\bunhealthy\b", re.IGNORECASE)

# Description families from the HyperPod cluster events reference, first match wins.
_DESCRIPTION_SIGNALS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), signal)
    for pattern, signal in (
        (r"failed as part of instance replacement", "ReplacementFailed"),
        (r"failed to submit reboot|reboot\b.*\bfailed", "RebootFailed"),
        (r"failed to terminate|termination\b.*\bfailed", "TerminationFailed"),
        # "... has <status>": only a failed status is a fault (a started or completed script is not).
        (r"lifecycle script\b.*\bfail(?:ed|ure)?\b", "LifecycleScriptFailed"),
        (r"failed to provision|instance creation\b.*\bfailed", "ProvisioningFailed"),
    )
)

_SEVERITY = {
    EventLevel.WARN: Severity.WARNING,
    EventLevel.ERROR: Severity.ERROR,
    EventLevel.UNKNOWN: Severity.WARNING,
}


def node_health(event: NodeHealthEvent) -> Disposition:
    detail = event.detail
    summary = detail.health_summary
    if summary.status is HealthStatus.HEALTHY:
        return ignore(IgnoreReason.HEALTHY_TRANSITION, detail.instance_id)
    if summary.status is HealthStatus.UNKNOWN:
        return ignore(IgnoreReason.UNKNOWN_HEALTH_STATUS, summary.health_status)
    cluster_name, cluster_arn = event.cluster()
    fault = NodeFault(
        cluster_name=cluster_name,
        cluster_arn=cluster_arn,
        instance_id=detail.instance_id,
        instance_group=detail.instance_group_name,
        signal=fault_type(summary.health_status_reason) or NODE_UNHEALTHY,
        reason=reason_text(summary.health_status_reason, summary.recommendation),
        severity=Severity.ERROR,
        repair_action=summary.repair_action,
        recommendation=summary.recommendation.strip()[:1024] or None,
        source=FaultSource.NODE_HEALTH,
        source_event_id=event.id,
        observed_at=event.time,
    )
    return Disposition(faults=[fault])


def selftest_node_health(event: NodeHealthEvent) -> Disposition:
    """A Node Health Event from `autoheal selftest`: a fault only for a reserved cluster name, by name."""
    name, _ = event.cluster()
    if not is_reserved_cluster(name):
        return ignore(IgnoreReason.SELFTEST_NOT_RESERVED, name or "no cluster name")
    disposition = node_health(event)
    faults = [f.model_copy(update={"cluster_arn": None}) for f in disposition.faults]
    return Disposition(faults=faults, ignored=disposition.ignored, rejected=disposition.rejected)


def cluster_event(event: ClusterEvent) -> Disposition:
    details = event.detail.event_details
    if details.event_level is EventLevel.INFO:
        return ignore(IgnoreReason.INFO_LEVEL, details.description)
    if details.resource_type is not ResourceType.INSTANCE:
        return ignore(IgnoreReason.NOT_INSTANCE_SCOPE, details.resource_type)
    if (
        details.event_level is EventLevel.WARN
        and _NOISE_LOST_ORCHESTRATION_READY in details.description.lower()
    ):
        return ignore(IgnoreReason.NOISE_LOST_ORCHESTRATION_READY, details.instance_id or "")
    instance = details.instance
    health = instance.node_health_info if instance else None
    if health is not None and health.status is HealthStatus.HEALTHY:
        return ignore(IgnoreReason.HEALTHY_TRANSITION, details.instance_id or "")
    logical_id = instance.node_logical_id if instance else None
    if details.instance_id is None and logical_id is None:
        return ignore(IgnoreReason.NO_NODE, details.description)
    if details.event_level is EventLevel.UNKNOWN and not describes_a_failure(details):
        return ignore(IgnoreReason.UNKNOWN_LEVEL_NOT_A_FAILURE, details.description)
    cluster_name, cluster_arn = event.cluster()
    fault = NodeFault(
        cluster_name=cluster_name,
        cluster_arn=cluster_arn,
        instance_id=details.instance_id,
        node_logical_id=logical_id,
        instance_group=details.instance_group_name,
        signal=cluster_event_signal(details),
        reason=reason_text(
            details.description,
            instance.failure_message if instance else None,
            health.health_status_reason if health else None,
        ),
        severity=_SEVERITY[details.event_level],
        repair_action=health.repair_action if health else None,
        source=FaultSource.CLUSTER_EVENT,
        source_event_id=details.event_id or event.id,
        observed_at=details.event_time,
    )
    return Disposition(faults=[fault])


def cluster_event_signal(details: ClusterEventDetails) -> str:
    """HMA's fault type, then capacity, then the Description family, else `ClusterEventError`."""
    instance = details.instance
    if instance is not None and instance.node_health_info is not None:
        return fault_type(instance.node_health_info.health_status_reason) or NODE_UNHEALTHY
    failure = (instance.failure_message if instance else None) or ""
    if _CAPACITY_RE.search(failure[:MATCH_WINDOW]):
        return INSUFFICIENT_CAPACITY
    description = details.description[:MATCH_WINDOW]
    return next(
        (signal for pattern, signal in _DESCRIPTION_SIGNALS if pattern.search(description)),
        CLUSTER_EVENT_ERROR,
    )


def describes_a_failure(details: ClusterEventDetails) -> bool:
    """Whether an event without a (known) level says something failed: its signal is a known failure
    family or capacity, HMA calls the node unhealthy, or the prose says it failed."""
    if cluster_event_signal(details) != CLUSTER_EVENT_ERROR:
        return True
    failure = (details.instance.failure_message if details.instance else None) or ""
    return any(_FAILURE_RE.search(text[:MATCH_WINDOW]) for text in (details.description, failure))


def cluster_state_change(event: ClusterStateChange) -> Disposition:
    return ignore(IgnoreReason.STATE_CHANGE, event.detail.cluster_status or "")
