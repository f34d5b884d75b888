"""Rule for `CloudWatch Alarm State Change` (source `aws.cloudwatch`).

Only a transition *into* ALARM is a fault (ALARM -> ALARM updates and OK / INSUFFICIENT_DATA are
ignored). The alarm must name exactly one node, in one of two ways:

1. Alarm name convention (wins when present): ``autoheal:<cluster-name-or-arn>:<instance-id>``,
   e.g. ``autoheal:ml-cluster:i-0a1b2c3d4e5f60718``.
2. Metric dimensions: the instance id from the dimension named by
   ``AlarmRuleConfig.node_dimension`` (``AUTOHEAL_ALARM_NODE_DIMENSION``, default ``InstanceId``), the
   cluster (name or ARN, optional) from ``AlarmRuleConfig.cluster_dimension``
   (``AUTOHEAL_ALARM_CLUSTER_DIMENSION``, default ``ClusterName``). An alarm whose metrics name
   several different instances is ambiguous and ignored.

The signal is the alarm name (clipped to 128 characters). Values that are not valid ids reject the
event (`malformed:CloudWatch Alarm State Change`) rather than guessing.

`CloudWatch Alarm Contributor State Change` (Metrics Insights alarms with GROUP BY, one event per
time series): a contributor going to ALARM is a fault of the node its attributes name: the node
dimension's attribute (an instance id), else an ``HmaLogStream`` attribute holding an HMA log stream
name (what the optional HMA alarm section in template.yaml groups by), and the cluster from the cluster
dimension's attribute.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoheal.faults import CLUSTER_ARN_RE, FaultSource, NodeFault, Severity
from autoheal.intake.hma_records import HMA_STREAM_DIMENSION, parse_stream
from autoheal.intake.models import AlarmContributorStateChange, AlarmStateChange
from autoheal.intake.result import Disposition, IgnoreReason, ignore
from autoheal.intake.rules.common import SIGNAL_MAX, clip, reason_text

ALARM = "ALARM"
NAME_PREFIX = "autoheal:"


@dataclass(frozen=True)
class AlarmRuleConfig:
    """The settings the alarm rules read: the metric dimensions that name the node and its cluster."""

    node_dimension: str
    cluster_dimension: str


def alarm_state_change(event: AlarmStateChange, config: AlarmRuleConfig) -> Disposition:
    detail = event.detail
    if detail.state.value != ALARM:
        return ignore(IgnoreReason.ALARM_NOT_ALARM_STATE, detail.alarm_name)
    if detail.previous_state is not None and detail.previous_state.value == ALARM:
        return ignore(IgnoreReason.ALARM_ALREADY_IN_ALARM, detail.alarm_name)

    if detail.alarm_name.startswith(NAME_PREFIX):
        named_cluster, _, instance_id = detail.alarm_name.removeprefix(NAME_PREFIX).rpartition(":")
        clusters = [named_cluster] if named_cluster else []
    else:
        instances = detail.dimension_values(config.node_dimension)
        if len(instances) > 1:
            return ignore(IgnoreReason.AMBIGUOUS_NODE, detail.alarm_name)
        if not instances:
            return ignore(IgnoreReason.NO_NODE, detail.alarm_name)
        instance_id = instances[0]
        clusters = detail.dimension_values(config.cluster_dimension)[:1]

    return _fault(
        event, detail.alarm_name, detail.state.reason, instance_id, clusters[0] if clusters else None
    )


def alarm_contributor_state_change(
    event: AlarmContributorStateChange, config: AlarmRuleConfig
) -> Disposition:
    detail = event.detail
    if detail.state.value != ALARM:
        return ignore(IgnoreReason.ALARM_NOT_ALARM_STATE, detail.alarm_name)
    attributes = detail.alarm_contributor.attributes
    instance_id = attributes.get(config.node_dimension)
    group = None
    if instance_id is None and HMA_STREAM_DIMENSION in attributes:
        node = parse_stream(attributes[HMA_STREAM_DIMENSION])
        if node is None:
            return ignore(IgnoreReason.NO_NODE, attributes[HMA_STREAM_DIMENSION])
        instance_id, group = node.instance_id, node.instance_group
    if instance_id is None:
        return ignore(IgnoreReason.NO_NODE, detail.alarm_name)
    cluster = attributes.get(config.cluster_dimension)
    return _fault(event, detail.alarm_name, detail.state.reason, instance_id, cluster, group)


def _fault(
    event: AlarmStateChange | AlarmContributorStateChange,
    alarm_name: str,
    reason: str,
    instance_id: str,
    cluster: str | None,
    group: str | None = None,
) -> Disposition:
    """The alarm's fault: signal = alarm name; `cluster` may be a name or an ARN."""
    is_arn = cluster is not None and CLUSTER_ARN_RE.fullmatch(cluster) is not None
    fault = NodeFault(
        cluster_name=None if is_arn else cluster,
        cluster_arn=cluster if is_arn else None,
        instance_id=instance_id,
        instance_group=group,
        signal=clip(alarm_name, SIGNAL_MAX),
        reason=reason_text(reason),
        severity=Severity.ERROR,
        source=FaultSource.CLOUDWATCH_ALARM,
        source_event_id=event.id,
        observed_at=event.time,
    )
    return Disposition(faults=[fault])
