"""The one internal fault model every trigger is normalised into.

Intake produces `NodeFault`s (one per affected node) and puts them on the queue as JSON; the
remediate function parses them back. Nothing downstream of intake sees an event's raw shape.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

# Patterns from the SageMaker API model (ClusterNodeId, ClusterNodeLogicalId, ClusterNameOrArn).
INSTANCE_ID_RE = re.compile(r"^i-[a-f0-9]{8}(?:[a-f0-9]{9})?$")
LOGICAL_ID_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]$")
CLUSTER_NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
CLUSTER_ARN_RE = re.compile(r"^arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12}$")


def _instance_id(value: str) -> str:
    if not INSTANCE_ID_RE.fullmatch(value):
        raise ValueError(f"not an EC2 instance id (i- and 8 or 17 hex digits): {value[:80]!r}")
    return value


def _logical_id(value: str) -> str:
    if len(value) > 128 or not LOGICAL_ID_RE.fullmatch(value):
        raise ValueError(f"not a HyperPod NodeLogicalId: {value[:80]!r}")
    return value


def _cluster_name(value: str) -> str:
    if not CLUSTER_NAME_RE.fullmatch(value):
        raise ValueError(f"not a HyperPod cluster name: {value[:80]!r}")
    return value


def _cluster_arn(value: str) -> str:
    if not CLUSTER_ARN_RE.fullmatch(value):
        raise ValueError(f"not a HyperPod cluster ARN: {value[:120]!r}")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


InstanceId = Annotated[str, AfterValidator(_instance_id)]
NodeLogicalId = Annotated[str, AfterValidator(_logical_id)]
ClusterName = Annotated[str, AfterValidator(_cluster_name)]
ClusterArn = Annotated[str, AfterValidator(_cluster_arn)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


class FaultSource(StrEnum):
    """Which trigger a fault came from."""

    NODE_HEALTH = "hyperpod.node_health"
    CLUSTER_EVENT = "hyperpod.cluster_event"
    AWS_HEALTH = "aws.health"
    CLOUDWATCH_ALARM = "aws.cloudwatch"
    HMA_LOG = "hyperpod.hma_log"
    RECONCILE = "autoheal.reconcile"  # reconcile saw an action fail or time out


class Severity(StrEnum):
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class RepairAction(StrEnum):
    """HyperPod's (or HMA's) own repair intent, kept as a signal, never obeyed blindly."""

    NONE = "None"
    REBOOT = "Reboot"
    REPLACE = "Replace"
    UNKNOWN = "Unknown"


class NodeFault(BaseModel):
    """One fault on one node, whatever trigger reported it.

    A fault must name its node by instance id or NodeLogicalId. The cluster may be unknown only for
    AWS Health and alarm faults; remediate resolves it from the cluster's node list before acting.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: ClusterName | None = None
    cluster_arn: ClusterArn | None = None
    instance_id: InstanceId | None = None
    node_logical_id: NodeLogicalId | None = None
    instance_group: str | None = Field(default=None, max_length=63)
    signal: str = Field(min_length=1, max_length=128, description="short machine-readable fault type")
    reason: str = Field(default="", max_length=2048, description="human text from the event")
    severity: Severity = Severity.ERROR
    repair_action: RepairAction | None = None
    #: A Node Health Event's `HealthSummary.Recommendation` text, kept as it came: information for
    #: `history`, not a verdict. AWS documents the field only by its example ("Please Replace the
    #: Faulty Node.", on an event whose RepairAction is None), with no values or meaning:
    #: https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html
    recommendation: str | None = Field(default=None, max_length=1024)
    #: The NVIDIA Xid the fault reports, where its record names one (HMA log records); the signal
    #: table keys its Xid rules on it (`autoheal.signals`). None: no Xid, or a message queued before.
    xid: int | None = Field(default=None, ge=0, le=999)
    source: FaultSource
    source_event_id: str = Field(min_length=1, max_length=256)
    observed_at: UtcDatetime
    #: When the service first took the fault in (intake, or reconcile for its own faults). The event's
    #: age is judged once, against this; a message queued before the field existed has none and is
    #: judged on arrival instead (`admitted`).
    received_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _names_a_node(self) -> NodeFault:
        if self.instance_id is None and self.node_logical_id is None:
            raise ValueError("a NodeFault needs an instance_id or a node_logical_id")
        return self

    def received(self, now: datetime) -> tuple[NodeFault, float]:
        """The fault as intake takes it in at `now`: stamped with its receipt time, and its
        `observed_at` clamped to it (HMA records carry the node's clock, which may run ahead). Returns
        the seconds clamped off (0: the event was not future-dated)."""
        skew = (self.observed_at - now).total_seconds()
        update: dict[str, datetime] = {"received_at": now}
        if skew > 0:
            update["observed_at"] = now
        return self.model_copy(update=update), max(0.0, skew)

    def admitted(self, now: datetime) -> NodeFault:
        """The fault with its receipt time: its own, or `now` for a fault that never had one (it is
        judged now, once; a held fault then keeps that age)."""
        return self if self.received_at is not None else self.model_copy(update={"received_at": now})

    @property
    def cluster_ref(self) -> str | None:
        """What the SageMaker API accepts as ClusterName: the name if known, else the ARN."""
        return self.cluster_name or self.cluster_arn

    @property
    def node_ref(self) -> str:
        """The best identity we have for the node before resolution (logical id survives replace)."""
        return self.node_logical_id or self.instance_id or ""

    @property
    def dedupe_key(self) -> str:
        """Faults with the same key in one batch are one fault (same node, same source event)."""
        return f"{self.cluster_ref}|{self.instance_id or self.node_logical_id}|{self.source_event_id}"


def utcnow() -> datetime:
    return datetime.now(UTC)
