"""Node lifecycles: what reboot, replace, delete and add do to a node over simulated time.

Transitions are *scheduled* when an operation starts and *applied lazily* by :meth:`Lifecycle.settle`
whenever the control plane is read, so no background thread exists and a frozen clock gives fully
deterministic runs. Each transition happens (and its event is stamped) at its scheduled time, not at
the time it is observed.

* reboot (from ``Running``): ``Pending`` for ``reboot_seconds``, then ``Running``; same instance id.
* replace (from ``Running`` or ``Failure``): ``ShuttingDown`` for ``shutdown_seconds``, then ``Pending``
  with a NEW instance id and the same NodeLogicalId until ``replace_seconds``, then ``Running``.
  Without capacity: ``Failure`` after the shutdown phase (old instance id kept, see below).
* delete (from ``Running`` or ``Failure``): ``ShuttingDown`` for ``delete_seconds``, then the node
  leaves the cluster and its ids become unknown.
* add: ``Pending`` without an instance id for ``add_seconds``, then ``Running`` with one (without
  capacity: ``Failure``, still without an instance id). During a capacity shortage
  (``ControlPlane.capacity_shortage``) an added node stays ``Pending``: in Continuous mode HyperPod
  keeps retrying launches until the target count is met (one ``Error`` event with the capacity
  message when the launch is first postponed), and the node runs once the shortage ends.

Faithful: identity rules (reboot keeps the instance id; replace keeps NodeLogicalId and issues a new
instance id; old ids become unknown), one operation per node at a time, capacity failures reported as
``Error`` cluster events with the documented ``FailureMessage`` ("We currently do not have sufficient
capacity to launch new <type> instances. Please try again.") and NodeLogicalId, event descriptions
modelled on the HyperPod cluster-events reference.
Simplified: durations are fixed (no jitter); capacity is a per-group count of further launches
(reserved when the call is accepted, returned by a delete, not by a replacement whose old hardware is
assumed faulty); a replacement that fails for capacity leaves the node in ``Failure`` still showing its
old instance id (so id-keyed callers can see the failure) and a later replace retries; HyperPod's own
automatic retries under ``NodeRecovery=Automatic`` are not simulated.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from hyperpod_local.plane.ids import IdFactory, private_dns_hostname
from hyperpod_local.plane.model import (
    ClusterEvent,
    ClusterState,
    GroupState,
    InstanceStatus,
    LocalNode,
    NodeTimings,
    Operation,
    OperationKind,
    Step,
    StepName,
)

REBOOTABLE = frozenset({InstanceStatus.RUNNING})
REPLACEABLE = frozenset({InstanceStatus.RUNNING, InstanceStatus.FAILURE})
DELETABLE = frozenset({InstanceStatus.RUNNING, InstanceStatus.FAILURE})

_AZ_SUFFIX = "a"
_AZ_ID_NUMBER = 1


def capacity_message(instance_type: str) -> str:
    return f"We currently do not have sufficient capacity to launch new {instance_type} instances. Please try again."


class Lifecycle:
    """Starts operations on nodes and applies their scheduled transitions."""

    def __init__(self, timings: NodeTimings, ids: IdFactory) -> None:
        self.timings = timings
        self.ids = ids
        self._sequence = itertools.count(1)

    # ----------------------------------------------------------------- nodes entering the cluster

    def new_node(
        self, cluster: ClusterState, group: GroupState, now: datetime, *, running: bool
    ) -> LocalNode:
        """A node as created with the cluster (``running``) or by BatchAdd (Pending, no instance yet)."""
        logical_id = self.ids.logical_id()
        ip = self.ids.private_ip()
        node = LocalNode(
            cluster_name=cluster.name,
            logical_id=logical_id,
            arn=f"{cluster.arn}/node/{logical_id}",
            instance_group_name=group.name,
            instance_type=group.instance_type,
            instance_id=self.ids.instance_id() if running else None,
            status=InstanceStatus.RUNNING if running else InstanceStatus.PENDING,
            launch_time=now,
            private_ip=ip,
            private_dns_hostname=private_dns_hostname(ip, cluster.region),
            availability_zone=cluster.region + _AZ_SUFFIX,
            availability_zone_id=_availability_zone_id(cluster.region),
            life_cycle_config=dict(group.life_cycle_config),
            threads_per_core=group.threads_per_core,
            sequence=next(self._sequence),
        )
        cluster.nodes[logical_id] = node
        return node

    def add(self, cluster: ClusterState, group: GroupState, now: datetime) -> LocalNode:
        """BatchAddClusterNodes for one node: Pending now, Running (or Failure) after ``add_seconds``."""
        node = self.new_node(cluster, group, now, running=False)
        node.operation = Operation(
            kind=OperationKind.ADD,
            started_at=now,
            steps=[Step(now + _seconds(self.timings.add_seconds), StepName.COMPLETE)],
            has_capacity=group.take_capacity(),
        )
        return node

    # ----------------------------------------------------------------------- operations on nodes

    def reboot(self, cluster: ClusterState, node: LocalNode, now: datetime) -> None:
        node.status = InstanceStatus.PENDING
        node.status_message = "Rebooting"
        node.operation = Operation(
            kind=OperationKind.REBOOT,
            started_at=now,
            steps=[Step(now + _seconds(self.timings.reboot_seconds), StepName.COMPLETE)],
        )
        self._event(
            cluster,
            now,
            "Info",
            f"Reboot of EC2 Instance {node.instance_id} is currently in progress in Cluster {cluster.name} "
            f"and InstanceGroup {node.instance_group_name}.",
            node,
        )

    def replace(self, cluster: ClusterState, group: GroupState, node: LocalNode, now: datetime) -> None:
        node.operation = Operation(
            kind=OperationKind.REPLACE,
            started_at=now,
            steps=[
                Step(now + _seconds(self.timings.shutdown_seconds), StepName.PROVISION),
                Step(now + _seconds(self.timings.replace_seconds), StepName.COMPLETE),
            ],
            has_capacity=group.take_capacity(),
            replaced_instance_id=node.instance_id,
        )
        node.status_message = "Replacing"
        if node.instance_id is None:
            node.status = InstanceStatus.PENDING
            return
        node.status = InstanceStatus.SHUTTING_DOWN
        self._event(
            cluster,
            now,
            "Info",
            f"Termination of EC2 Instance {node.instance_id} is currently in progress as part of instance "
            f"replacement in Cluster {cluster.name} and InstanceGroup {node.instance_group_name}.",
            node,
        )

    def delete(self, cluster: ClusterState, node: LocalNode, now: datetime) -> None:
        node.status = InstanceStatus.SHUTTING_DOWN
        node.status_message = "Deleting"
        node.operation = Operation(
            kind=OperationKind.DELETE,
            started_at=now,
            steps=[Step(now + _seconds(self.timings.delete_seconds), StepName.REMOVE)],
        )
        self._event(
            cluster,
            now,
            "Info",
            f"Termination of EC2 Instance {node.instance_id} is currently in progress in Cluster "
            f"{cluster.name} and InstanceGroup {node.instance_group_name}.",
            node,
        )

    # ------------------------------------------------------------------------------- transitions

    def settle(self, cluster: ClusterState, now: datetime) -> None:
        """Apply every transition scheduled at or before ``now``, each at its own scheduled time."""
        for node in list(cluster.nodes.values()):
            while node.operation is not None:
                step = node.operation.due_step(now)
                if step is None:
                    break
                node.operation.steps.pop(0)
                self._apply(cluster, node, node.operation, step)
                if not node.operation.steps:
                    node.operation = None

    def _apply(self, cluster: ClusterState, node: LocalNode, operation: Operation, step: Step) -> None:
        at = step.at
        group = node.instance_group_name
        where = f"in Cluster {cluster.name} and InstanceGroup {group}"
        if step.name is StepName.REMOVE:
            del cluster.nodes[node.logical_id]
            cluster.groups[group].release_capacity()
            self._event(
                cluster,
                at,
                "Info",
                f"Instance deletion {node.instance_id} {where} completed successfully.",
                node,
            )
        elif step.name is StepName.PROVISION:
            if not operation.has_capacity:
                self._fail_for_capacity(
                    cluster,
                    node,
                    operation,
                    at,
                    f"Instance {node.instance_id} failed as part of instance replacement {where}.",
                )
                return
            node.instance_id = self.ids.instance_id()
            node.launch_time = at
            node.status = InstanceStatus.PENDING
            self._event(
                cluster,
                at,
                "Info",
                f"Instance {node.instance_id} is starting as part of instance replacement of Instance "
                f"{operation.replaced_instance_id} {where}.",
                node,
            )
        elif operation.kind is OperationKind.ADD:
            if self._postponed(cluster, node, operation, at):
                return
            if not operation.has_capacity:
                self._fail_for_capacity(cluster, node, operation, at, f"Instance creation {where} failed.")
                return
            node.instance_id = self.ids.instance_id()
            node.launch_time = at
            self._running(node)
            self._event(
                cluster,
                at,
                "Info",
                f"EC2 Instance {node.instance_id} successfully provisioned {where}.",
                node,
            )
        else:
            self._running(node)
            verb = "reboot" if operation.kind is OperationKind.REBOOT else "replacement"
            if operation.kind is OperationKind.REBOOT:
                text = f"Instance reboot {node.instance_id} {where} completed successfully."
            else:
                text = (
                    f"Instance {node.instance_id} completed successfully as part of instance {verb} {where}."
                )
            self._event(cluster, at, "Info", text, node)

    def _postponed(self, cluster: ClusterState, node: LocalNode, operation: Operation, at: datetime) -> bool:
        """An added node's launch during a shortage: still Pending, retried when the shortage ends."""
        until = cluster.groups[node.instance_group_name].shortage_until
        if until is None or at >= until:
            return False
        operation.steps.append(Step(until, StepName.COMPLETE))
        if node.status_message == "":
            node.status_message = capacity_message(node.instance_type)
            self._event(
                cluster,
                at,
                "Error",
                f"Instance creation in Cluster {cluster.name} and InstanceGroup {node.instance_group_name} "
                "is waiting for capacity; HyperPod keeps retrying.",
                node,
                {"Instance": {"FailureMessage": node.status_message, "NodeLogicalId": node.logical_id}},
            )
        return True

    @staticmethod
    def _running(node: LocalNode) -> None:
        node.status = InstanceStatus.RUNNING
        node.status_message = ""

    def _fail_for_capacity(
        self, cluster: ClusterState, node: LocalNode, operation: Operation, at: datetime, description: str
    ) -> None:
        message = capacity_message(node.instance_type)
        node.status = InstanceStatus.FAILURE
        node.status_message = message
        operation.steps.clear()
        self._event(
            cluster,
            at,
            "Error",
            description,
            node,
            {"Instance": {"FailureMessage": message, "NodeLogicalId": node.logical_id}},
        )

    def _event(
        self,
        cluster: ClusterState,
        at: datetime,
        level: str,
        description: str,
        node: LocalNode,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        cluster.events.append(
            ClusterEvent(
                event_id=self.ids.event_id(),
                cluster_arn=cluster.arn,
                cluster_name=cluster.name,
                resource_type="Instance",
                event_time=at,
                event_level=level,
                description=description,
                instance_group_name=node.instance_group_name,
                instance_id=node.instance_id,
                metadata=metadata or {"Instance": {"NodeLogicalId": node.logical_id}},
            )
        )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _availability_zone_id(region: str) -> str:
    parts = region.split("-")
    prefix = parts[0] + "".join(part[0] for part in parts[1:-1]) + parts[-1]
    return f"{prefix}-az{_AZ_ID_NUMBER}"
