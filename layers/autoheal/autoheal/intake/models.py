"""Powertools parser models for every EventBridge event intake accepts.

Lenient where AWS is vague (extra fields are ignored, `HealthStatus` and `RepairAction` are read
case-insensitively and unknown spellings become UNKNOWN), strict where it matters: instance ids,
NodeLogicalIds, cluster names and ARNs are validated with the patterns in `autoheal.faults`.
Free text is never length-capped here (rules clip it); ids are. Timestamps come out timezone-aware
UTC. The models only describe shapes; `rules/` decides.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Annotated, Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel, to_pascal

from autoheal.faults import (
    CLUSTER_ARN_RE,
    ClusterArn,
    ClusterName,
    InstanceId,
    NodeLogicalId,
    RepairAction,
)
from autoheal.intake.alarm_mute import OptionalMuteDetail

SAGEMAKER = "aws.sagemaker"
HEALTH = "aws.health"
CLOUDWATCH = "aws.cloudwatch"

NODE_HEALTH_EVENT = "SageMaker HyperPod Cluster Node Health Event"
CLUSTER_EVENT = "SageMaker HyperPod Cluster Event"
CLUSTER_STATE_CHANGE = "SageMaker HyperPod Cluster State Change"
HEALTH_EVENT = "AWS Health Event"
ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
ALARM_CONTRIBUTOR_STATE_CHANGE = "CloudWatch Alarm Contributor State Change"


# ---------------------------------------------------------------- field helpers


def _blank_to_none(value: object) -> object:
    """Optional ids sometimes arrive as "" - treat that as absent, not as a bad id."""
    return None if isinstance(value, str) and not value.strip() else value


def _as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC (AWS sends UTC); aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _epoch_millis(value: object) -> object:
    """HyperPod's EventTime is epoch milliseconds in EventBridge (ISO strings also accepted)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool):
        raise ValueError("EventTime must be epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"EventTime out of range: {value!r}") from exc
    return value


def _rfc1123(value: object) -> object:
    """AWS Health times are RFC-1123 strings ("Fri, 3 Jun 2022 05:01:10 GMT"); ISO also accepted."""
    if isinstance(value, str):
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value  # let pydantic try ISO-8601, and report it if that fails too
    return value


def _repair_action(value: object) -> object:
    if not isinstance(value, str):
        return value
    by_name = {member.value.lower(): member for member in RepairAction}
    return by_name.get(value.strip().lower(), RepairAction.UNKNOWN)


def _json_object(value: object) -> object:
    """CloudWatch's reasonData is a JSON-encoded string; nothing depends on it, so bad JSON is None."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return value


#: An AWS timestamp, naive taken as UTC. Not `faults.UtcDatetime`, which refuses naive times in our own
#: models (a queued `NodeFault` always carries its offset).
AssumedUtc = Annotated[datetime, AfterValidator(_as_utc)]
EpochMillis = Annotated[datetime, BeforeValidator(_epoch_millis), AfterValidator(_as_utc)]
Rfc1123 = Annotated[datetime, BeforeValidator(_rfc1123), AfterValidator(_as_utc)]
OptionalInstanceId = Annotated[InstanceId | None, BeforeValidator(_blank_to_none)]
OptionalLogicalId = Annotated[NodeLogicalId | None, BeforeValidator(_blank_to_none)]
OptionalClusterName = Annotated[ClusterName | None, BeforeValidator(_blank_to_none)]
OptionalClusterArn = Annotated[ClusterArn | None, BeforeValidator(_blank_to_none)]
LenientRepairAction = Annotated[RepairAction | None, BeforeValidator(_repair_action)]


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


class _Detail(BaseModel):
    """HyperPod spells its detail fields in PascalCase."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, frozen=True)


class _CamelDetail(BaseModel):
    """AWS Health and CloudWatch spell theirs in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class _Envelope(EventBridgeModel):
    """The EventBridge envelope with a bounded id and a UTC time."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=128)
    time: AssumedUtc


class _HyperPodEnvelope(_Envelope):
    """HyperPod node events must name their cluster: in the detail, or as an ARN in `resources`."""

    def cluster(self) -> tuple[str | None, str | None]:
        """(name, ARN) of the cluster, the ARN falling back to the envelope's `resources`."""
        name, arn = self._cluster_in_detail()
        return name, arn or next((r for r in self.resources if CLUSTER_ARN_RE.fullmatch(r)), None)

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        raise NotImplementedError

    @model_validator(mode="after")
    def _names_a_cluster(self) -> _HyperPodEnvelope:
        if self.cluster() == (None, None):
            raise ValueError("no ClusterName, ClusterArn or cluster ARN in resources")
        return self


# ---------------------------------------------------------------- HyperPod


class HealthSummary(_Detail):
    """HMA's verdict on a node (`HealthSummary`, and `NodeHealthInfo` inside cluster events)."""

    health_status: str = Field(max_length=64)
    health_status_reason: str = ""
    repair_action: LenientRepairAction = None
    recommendation: str = ""

    @property
    def status(self) -> HealthStatus:
        """`HealthStatus`, case-insensitive; spellings we do not know are UNKNOWN."""
        wanted = self.health_status.strip().lower()
        return next((s for s in HealthStatus if s.value.lower() == wanted), HealthStatus.UNKNOWN)


class NodeHealthDetail(_Detail):
    """`SageMaker HyperPod Cluster Node Health Event`: flat, one node."""

    cluster_name: OptionalClusterName = None
    cluster_arn: OptionalClusterArn = None
    instance_id: InstanceId
    instance_group_name: str | None = Field(default=None, max_length=63)
    tags: dict[str, Any] = Field(default_factory=dict)
    health_summary: HealthSummary


class NodeHealthEvent(_HyperPodEnvelope):
    detail: NodeHealthDetail

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        return self.detail.cluster_name, self.detail.cluster_arn


class EventLevel(StrEnum):
    INFO = "Info"
    WARN = "Warn"
    ERROR = "Error"


class ResourceType(StrEnum):
    CLUSTER = "Cluster"
    INSTANCE_GROUP = "InstanceGroup"
    INSTANCE = "Instance"


def _case_insensitive(enum: type[StrEnum]) -> BeforeValidator:
    def pick(value: object) -> object:
        if isinstance(value, str):
            wanted = value.strip().lower()
            return next((m for m in enum if m.value.lower() == wanted), value)
        return value

    return BeforeValidator(pick)


class InstanceMetadata(_Detail):
    """`EventMetadata.Instance`; `NodeHealthInfo` is undocumented (seen on EKS HMA faults)."""

    failure_message: str | None = None
    node_logical_id: OptionalLogicalId = None
    lcs_execution_state: str | None = None
    node_health_info: HealthSummary | None = None


class EventMetadata(_Detail):
    """A union in the API model; only `Instance` matters to intake, the others are kept loosely."""

    instance: InstanceMetadata | None = None
    cluster: dict[str, Any] | None = None
    instance_group: dict[str, Any] | None = None
    instance_group_scaling: dict[str, Any] | None = None


class ClusterEventDetails(_Detail):
    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    cluster_arn: OptionalClusterArn = None
    cluster_name: OptionalClusterName = None
    event_time: EpochMillis
    resource_type: Annotated[ResourceType, _case_insensitive(ResourceType)]
    event_level: Annotated[EventLevel, _case_insensitive(EventLevel)]
    description: str = ""
    instance_group_name: str | None = Field(default=None, max_length=63)
    instance_id: OptionalInstanceId = None
    event_metadata: EventMetadata | None = None

    @property
    def instance(self) -> InstanceMetadata | None:
        return self.event_metadata.instance if self.event_metadata else None


class ClusterEventDetail(_Detail):
    event_details: ClusterEventDetails


class ClusterEvent(_HyperPodEnvelope):
    detail: ClusterEventDetail

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        return self.detail.event_details.cluster_name, self.detail.event_details.cluster_arn


class ClusterStateDetail(_Detail):
    """`SageMaker HyperPod Cluster State Change`: mirrors DescribeCluster; never a node fault."""

    cluster_arn: str | None = None
    cluster_name: str | None = None
    cluster_status: str | None = None


class ClusterStateChange(_Envelope):
    detail: ClusterStateDetail


# ---------------------------------------------------------------- AWS Health


class AffectedEntity(_CamelDetail):
    entity_value: str
    status: str | None = None


class EventDescription(_CamelDetail):
    language: str = ""
    latest_description: str = ""


class HealthDetail(_CamelDetail):
    event_arn: str = ""
    service: str
    event_type_code: str = Field(min_length=1, max_length=128)
    event_type_category: str = ""
    status_code: str
    start_time: Rfc1123 | None = None
    communication_id: str | None = None
    affected_entities: list[AffectedEntity] = Field(default_factory=list)
    event_description: list[EventDescription] = Field(default_factory=list)
    page: int = Field(default=1, ge=1)
    total_pages: int = Field(default=1, ge=1)
    backup_event: bool = False

    @property
    def description(self) -> str:
        english = [d for d in self.event_description if d.language.lower().startswith("en")]
        return next((d.latest_description for d in english or self.event_description), "")


class HealthEvent(_Envelope):
    detail: HealthDetail


# ---------------------------------------------------------------- CloudWatch alarms

#: A Metrics Insights query with GROUP BY: one alarm over many time series (a multi-time-series alarm).
_GROUPED_QUERY = re.compile(r"^\s*SELECT\b.*\bGROUP\s+BY\b", re.IGNORECASE | re.DOTALL)


class AlarmState(_CamelDetail):
    value: str
    reason: str = ""
    reason_data: Annotated[dict[str, Any] | None, BeforeValidator(_json_object)] = None
    timestamp: str | None = None


class MetricIdentity(_CamelDetail):
    namespace: str = ""
    name: str = ""
    dimensions: dict[str, str] = Field(default_factory=dict)


class MetricStat(_CamelDetail):
    metric: MetricIdentity


class AlarmMetric(_CamelDetail):
    id: str = ""
    metric_stat: MetricStat | None = None
    expression: str | None = None


class AlarmConfiguration(_CamelDetail):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)

    @property
    def multi_time_series(self) -> bool:
        """A Metrics Insights alarm with GROUP BY: each contributor sends its own state change."""
        return any(m.expression and _GROUPED_QUERY.match(m.expression) for m in self.metrics)


class AlarmDetail(_CamelDetail):
    alarm_name: str = Field(min_length=1, max_length=255)
    state: AlarmState
    previous_state: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    mute_detail: OptionalMuteDetail = None

    def dimension_values(self, name: str) -> list[str]:
        """Distinct values of one metric dimension across the alarm's metrics, in order."""
        values = (
            m.metric_stat.metric.dimensions.get(name) for m in self.configuration.metrics if m.metric_stat
        )
        return list(dict.fromkeys(v for v in values if v))


class AlarmStateChange(_Envelope):
    detail: AlarmDetail


class AlarmContributor(_CamelDetail):
    """One time series of a Metrics Insights multi-time-series alarm: its GROUP BY dimensions."""

    id: str = Field(min_length=1, max_length=1024)
    attributes: dict[str, str] = Field(default_factory=dict)


class AlarmContributorDetail(_CamelDetail):
    """`CloudWatch Alarm Contributor State Change`: one contributor's state (no previousState)."""

    alarm_name: str = Field(min_length=1, max_length=255)
    alarm_contributor: AlarmContributor
    state: AlarmState
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    mute_detail: OptionalMuteDetail = None


class AlarmContributorStateChange(_Envelope):
    detail: AlarmContributorDetail
