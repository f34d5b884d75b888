"""Parser models for every EventBridge event intake accepts (CloudWatch alarms: `alarm_models`).

Strict about ids, tolerant about everything else (`autoheal.intake.lenient`): unknown fields are
ignored at every depth; `HealthStatus`, `RepairAction`, `EventLevel` are read case-insensitively and
unknown spellings (or a missing `EventLevel`) become UNKNOWN; an optional field intake does not act on
is `Droppable` - an unusable value is dropped, logged and counted, and the rest of the event is used.
What intake acts on is validated with the patterns in `autoheal.faults` and rejects the event when
unusable: the instance id; a NodeLogicalId when no instance id names the node; at least one usable
cluster identity (ClusterName, ClusterArn, or a cluster ARN in `resources`) for HyperPod events.
Free text is never length-capped here (rules clip it); ids are. Timestamps come out timezone-aware
UTC. The models only describe shapes; `rules/` decides.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel, to_pascal

from autoheal.faults import CLUSTER_ARN_RE, InstanceId
from autoheal.intake.fields import (
    AssumedUtc,
    EpochMillis,
    GroupName,
    LenientRepairAction,
    OptionalClusterArn,
    OptionalClusterName,
    OptionalInstanceId,
    OptionalLogicalId,
    PageNumber,
    Rfc1123,
    case_insensitive,
)
from autoheal.intake.lenient import Droppable, Tolerant

# ---------------------------------------------------------------- field helpers


class HealthStatus(StrEnum):
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


class _Detail(Tolerant):
    """HyperPod spells its detail fields in PascalCase."""

    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, frozen=True, extra="ignore")


class _CamelDetail(Tolerant):
    """AWS Health and CloudWatch spell theirs in camelCase."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")


class _Envelope(Tolerant):
    """The EventBridge envelope with a bounded id and a UTC time.

    The same fields, aliases and order as Powertools' `EventBridgeModel` (a test keeps them equal),
    declared here rather than inherited: importing Powertools' parser models loads every model it ships
    (dozens of event sources) at cold start, and intake needs this one.

    EventBridge's event structure reference says every event carries version, id, detail-type,
    source, account, time, region, resources and detail
    (https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html), but AWS's own
    Health retirement example has no `resources`, and the Health schema marks it "Required: No"
    (https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html). Intake
    routes on source and detail-type and uses id and time, so those are required; version, account,
    region and resources are read by nothing that acts, so a missing or unusable one is tolerated
    (`resources` defaults to `[]`, the others to "").
    """

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    version: Droppable[str] = ""
    id: str = Field(min_length=1, max_length=128)
    source: str
    account: Droppable[str] = ""
    time: AssumedUtc
    region: Droppable[str] = ""
    resources: Droppable[list[str]] = Field(default_factory=list)
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: Droppable[str | None] = Field(default=None, alias="replay-name")


class _HyperPodEnvelope(_Envelope):
    """HyperPod node events must name their cluster: in the detail, or as an ARN in `resources`."""

    def cluster(self) -> tuple[str | None, str | None]:
        """(name, ARN) of the cluster, the ARN falling back to the envelope's `resources`."""
        name, arn = self._cluster_in_detail()
        return name, arn or next((r for r in self.resources if CLUSTER_ARN_RE.fullmatch(r)), None)

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        raise NotImplementedError

    def _dropped_in_detail(self) -> dict[str, str]:
        raise NotImplementedError

    @model_validator(mode="after")
    def _names_a_cluster(self) -> _HyperPodEnvelope:
        """The cluster is what intake's faults are acted on in: at least one identity must be usable
        (an unusable one was dropped and is named here, so the rejection says why)."""
        if self.cluster() == (None, None):
            dropped = {
                k: v for k, v in self._dropped_in_detail().items() if k in ("ClusterName", "ClusterArn")
            }
            why = "; ".join(f"{name} dropped: {reason}" for name, reason in dropped.items())
            raise ValueError(
                "no usable ClusterName, ClusterArn or cluster ARN in resources" + (f" ({why})" if why else "")
            )
        return self


# ---------------------------------------------------------------- HyperPod


class HealthSummary(_Detail):
    """HMA's verdict on a node (`HealthSummary`, and `NodeHealthInfo` inside cluster events)."""

    health_status: str = Field(max_length=64)
    health_status_reason: Droppable[str] = ""
    repair_action: Droppable[LenientRepairAction] = None
    recommendation: Droppable[str] = ""

    @property
    def status(self) -> HealthStatus:
        """`HealthStatus`, case-insensitive; spellings we do not know are UNKNOWN."""
        wanted = self.health_status.strip().lower()
        return next((s for s in HealthStatus if s.value.lower() == wanted), HealthStatus.UNKNOWN)


class NodeHealthDetail(_Detail):
    """`SageMaker HyperPod Cluster Node Health Event`: flat, one node."""

    cluster_name: Droppable[OptionalClusterName] = None
    cluster_arn: Droppable[OptionalClusterArn] = None
    instance_id: InstanceId
    instance_group_name: Droppable[GroupName] = None
    tags: Droppable[dict[str, Any]] = Field(default_factory=dict)
    health_summary: HealthSummary


class NodeHealthEvent(_HyperPodEnvelope):
    detail: NodeHealthDetail

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        return self.detail.cluster_name, self.detail.cluster_arn

    def _dropped_in_detail(self) -> dict[str, str]:
        return self.detail.dropped


class EventLevel(StrEnum):
    """`Info` | `Warn` | `Error`; UNKNOWN for a missing level (the SageMaker EventBridge page's own
    Cluster Event example has none) or a spelling we do not know: classified, never rejected."""

    INFO = "Info"
    WARN = "Warn"
    ERROR = "Error"
    UNKNOWN = "Unknown"


