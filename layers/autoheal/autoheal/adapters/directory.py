"""Who is this node? Resolve faults to current cluster nodes with ListClusterNodes.

One paginated listing per cluster per invocation (100 nodes a page), cached: it gives each node's
current instance id, NodeLogicalId, instance group and status. Faults that name no cluster (AWS Health,
some alarms) are located by scanning the account's clusters once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.exceptions import ClientError

#: Error codes that mean "this cluster does not exist" (moto and the service differ).
CLUSTER_MISSING_CODES = frozenset({"ResourceNotFound", "ValidationException"})

#: The IAM actions behind each public method of `NodeDirectory` (c7n style; see
#: tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "NodeDirectory.cluster": frozenset({"sagemaker:ListClusterNodes"}),
    "NodeDirectory.info": frozenset({"sagemaker:DescribeCluster", "sagemaker:ListTags"}),
    "NodeDirectory.locate": frozenset({"sagemaker:ListClusters", "sagemaker:ListClusterNodes"}),
}


class DirectoryClient(Protocol):
    def get_paginator(self, operation_name: str) -> Any: ...
    def describe_cluster(self, **kwargs: Any) -> dict[str, Any]: ...
    def list_tags(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NodeInfo:
    cluster_name: str
    instance_id: str | None
    node_logical_id: str | None
    instance_group: str | None
    status: str | None

    @property
    def node_key(self) -> str:
        """Ledger key: the NodeLogicalId survives a replace, the instance id does not."""
        return self.node_logical_id or self.instance_id or ""


@dataclass
class ClusterNodes:
    cluster_name: str
    by_instance: dict[str, NodeInfo] = field(default_factory=dict)
    by_logical: dict[str, NodeInfo] = field(default_factory=dict)

    def add(self, node: NodeInfo) -> None:
        if node.instance_id:
            self.by_instance[node.instance_id] = node
        if node.node_logical_id:
            self.by_logical[node.node_logical_id] = node

    def find(self, instance_id: str | None, node_logical_id: str | None) -> NodeInfo | None:
        """The current node for the ids; the logical id wins (the instance id may be replaced)."""
        if node_logical_id and node_logical_id in self.by_logical:
            return self.by_logical[node_logical_id]
        if instance_id:
            return self.by_instance.get(instance_id)
        return None

    def __len__(self) -> int:
        return len(self.by_instance) + sum(1 for n in self.by_logical.values() if not n.instance_id)


@dataclass(frozen=True)
class GroupInfo:
    name: str
    status: str | None
    node_type: str | None  # Slurm: Controller | Login | Compute
    size: int


@dataclass(frozen=True)
class ClusterInfo:
    """What DescribeCluster and ListTags say about a cluster (the guards read it)."""

    name: str
    arn: str | None
    status: str | None
    node_recovery: str | None
    groups: dict[str, GroupInfo]
    tags: dict[str, str]


class ClusterNotFound(LookupError):
    """The cluster named by a fault does not exist (any more)."""


class NodeDirectory:
    """Per-invocation cache of cluster node listings."""

    def __init__(self, client: DirectoryClient) -> None:
        self._client = client
        self._clusters: dict[str, ClusterNodes] = {}
        self._infos: dict[str, ClusterInfo] = {}
        self._all_listed = False
        self.list_calls = 0

    def cluster(self, cluster_ref: str) -> ClusterNodes:
        """All nodes of a cluster (by name, or by ARN: an ARN ends in the cluster id, not its name,
        so it is kept whole as the cluster's reference). Raises `ClusterNotFound`."""
        if cluster_ref not in self._clusters:
            self._clusters[cluster_ref] = self._list_nodes(cluster_ref)
        return self._clusters[cluster_ref]

    def info(self, cluster_ref: str) -> ClusterInfo:
        """DescribeCluster (+ ListTags), once per cluster per invocation. Raises `ClusterNotFound`."""
        if cluster_ref not in self._infos:
            try:
                described = self._client.describe_cluster(ClusterName=cluster_ref)
                arn = described.get("ClusterArn")
                tags = self._client.list_tags(ResourceArn=arn).get("Tags", []) if arn else []
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in CLUSTER_MISSING_CODES:
                    raise ClusterNotFound(cluster_ref) from exc
                raise
            groups = {
                g["InstanceGroupName"]: GroupInfo(
                    name=g["InstanceGroupName"],
                    status=g.get("Status"),
                    node_type=(g.get("SlurmConfig") or {}).get("NodeType"),
                    size=int(g.get("TargetCount", g.get("CurrentCount", 0)) or 0),
                )
                for g in described.get("InstanceGroups", [])
            }
            self._infos[cluster_ref] = ClusterInfo(
                name=str(described.get("ClusterName", cluster_ref)),
                arn=arn,
                status=described.get("ClusterStatus"),
                node_recovery=described.get("NodeRecovery"),
                groups=groups,
                tags={str(t["Key"]): str(t.get("Value", "")) for t in tags},
            )
        return self._infos[cluster_ref]

    def locate(self, instance_id: str | None, node_logical_id: str | None) -> NodeInfo | None:
        """Find a node whose cluster is unknown, across every cluster of the account."""
        for nodes in self._every_cluster():
            found = nodes.find(instance_id, node_logical_id)
            if found is not None:
                return found
        return None

    def _every_cluster(self) -> Iterator[ClusterNodes]:
        if not self._all_listed:
            for page in self._client.get_paginator("list_clusters").paginate():
                self.list_calls += 1
                for summary in page.get("ClusterSummaries", []):
                    name = summary["ClusterName"]
                    if name not in self._clusters:
                        try:
                            self._clusters[name] = self._list_nodes(name)
                        except ClusterNotFound:
                            continue  # deleted between the two calls
            self._all_listed = True
        yield from self._clusters.values()

    def _list_nodes(self, cluster_ref: str) -> ClusterNodes:
        paginator = self._client.get_paginator("list_cluster_nodes")
        nodes: ClusterNodes | None = None
        try:
            for page in paginator.paginate(ClusterName=cluster_ref, IncludeNodeLogicalIds=True):
                self.list_calls += 1
                if nodes is None:
                    nodes = ClusterNodes(cluster_name=cluster_ref)
                for summary in page.get("ClusterNodeSummaries", []):
                    nodes.add(_node_info(nodes.cluster_name, summary))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in CLUSTER_MISSING_CODES:
                raise ClusterNotFound(cluster_ref) from exc
            raise
        return nodes or ClusterNodes(cluster_name=cluster_ref)


def _node_info(cluster: str, summary: dict[str, Any]) -> NodeInfo:
    status = summary.get("InstanceStatus") or {}
    return NodeInfo(
        cluster_name=cluster,
        instance_id=summary.get("InstanceId"),
        node_logical_id=summary.get("NodeLogicalId"),
        instance_group=summary.get("InstanceGroupName"),
        status=status.get("Status"),
    )
