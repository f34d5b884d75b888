"""State of the local control plane: clusters, instance groups, nodes, operations, events, calls.

Mutable classes (:class:`ClusterState`, :class:`GroupState`, :class:`LocalNode`) are only touched
under the :class:`~hyperpod_local.plane.control.ControlPlane` lock; callers outside get frozen snapshots
(:class:`NodeView`, :class:`ClusterEvent`, :class:`BatchCall`).

:class:`LocalNode` doubles as moto's ``ClusterNode`` (same attribute names: ``arn``, ``instance_id``,
``instance_group_name``, ``launch_time``, ``status``, and ``describe()``/``summary()``), because the
control plane stores its nodes *in* moto's backend (``cluster.nodes``) so that a
``POST /moto-api/reset`` wipes them together with the rest of moto's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hyperpod_local.plane.ports import RawCluster


class InstanceStatus(StrEnum):
    """``ClusterInstanceStatus`` values (every one of the botocore model's; a test compares them).

    The lifecycles produce ``Running``, ``Failure``, ``Pending`` and ``ShuttingDown``; ``NotFound`` is
    what BatchAddClusterNodes reports for a node that left the cluster. The others only come from
    ``ControlPlane.set_status`` (a node HyperPod itself is busy with: an update, a deep health check,
    a volume or network interface being attached or detached).
    """

    RUNNING = "Running"
    FAILURE = "Failure"
    PENDING = "Pending"
    SHUTTING_DOWN = "ShuttingDown"
    SYSTEM_UPDATING = "SystemUpdating"
    DEEP_HEALTH_CHECK_IN_PROGRESS = "DeepHealthCheckInProgress"
    NOT_FOUND = "NotFound"
    DETACH_IN_PROGRESS = "DetachInProgress"
    ATTACH_IN_PROGRESS = "AttachInProgress"


class OperationKind(StrEnum):
    REBOOT = "reboot"
    REPLACE = "replace"
    DELETE = "delete"
    ADD = "add"


class StepName(StrEnum):
    """Scheduled transitions of an operation (see :mod:`hyperpod_local.plane.lifecycle`)."""

    PROVISION = "provision"  # replace: old instance gone -> new instance id, Pending (or Failure)
    COMPLETE = "complete"  # reboot/replace/add: -> Running (add without capacity: -> Failure)
    REMOVE = "remove"  # delete: the node leaves the cluster


@dataclass(frozen=True)
class NodeTimings:
    """Simulated durations (seconds) of node operations.

    Real HyperPod: a replacement typically takes 20-30 minutes and a reboot a few minutes; the
    defaults are shorter round numbers so tests can reason about them. Replacement spends
    ``shutdown_seconds`` in ``ShuttingDown``, then ``Pending`` (with the new instance id) until
    ``replace_seconds`` after the call, then ``Running``.
    """

    reboot_seconds: float = 120.0
    shutdown_seconds: float = 60.0
    replace_seconds: float = 600.0
    delete_seconds: float = 60.0
    add_seconds: float = 300.0

    def __post_init__(self) -> None:
        for name in (
            "reboot_seconds",
            "shutdown_seconds",
            "replace_seconds",
            "delete_seconds",
            "add_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if self.replace_seconds <= self.shutdown_seconds:
            raise ValueError("replace_seconds must be greater than shutdown_seconds")


@dataclass(frozen=True)
class Step:
    at: datetime
    name: StepName


@dataclass
class Operation:
    """An operation in progress on one node; the node is busy until its last step has run."""

    kind: OperationKind
    started_at: datetime
    steps: list[Step]
    has_capacity: bool = True
    replaced_instance_id: str | None = None

    def due_step(self, now: datetime) -> Step | None:
        if self.steps and self.steps[0].at <= now:
            return self.steps[0]
        return None


@dataclass
class GroupState:
    """An instance group with what moto drops: SlurmConfig.NodeType, group status, capacity."""

    name: str
    instance_type: str
    execution_role: str
    life_cycle_config: dict[str, Any]
    threads_per_core: int | None
    node_type: str | None = None
    status: str = "InService"
    capacity: int | None = None  # further instance launches that will succeed; None = unlimited
    shortage_until: datetime | None = None  # added nodes stay Pending until then (Continuous retries)

    def take_capacity(self) -> bool:
        """Reserve one instance launch; ``False`` when the group has no capacity left."""
        if self.capacity is None:
            return True
        if self.capacity <= 0:
            return False
        self.capacity -= 1
        return True

    def release_capacity(self) -> None:
        if self.capacity is not None:
            self.capacity += 1

    @property
    def is_slurm_controller(self) -> bool:
        return self.node_type == "Controller"


@dataclass(eq=False)
class LocalNode:
    """One HyperPod node. Keyed by its NodeLogicalId, which survives replacement."""

    cluster_name: str
    logical_id: str
    arn: str
    instance_group_name: str
    instance_type: str
    instance_id: str | None
    status: InstanceStatus
    launch_time: datetime
    private_ip: str
    private_dns_hostname: str
    availability_zone: str
    availability_zone_id: str
    life_cycle_config: dict[str, Any]
    threads_per_core: int | None
    sequence: int = 0  # creation order, breaks ties between equal launch times
    status_message: str = ""
    operation: Operation | None = None
    busy_since: datetime | None = None  # an operation the caller did not start (ControlPlane.set_busy)
    busy_until: datetime | None = None
    busy_reason: str = ""

    def is_busy(self, now: datetime) -> bool:
        return self.operation is not None or (self.busy_until is not None and now < self.busy_until)

    def instance_status(self) -> dict[str, str]:
        status = {"Status": self.status.value}
        if self.status_message:
            status["Message"] = self.status_message
        return status

    def describe(self) -> dict[str, Any]:
        """``DescribeClusterNode.NodeDetails`` (always carries NodeLogicalId)."""
        details: dict[str, Any] = {
            "InstanceGroupName": self.instance_group_name,
            "NodeLogicalId": self.logical_id,
            "InstanceStatus": self.instance_status(),
            "InstanceType": self.instance_type,
            "LaunchTime": self.launch_time,
            "LifeCycleConfig": self.life_cycle_config,
            "PrivatePrimaryIp": self.private_ip,
            "PrivateDnsHostname": self.private_dns_hostname,
            "Placement": {
                "AvailabilityZone": self.availability_zone,
                "AvailabilityZoneId": self.availability_zone_id,
            },
        }
        if self.instance_id is not None:
            details["InstanceId"] = self.instance_id
        if self.threads_per_core is not None:
            details["ThreadsPerCore"] = self.threads_per_core
        return details

    def summary(self, include_logical_id: bool = False) -> dict[str, Any]:
        """``ListClusterNodes.ClusterNodeSummaries[]`` member."""
        summary: dict[str, Any] = {
            "InstanceGroupName": self.instance_group_name,
            "InstanceType": self.instance_type,
            "LaunchTime": self.launch_time,
            "InstanceStatus": self.instance_status(),
            "PrivateDnsHostname": self.private_dns_hostname,
        }
        if self.instance_id is not None:
            summary["InstanceId"] = self.instance_id
        if include_logical_id:
            summary["NodeLogicalId"] = self.logical_id
        return summary


@dataclass(frozen=True)
class ClusterEvent:
    """An entry of the cluster event stream (fields of ``ClusterEventDetail``)."""

    event_id: str
    cluster_arn: str
    cluster_name: str
    resource_type: str  # Cluster | InstanceGroup | Instance
    event_time: datetime
    event_level: str  # Info | Warn | Error
    description: str
    instance_group_name: str | None = None
    instance_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The ``ClusterEventDetail`` shape (as DescribeClusterEvent would return it)."""
        detail: dict[str, Any] = {
            "EventId": self.event_id,
            "ClusterArn": self.cluster_arn,
            "ClusterName": self.cluster_name,
            "ResourceType": self.resource_type,
            "EventTime": self.event_time,
            "EventLevel": self.event_level,
            "Description": self.description,
        }
        if self.instance_group_name is not None:
            detail["InstanceGroupName"] = self.instance_group_name
        if self.instance_id is not None:
            detail["InstanceId"] = self.instance_id
        if self.metadata:
            detail["EventDetails"] = {"EventMetadata": self.metadata}
        return detail


@dataclass(frozen=True)
class AddedNode:
    logical_id: str
    instance_group_name: str


@dataclass(frozen=True)
class AddRequest:
    """A remembered BatchAddClusterNodes answer, replayed for the same ClientToken for 8 hours."""

    fingerprint: tuple[tuple[str, int], ...]
    issued_at: datetime
    added: tuple[AddedNode, ...]
    failed: tuple[dict[str, Any], ...]

    def expired(self, now: datetime, ttl: timedelta) -> bool:
        return now >= self.issued_at + ttl


@dataclass(eq=False)
class ClusterState:
    """Control-plane view of one moto cluster, bound to that exact moto object."""

    account_id: str
    region: str
    name: str
    arn: str
    backend_cluster: RawCluster  # moto's Cluster; identity tells whether moto was reset or it was deleted
    node_recovery: str
    provisioning_mode: str | None
    orchestrator: dict[str, Any] | None
    groups: dict[str, GroupState]
    nodes: dict[str, LocalNode]  # by NodeLogicalId; the very dict moto holds as cluster.nodes
    events: list[ClusterEvent] = field(default_factory=list)
    add_requests: dict[str, AddRequest] = field(default_factory=dict)

    @property
    def is_continuous(self) -> bool:
        return self.provisioning_mode == "Continuous"

    def node_by_instance_id(self, instance_id: str) -> LocalNode | None:
        for node in self.nodes.values():
            if node.instance_id == instance_id:
                return node
        return None


@dataclass(frozen=True)
class NodeView:
    """A snapshot of one node for test assertions."""

    cluster_name: str
    instance_group_name: str
    node_type: str | None
    logical_id: str
    instance_id: str | None
    status: str
    status_message: str
    instance_type: str
    launch_time: datetime
    busy: bool
    operation: str | None


@dataclass(frozen=True)
class BatchCall:
    """One Batch* request as received by the local control plane (answered or not)."""

    action: str  # e.g. "BatchReplaceClusterNodes"
    cluster: str  # ClusterName exactly as sent (name or ARN)
    node_ids: tuple[str, ...]
    node_logical_ids: tuple[str, ...]
    nodes_to_add: tuple[tuple[str, int], ...]
    client_token: str | None
    at: datetime  # simulated time
    monotonic: float  # real time.monotonic() at receipt, for rate assertions
    error_code: str | None  # whole-request error (ThrottlingException, ValidationException, ...)
    failed_codes: tuple[str, ...]  # per-entry failure codes of an answered request

    @property
    def size(self) -> int:
        """Number of nodes named (reboot/replace/delete) or requested (add)."""
        return len(self.node_ids) + len(self.node_logical_ids) + sum(count for _, count in self.nodes_to_add)

    @property
    def throttled(self) -> bool:
        return self.error_code == "ThrottlingException"