class ResourceType(StrEnum):
    CLUSTER = "Cluster"
    INSTANCE_GROUP = "InstanceGroup"
    INSTANCE = "Instance"


class InstanceMetadata(_Detail):
    """`EventMetadata.Instance`; `NodeHealthInfo` is undocumented (seen on EKS HMA faults)."""

    failure_message: Droppable[str | None] = None
    node_logical_id: Droppable[OptionalLogicalId] = None
    lcs_execution_state: Droppable[str | None] = None
    node_health_info: Droppable[HealthSummary | None] = None


class EventMetadata(_Detail):
    """A union in the API model; only `Instance` matters to intake, the others are kept loosely."""

    instance: InstanceMetadata | None = None
    cluster: Droppable[dict[str, Any] | None] = None
    instance_group: Droppable[dict[str, Any] | None] = None
    instance_group_scaling: Droppable[dict[str, Any] | None] = None


class NestedEventDetails(_Detail):
    """`EventDetails` inside `detail.EventDetails`: the API's `ClusterEventDetail.EventDetails`."""

    event_metadata: EventMetadata | None = None


class ClusterEventDetails(_Detail):
    """`detail.EventDetails`. Its `EventMetadata` comes in two shapes, both accepted: AWS's documented
    examples (the SageMaker EventBridge page and the cluster events reference,
    https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-cluster-events-reference.html)
    nest it as `EventDetails.EventDetails.EventMetadata`, the API's own `ClusterEventDetail` shape
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterEventDetail.html); the
    awslabs EKS sample builds it one level up, `EventDetails.EventMetadata`. If both are present the
    documented (nested) one wins: it is the shape AWS specifies; the flat one is a sample's."""

    event_id: Droppable[Annotated[str, Field(min_length=1, max_length=128)] | None] = None
    cluster_arn: Droppable[OptionalClusterArn] = None
    cluster_name: Droppable[OptionalClusterName] = None
    event_time: EpochMillis
    resource_type: Annotated[ResourceType, case_insensitive(ResourceType)]
    event_level: Annotated[EventLevel, case_insensitive(EventLevel, EventLevel.UNKNOWN)] = EventLevel.UNKNOWN
    description: Droppable[str] = ""
    instance_group_name: Droppable[GroupName] = None
    instance_id: OptionalInstanceId = None
    event_metadata: EventMetadata | None = None  # flat (sample) shape
    event_details: NestedEventDetails | None = None  # documented shape

    @property
    def metadata(self) -> EventMetadata | None:
        """The documented (nested) `EventMetadata` if there is one, else the flat one."""
        nested = self.event_details.event_metadata if self.event_details else None
        return nested or self.event_metadata

    @property
    def instance(self) -> InstanceMetadata | None:
        metadata = self.metadata
        return metadata.instance if metadata else None

    @model_validator(mode="after")
    def _names_its_node(self) -> ClusterEventDetails:
        """A NodeLogicalId may be dropped only when an instance id names the node: otherwise it is what
        intake would act on, and an unusable one rejects the event."""
        instance = self.instance
        why = instance.dropped.get("NodeLogicalId") if instance else None
        if self.instance_id is None and why is not None:
            raise ValueError(f"NodeLogicalId is the only id of the node and is not usable: {why}")
        return self


class ClusterEventDetail(_Detail):
    event_details: ClusterEventDetails


class ClusterEvent(_HyperPodEnvelope):
    detail: ClusterEventDetail

    def _cluster_in_detail(self) -> tuple[str | None, str | None]:
        return self.detail.event_details.cluster_name, self.detail.event_details.cluster_arn

    def _dropped_in_detail(self) -> dict[str, str]:
        return self.detail.event_details.dropped


class ClusterStateDetail(_Detail):
    """`SageMaker HyperPod Cluster State Change`: mirrors DescribeCluster; never a node fault."""

    cluster_arn: Droppable[str | None] = None
    cluster_name: Droppable[str | None] = None
    cluster_status: Droppable[str | None] = None


class ClusterStateChange(_Envelope):
    detail: ClusterStateDetail


# ---------------------------------------------------------------- AWS Health


class AffectedEntity(_CamelDetail):
    entity_value: str
    status: Droppable[str | None] = None


class EventDescription(_CamelDetail):
    language: Droppable[str] = ""
    latest_description: Droppable[str] = ""


class HealthDetail(_CamelDetail):
    """`AWS Health Event` detail. Published Health events (AWS's aws-health-tools test events, a captured
    retirement event) lack fields the schema page lists, `statusCode` among them, so everything but
    `service`, `eventTypeCode` and the affected entities is optional; what a missing `statusCode` means is
    the rule's call (`rules.health`)."""

    event_arn: Droppable[str] = ""
    service: str
    event_type_code: str = Field(min_length=1, max_length=128)
    event_type_category: Droppable[str] = ""
    status_code: Droppable[str | None] = None
    start_time: Droppable[Rfc1123 | None] = None
    communication_id: Droppable[str | None] = None
    affected_entities: list[AffectedEntity] = Field(default_factory=list)
    event_description: Droppable[list[EventDescription]] = Field(default_factory=list)
    page: Droppable[PageNumber] = 1
    total_pages: Droppable[PageNumber] = 1
    backup_event: Droppable[bool] = False

    @property
    def description(self) -> str:
        english = [d for d in self.event_description if d.language.lower().startswith("en")]
        return next((d.latest_description for d in english or self.event_description), "")


class HealthEvent(_Envelope):
    detail: HealthDetail
