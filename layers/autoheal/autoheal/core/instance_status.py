"""HyperPod's node statuses, pure: the one table that says what each status means to the service.

`InstanceStatus.Status` of ListClusterNodes / DescribeClusterNode takes the values of the SageMaker model's
`ClusterInstanceStatus` enum (a unit test compares this table with the installed botocore model, so a
new status fails the build until it is classified here). The API reference page
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterInstanceStatusDetails.html lists
the first seven; `DetachInProgress` and `AttachInProgress` are in the model only, undocumented.

Each status is in one class, and every rule that reads a node's status asks `status_class`:

| class | statuses | remediate (guards) | reconcile (an action in progress) |
|---|---|---|---|
| healthy | Running | may act | healed once past the healthy delay |
| failed | Failure | may act | failed: the ladder climbs |
| busy | Pending, ShuttingDown, SystemUpdating, DeepHealthCheckInProgress, DetachInProgress, AttachInProgress | held (`node_<status>`), unless the node is stuck after its last action failed | wait; timed out past the step's timeout |
| gone | NotFound | ignored like a node not in the cluster | gone: closed |
| unknown | any other value | held (`node_status_unknown`), always | wait; timed out past the step's timeout |

Busy is "HyperPod is doing something with the node": an operation (a reboot's `Pending`, a replace's
`ShuttingDown`), a software update, a deep health check, or, by their names, a volume or network
interface being attached or detached (the model's `AttachClusterNodeVolume`, `DetachClusterNodeVolume`,
`AttachClusterNodeNetworkInterface`). A busy node still counts against the step's timeout, as `Pending`
always did: a node busy for longer than its action may take is stuck, and the ladder climbs.

A status this version does not know is never taken for healthy nor acted on: a status the service cannot
read is not evidence that an action worked, nor that a new one is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class InstanceStatus(StrEnum):
    """The model's `ClusterInstanceStatus` values."""

    RUNNING = "Running"
    FAILURE = "Failure"
    PENDING = "Pending"
    SHUTTING_DOWN = "ShuttingDown"
    SYSTEM_UPDATING = "SystemUpdating"
    DEEP_HEALTH_CHECK_IN_PROGRESS = "DeepHealthCheckInProgress"
    NOT_FOUND = "NotFound"
    DETACH_IN_PROGRESS = "DetachInProgress"
    ATTACH_IN_PROGRESS = "AttachInProgress"


class StatusClass(StrEnum):
    HEALTHY = "healthy"  # in service
    FAILED = "failed"  # HyperPod says the node failed
    BUSY = "busy"  # HyperPod is doing something with the node: wait
    GONE = "gone"  # the node left the cluster
    UNKNOWN = "unknown"  # a value this version does not know: never acted on, never healed


CLASSES: Mapping[InstanceStatus, StatusClass] = MappingProxyType(
    {
        InstanceStatus.RUNNING: StatusClass.HEALTHY,
        InstanceStatus.FAILURE: StatusClass.FAILED,
        InstanceStatus.PENDING: StatusClass.BUSY,
        InstanceStatus.SHUTTING_DOWN: StatusClass.BUSY,
        InstanceStatus.SYSTEM_UPDATING: StatusClass.BUSY,
        InstanceStatus.DEEP_HEALTH_CHECK_IN_PROGRESS: StatusClass.BUSY,
        InstanceStatus.DETACH_IN_PROGRESS: StatusClass.BUSY,
        InstanceStatus.ATTACH_IN_PROGRESS: StatusClass.BUSY,
        InstanceStatus.NOT_FOUND: StatusClass.GONE,
    }
)

#: The statuses of each class, for documentation and tests.
BUSY_STATUSES = frozenset(s for s, c in CLASSES.items() if c is StatusClass.BUSY)


def status_class(status: str | None) -> StatusClass:
    """The class of a node's `InstanceStatus.Status` (UNKNOWN for any value not in the table)."""
    if status is None:
        return StatusClass.UNKNOWN
    try:
        return CLASSES[InstanceStatus(status)]
    except ValueError:
        return StatusClass.UNKNOWN


def is_gone(status: str | None) -> bool:
    return status_class(status) is StatusClass.GONE
