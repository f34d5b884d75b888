"""Stage 2, resolve: faults in, one `Node` per current cluster node out (duplicates and repeats of one
node collapse into it), plus the clusters' descriptions the guards read.

One cluster, one identity: a fault naming its cluster by ARN and one naming it by name are the same
cluster; both resolve to its NAME (`Directory.canonical`), the key of every ledger and control record.

One ListClusterNodes listing and one DescribeCluster per cluster (the directory caches them), every
cluster's read side by side before the faults are resolved (`Directory.prefetch`). A fault
that resolves to no node is dropped with its reason (`Resolved.dropped`: the `verdicts` stage keeps it
in the ledger for a week, `autoheal.adapters.verdicts`). A node listed as `NotFound` left the cluster
(`autoheal.core.instance_status`): it resolves to no node, like one not listed. A cluster that cannot be read
(`ClusterUnreachable`: AccessDenied, throttling past retries, ...) stops only its own faults: they are
held (`cluster_unreachable`) and come back, every other cluster proceeds; except a cluster with a
reserved self-test name (`autoheal.reserved`), whose faults are dropped (`reserved_cluster_unreachable`).
Only `ResourceNotFound` means a cluster is gone (`cluster_not_found`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from autoheal.adapters.directory import ClusterInfo, ClusterNotFound, ClusterUnreachable, NodeInfo
from autoheal.adapters.ledger import NodeRef
from autoheal.adapters.verdicts import DroppedFault
from autoheal.core.instance_status import is_gone
from autoheal.core.ladder import Decision, DecisionKind, Reason
from autoheal.core.planner import Target
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.ports import Directory, NodeStates
from autoheal.remediate.model import Hold, Node, NodePlan, NodeRow
from autoheal.reserved import is_reserved_cluster

UNREACHABLE = "cluster_unreachable"
#: A cluster with a reserved (self-test) name that cannot be read: its fault is dropped, not held (a
#: hold would come back for hours and end with a needs-human notice about a cluster that is a probe).
RESERVED_UNREACHABLE = "reserved_cluster_unreachable"


@dataclass
class Resolved:
    nodes: dict[NodeRef, Node] = field(default_factory=dict)
    rows: list[NodeRow] = field(default_factory=list)  # the faults that resolved to no node
    dropped: list[DroppedFault] = field(default_factory=list)  # the same, as the ledger keeps them
    metrics: MetricCounts = field(default_factory=MetricCounts)
    infos: dict[str, ClusterInfo] = field(default_factory=dict)  # by cluster name
    held: dict[NodeRef, Node] = field(default_factory=dict)  # faults of clusters that cannot be read
    unreachable: dict[str, ClusterUnreachable] = field(default_factory=dict)  # cluster -> its error


def resolve(faults: Sequence[tuple[str, NodeFault]], directory: Directory, now: datetime) -> Resolved:
    out = Resolved()
    # a cluster that cannot be described cannot turn its ARN into its name; a fault naming both helps
    names = {f.cluster_arn: f.cluster_name for _, f in faults if f.cluster_arn and f.cluster_name}
    directory.prefetch(f.cluster_ref for _, f in faults if f.cluster_ref)  # the clusters side by side
    for message_id, fault in faults:
        out.metrics.add(Metric.FAULTS_DEQUEUED)
        try:
            info, why = _locate(fault, directory)
        except ClusterUnreachable as error:
            if is_reserved_cluster(fault.cluster_name):  # a self-test's: never held, never told
                _drop(out, fault, RESERVED_UNREACHABLE, now, f"{RESERVED_UNREACHABLE}:{error.code}")
                continue
            cluster = names.get(error.cluster, error.cluster)
            out.unreachable.setdefault(cluster, error)
            _add(out.held, _unresolved(fault, cluster), message_id, fault, out.metrics)
            continue
        if info is None:
            _drop(out, fault, why, now)
            continue
        _add(out.nodes, Node(ref=(info.cluster_name, info.node_key), target=_target(info), status=info.status),
             message_id, fault, out.metrics)  # fmt: skip
    for cluster in sorted({c for c, _ in out.nodes}):
        try:
            out.infos[cluster] = directory.info(cluster)
        except ClusterNotFound:  # deleted since its nodes were listed: the guards see no context
            continue
        except ClusterUnreachable as error:  # no context for the guards (opt-out tag...): hold
            out.unreachable.setdefault(cluster, error)
            for ref in [r for r in out.nodes if r[0] == cluster]:
                out.held[ref] = out.nodes.pop(ref)
    return out


def _drop(out: Resolved, fault: NodeFault, why: str, now: datetime, verdict: str = "") -> None:
    """A fault with no node to act on: counted (`why`), a report row, its verdict kept, logged."""
    out.metrics.add(Metric.FAULTS_IGNORED, Reason=why)
    out.rows.append(NodeRow(fault.cluster_ref or "?", fault.node_ref, fault.instance_id, "ignore", why))
    out.dropped.append(
        DroppedFault(
            event_id=fault.source_event_id,
            cluster=fault.cluster_ref or "?",
            node=fault.node_ref,
            reason=verdict or why,
            at=now,
            instance_id=fault.instance_id,
            signal=fault.signal,
        )
    )
    logger.info("fault ignored", extra={"reason": verdict or why, "event_id": fault.source_event_id})


def _add(
    nodes: dict[NodeRef, Node], new: Node, message_id: str, fault: NodeFault, metrics: MetricCounts
) -> None:
    node = nodes.setdefault(new.ref, new)
    if any(f.source_event_id == fault.source_event_id for f in node.faults):
        metrics.add(Metric.DUPLICATE_FAULTS)
    node.faults.append(fault)
    node.message_ids.append(message_id)


def _target(info: NodeInfo) -> Target:
    return Target(
        cluster=info.cluster_name,
        node_key=info.node_key,
        instance_id=info.instance_id,
        node_logical_id=info.node_logical_id,
        instance_group=info.instance_group,
    )


def _unresolved(fault: NodeFault, cluster: str) -> Node:
    """A node as its fault names it, in a cluster that could not be read."""
    target = Target(
        cluster=cluster,
        node_key=fault.node_ref,
        instance_id=fault.instance_id,
        node_logical_id=fault.node_logical_id,
        instance_group=fault.instance_group,
    )
    return Node(ref=(cluster, fault.node_ref), target=target)


def _locate(fault: NodeFault, directory: Directory) -> tuple[NodeInfo | None, str]:
    """The fault's current node, or why there is none. Raises `ClusterUnreachable`."""
    if fault.cluster_ref is None:
        found = directory.locate(fault.instance_id, fault.node_logical_id)
        return (None if found is None or is_gone(found.status) else found), "node_not_in_any_cluster"
    try:
        nodes = directory.cluster(directory.canonical(fault.cluster_ref))
    except ClusterNotFound:
        return None, "cluster_not_found"
    found = nodes.find(fault.instance_id, fault.node_logical_id)
    if found is None or is_gone(found.status):
        return None, "node_not_in_cluster"
    if fault.instance_id and found.instance_id and found.instance_id != fault.instance_id:
        return None, "instance_already_replaced"
    return found, ""


