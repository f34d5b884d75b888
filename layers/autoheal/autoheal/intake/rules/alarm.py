"""Rule for `CloudWatch Alarm State Change` (source `aws.cloudwatch`).

Which alarms are faults at all (checked first, for both detail-types below):

- never this stack's own operational alarms, named ``<stack>-...`` (``AlarmRuleConfig.operational_prefix``,
  ``AUTOHEAL_OPERATIONAL_ALARM_PREFIX``): `own_operational_alarm`, whatever the name prefix is;
- only alarms whose name starts with ``AlarmRuleConfig.name_prefix`` (``AUTOHEAL_ALARM_NAME_PREFIX``,
  template parameter ``AlarmNamePrefix``, default ``autoheal:``): else `alarm_prefix_mismatch`. An empty
  prefix is the explicit opt-in to every alarm whose metrics name a node. The template's `AlarmEvents`
  rule applies both filters too; intake applies them again for events that reach it another way
  (a replay, a widened rule, the local stack);
- only a transition *into* ALARM (ALARM -> ALARM updates and OK / INSUFFICIENT_DATA are ignored);
- not while an alarm mute rule mutes the alarm's actions (a non-empty `muteDetail`): `alarm_muted`.
  The alarm's state does not change when the mute window ends, so no new state change arrives: an alarm
  still in ALARM then raises no fault until it goes back to OK and into ALARM again.

The alarm must then name exactly one node, in one of two ways:

1. Alarm name convention (wins when present): ``autoheal:<cluster-name-or-arn>:<instance-id>``,
   e.g. ``autoheal:ml-cluster:i-0a1b2c3d4e5f60718``, or ``autoheal:<instance-id>`` (no cluster). After
   ``autoheal:``, a name with a ``:`` is always read this way (an invalid id rejects the event); one
   without is a free-text name (``autoheal:gpu-xid-errors``) and the node comes from the dimensions.
2. Metric dimensions: the instance id from the dimension named by
   ``AlarmRuleConfig.node_dimension`` (``AUTOHEAL_ALARM_NODE_DIMENSION``, default ``InstanceId``), the
   cluster (name or ARN, optional) from ``AlarmRuleConfig.cluster_dimension``
   (``AUTOHEAL_ALARM_CLUSTER_DIMENSION``, default ``ClusterName``). An alarm whose metrics name
   several different instances is ambiguous and ignored.

The signal is the alarm name (clipped to 128 characters). Values that are not valid ids reject the
event (`malformed:CloudWatch Alarm State Change`) rather than guessing. The aggregate state change of a
multi-time-series alarm (a Metrics Insights query with GROUP BY, like the template's HMA alarm) names
no node: `alarm_multi_time_series`; its contributors' events do.

`CloudWatch Alarm Contributor State Change` (Metrics Insights alarms with GROUP BY, one event per
time series): a contributor going to ALARM is a fault of the node its attributes name: the node
dimension's attribute (an instance id), else an ``HmaLogStream`` attribute holding an HMA log stream
name (what the optional HMA alarm section in template.yaml groups by), and the cluster from the cluster
dimension's attribute.
"""

from __future__ import annotations

from autoheal.faults import CLUSTER_ARN_RE, INSTANCE_ID_RE, FaultSource, NodeFault, Severity
from autoheal.intake.alarm_models import (
    AlarmContributorStateChange,
    AlarmState,
    AlarmStateChange,
    MuteDetail,
)
from autoheal.intake.hma_records import HMA_STREAM_DIMENSION, parse_stream
from autoheal.intake.result import Disposition, IgnoreReason, ignore
from autoheal.intake.rules.common import SIGNAL_MAX, clip, reason_text
from autoheal.intake.rules.config import NAME_PREFIX, AlarmRuleConfig

ALARM = "ALARM"


def alarm_state_change(event: AlarmStateChange, config: AlarmRuleConfig) -> Disposition:
    detail = event.detail
    screened = _screen(detail.alarm_name, detail.state, detail.mute_detail, config)
    if screened is not None:
        return screened
    if detail.previous_state is not None and detail.previous_state.value == ALARM:
        return ignore(IgnoreReason.ALARM_ALREADY_IN_ALARM, detail.alarm_name)
    if detail.configuration.multi_time_series:
        return ignore(IgnoreReason.ALARM_MULTI_TIME_SERIES, detail.alarm_name)

    named = _named_node(detail.alarm_name)
    if named is not None:
        instance_id, cluster = named
    else:
        instances = detail.dimension_values(config.node_dimension)
        if len(instances) > 1:
            return ignore(IgnoreReason.AMBIGUOUS_NODE, detail.alarm_name)
        if not instances:
            return ignore(IgnoreReason.NO_NODE, detail.alarm_name)
        instance_id = instances[0]
        cluster = next(iter(detail.dimension_values(config.cluster_dimension)), None)
    return _fault(event, detail.alarm_name, detail.state.reason, instance_id, cluster)


def alarm_contributor_state_change(
    event: AlarmContributorStateChange, config: AlarmRuleConfig
) -> Disposition:
    detail = event.detail
    screened = _screen(detail.alarm_name, detail.state, detail.mute_detail, config)
    if screened is not None:
        return screened
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


def _screen(
    name: str, state: AlarmState, mute: MuteDetail | None, config: AlarmRuleConfig
) -> Disposition | None:
    """Why an alarm's event is not a fault whatever it names, or None: it is one of ours, it is not
    named for intake, it is not going into ALARM, or its actions are muted."""
    if config.operational_prefix and name.startswith(config.operational_prefix):
        return ignore(IgnoreReason.OWN_OPERATIONAL_ALARM, name)
    if not name.startswith(config.name_prefix):
        return ignore(IgnoreReason.ALARM_PREFIX_MISMATCH, name)
    if state.value != ALARM:
        return ignore(IgnoreReason.ALARM_NOT_ALARM_STATE, name)
    if mute is not None and mute.muted:
        return ignore(IgnoreReason.ALARM_MUTED, f"{name} ({mute.summary})")
    return None


def _named_node(alarm_name: str) -> tuple[str, str | None] | None:
    """(instance id, cluster or None) from an ``autoheal:`` name, or None when the name names no node."""
    if not alarm_name.startswith(NAME_PREFIX):
        return None
    rest = alarm_name.removeprefix(NAME_PREFIX)
    cluster, colon, instance_id = rest.rpartition(":")
    if colon or INSTANCE_ID_RE.fullmatch(rest):
        return instance_id, cluster or None
    return None


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
