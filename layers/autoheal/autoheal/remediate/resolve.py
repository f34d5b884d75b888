"""Stage 2, resolve: faults in, one `Node` per current cluster node out (duplicates and repeats of one
node collapse into it), plus the clusters' descriptions the guards read.

One ListClusterNodes listing per cluster (the directory caches it). A fault that resolves to no node
is ignored with its reason; nothing is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from autoheal.adapters.directory import ClusterInfo, ClusterNotFound, NodeInfo
from autoheal.adapters.ledger import NodeRef
from autoheal.core.planner import Target
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.ports import Directory
from autoheal.remediate.model import Node, NodeRow


@dataclass
class Resolved:
    nodes: dict[NodeRef, Node] = field(default_factory=dict)
    rows: list[NodeRow] = field(default_factory=list)  # the faults that resolved to no node
    metrics: MetricCounts = field(default_factory=MetricCounts)


def resolve(faults: Sequence[tuple[str, NodeFault]], directory: Directory) -> Resolved:
    out = Resolved()
    for message_id, fault in faults:
        out.metrics.add(Metric.FAULTS_DEQUEUED)
        info, why = _locate(fault, directory)
        if info is None:
            out.metrics.add(Metric.FAULTS_IGNORED, Reason=why)
            out.rows.append(
                NodeRow(fault.cluster_ref or "?", fault.node_ref, fault.instance_id, "ignore", why)
            )
            logger.info("fault ignored", extra={"reason": why, "event_id": fault.source_event_id})
            continue
        ref = (info.cluster_name, info.node_key)
        node = out.nodes.get(ref)
        if node is None:
            node = out.nodes[ref] = Node(ref=ref, target=_target(info), status=info.status)
        if any(f.source_event_id == fault.source_event_id for f in node.faults):
            out.metrics.add(Metric.DUPLICATE_FAULTS)
        node.faults.append(fault)
        node.message_ids.append(message_id)
    return out


def _target(info: NodeInfo) -> Target:
    return Target(
        cluster=info.cluster_name,
        node_key=info.node_key,
        instance_id=info.instance_id,
        node_logical_id=info.node_logical_id,
        instance_group=info.instance_group,
    )


def _locate(fault: NodeFault, directory: Directory) -> tuple[NodeInfo | None, str]:
    if fault.cluster_ref is None:
        found = directory.locate(fault.instance_id, fault.node_logical_id)
        return found, "node_not_in_any_cluster"
    try:
        nodes = directory.cluster(fault.cluster_ref)
    except ClusterNotFound:
        return None, "cluster_not_found"
    found = nodes.find(fault.instance_id, fault.node_logical_id)
    if found is None:
        return None, "node_not_in_cluster"
    if fault.instance_id and found.instance_id and found.instance_id != fault.instance_id:
        return None, "instance_already_replaced"
    return found, ""


def cluster_infos(refs: Iterable[NodeRef], directory: Directory) -> dict[str, ClusterInfo]:
    """DescribeCluster (and tags) for each cluster of the batch; a cluster deleted since its nodes
    were listed is left out (the guards then see no context)."""
    infos: dict[str, ClusterInfo] = {}
    for cluster in {c for c, _ in refs}:
        try:
            infos[cluster] = directory.info(cluster)
        except ClusterNotFound:
            continue
    return infos