def held_plans(resolved: Resolved, states: Mapping[NodeRef, NodeState]) -> list[NodePlan]:
    """The faults of clusters that could not be read, held (`cluster_unreachable`, recorded as held on
    the node's state as read): nothing is decided about them until their cluster can be read again."""
    plans = []
    for (cluster, node_key), node in resolved.held.items():
        error = resolved.unreachable.get(cluster)
        code = error.code if error else "Unknown"
        plans.append(
            NodePlan(
                node=node,
                history=states.get((cluster, node_key)) or NodeState(cluster=cluster, node_key=node_key),
                decision=Decision(DecisionKind.ACT, Reason.FIRST_FAULT),  # not decided: held first
                hold=Hold(UNREACHABLE, f"{UNREACHABLE}:{cluster}:{code}"),
            )
        )
    return plans


def arns(infos: Mapping[str, ClusterInfo]) -> dict[str, str]:
    """Cluster name -> ARN, for records an older version keyed by ARN (read both during the
    transition)."""
    return {name: info.arn for name, info in infos.items() if info.arn}


def load_states(
    refs: Iterable[NodeRef], infos: Mapping[str, ClusterInfo], states: NodeStates
) -> dict[NodeRef, NodeState]:
    """Each node's state under its cluster's name; a node never written under the name but written
    under the cluster's ARN (before every reference was resolved to the name) carries that record
    over: the next write moves it to the name, with its ladder step, budgets and seen events."""
    wanted = list(refs)
    by_arn = arns(infos)
    legacy = {(by_arn[c], k): (c, k) for c, k in wanted if c in by_arn}
    loaded = states.load([*wanted, *legacy])
    out = {ref: loaded[ref] for ref in wanted}
    for old, ref in legacy.items():
        before = loaded.get(old)
        if out[ref].version == 0 and before is not None and before.version > 0:
            out[ref] = replace(before, cluster=ref[0], version=0)
    return out
