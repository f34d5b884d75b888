"""Realistic HyperPod clusters, created through a real boto3 SageMaker client.

:func:`create_cluster` sends a CreateCluster request that both botocore and moto accept (moto needs
``LifeCycleConfig.SourceS3Uri`` starting with ``s3://sagemaker-``, an ``ExecutionRole`` and
``ThreadsPerCore`` on every group; the control plane accepts every instance type of the botocore
model's ``ClusterInstanceType``, e.g. ``ml.p5.48xlarge``, ``ml.p5en.48xlarge`` or ``ml.trn2.48xlarge``),
then reads the nodes back with the ListClusterNodes paginator, exactly as a
caller of the real API would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperpod_local.plane.control import ControlPlane

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_LIFECYCLE_URI = "s3://sagemaker-hyperpod-lifecycle/scripts/"
DEFAULT_EKS_CLUSTER_ARN = f"arn:aws:eks:us-east-1:{DEFAULT_ACCOUNT_ID}:cluster/hyperpod-eks"


@dataclass(frozen=True)
class GroupSpec:
    """One instance group. ``node_type`` (Controller | Login | Compute) sets ``SlurmConfig.NodeType``;
    ``capacity`` limits further launches (replacements/additions) in the group (None = unlimited)."""

    name: str
    instance_type: str
    count: int
    node_type: str | None = None
    capacity: int | None = None
    threads_per_core: int = 1


@dataclass(frozen=True)
class CreatedNode:
    """A node as ListClusterNodes(IncludeNodeLogicalIds=True) reported it at creation."""

    instance_id: str
    logical_id: str
    group: str


@dataclass(frozen=True)
class ClusterFixture:
    """What :func:`create_cluster` made: name, ARN, groups and nodes (creation order)."""

    name: str
    arn: str
    groups: tuple[GroupSpec, ...]
    nodes: tuple[CreatedNode, ...]

    def in_group(self, group: str) -> list[CreatedNode]:
        return [node for node in self.nodes if node.group == group]

    def instance_ids(self, group: str | None = None) -> list[str]:
        return [node.instance_id for node in self.nodes if group is None or node.group == group]

    def logical_ids(self, group: str | None = None) -> list[str]:
        return [node.logical_id for node in self.nodes if group is None or node.group == group]


def create_cluster(
    sagemaker_client: Any,
    control: ControlPlane | None,
    name: str,
    groups: Sequence[GroupSpec],
    *,
    node_recovery: str = "None",
    provisioning_mode: str | None = "Continuous",
    orchestrator: str | None = "Slurm",
    account_id: str = DEFAULT_ACCOUNT_ID,
    tags: Mapping[str, str] | None = None,
) -> ClusterFixture:
    """Create a HyperPod cluster through ``sagemaker_client`` and describe its nodes.

    Args:
        sagemaker_client: a boto3 SageMaker client pointed at the local endpoint.
        control: the control plane, needed only when a group sets ``capacity``.
        name: cluster name.
        groups: instance groups, in order.
        node_recovery: ``"None"`` (the caller remediates) or ``"Automatic"``.
        provisioning_mode: ``"Continuous"`` (NodeLogicalIds, BatchAdd) or None for the legacy mode.
        orchestrator: ``"Slurm"``, ``"Eks"`` or None.
        account_id: account used in the execution role ARN.
        tags: cluster tags (ListTags on the cluster ARN returns them).
    """
    request: dict[str, Any] = {
        "ClusterName": name,
        "InstanceGroups": [_group_request(group, account_id) for group in groups],
        "NodeRecovery": node_recovery,
    }
    if provisioning_mode is not None:
        request["NodeProvisioningMode"] = provisioning_mode
    if tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if orchestrator == "Slurm":
        request["Orchestrator"] = {"Slurm": {"SlurmConfigStrategy": "Managed"}}
    elif orchestrator == "Eks":
        request["Orchestrator"] = {"Eks": {"ClusterArn": DEFAULT_EKS_CLUSTER_ARN}}
    elif orchestrator is not None:
        raise ValueError(f"orchestrator must be 'Slurm', 'Eks' or None, not {orchestrator!r}")
    arn = str(sagemaker_client.create_cluster(**request)["ClusterArn"])
    for group in groups:
        if group.capacity is not None:
            if control is None:
                raise ValueError(f"group {group.name!r} sets capacity: pass the ControlPlane")
            control.set_capacity(name, group.name, group.capacity)
    nodes = [
        CreatedNode(
            instance_id=summary["InstanceId"],
            logical_id=summary["NodeLogicalId"],
            group=summary["InstanceGroupName"],
        )
        for page in sagemaker_client.get_paginator("list_cluster_nodes").paginate(
            ClusterName=name, IncludeNodeLogicalIds=True
        )
        for summary in page["ClusterNodeSummaries"]
    ]
    return ClusterFixture(name=name, arn=arn, groups=tuple(groups), nodes=tuple(nodes))


def _group_request(group: GroupSpec, account_id: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "InstanceGroupName": group.name,
        "InstanceType": group.instance_type,
        "InstanceCount": group.count,
        "LifeCycleConfig": {"SourceS3Uri": DEFAULT_LIFECYCLE_URI, "OnCreate": "on_create.sh"},
        "ExecutionRole": f"arn:aws:iam::{account_id}:role/hyperpod-{group.name}",
        "ThreadsPerCore": group.threads_per_core,
    }
    if group.node_type is not None:
        spec["SlurmConfig"] = {"NodeType": group.node_type}
    return spec
