"""Who is this node? Resolve faults to current cluster nodes with ListClusterNodes.

One paginated listing per cluster per invocation (100 nodes a page), cached: it gives each node's
current instance id, NodeLogicalId, instance group and status. Faults that name no cluster (AWS Health,
some alarms) are located by scanning the account's clusters once.

One cluster, one identity: a fault may name its cluster by name or by ARN (which ends in the cluster
id, not the name). `canonical` resolves every reference to the cluster's NAME (DescribeCluster's
`ClusterName` for an ARN, once per invocation), and every listing and description is keyed and
labelled by that name, so the ledger, pauses, breakers and cool-downs see one key per cluster.

Errors, per cluster: only `ResourceNotFound` means the cluster is gone (`ClusterNotFound`); any other
error (AccessDenied, ValidationException, throttling past the client's retries, ...) is
`ClusterUnreachable`: the caller holds that cluster's work and carries on with the others. Both are
remembered for the invocation, so one failing cluster costs one call, not one per fault.

Across warm invocations (issue 20) only a cluster's TAGS are kept (`TagCache`, for a short TTL, the
`CLUSTER_TAGS_TTL_SECONDS` setting): everything else the guards read comes from DescribeCluster, which
also answers the cluster's status, and the cluster-state guard needs that status fresh, so
DescribeCluster is read once per cluster per invocation as before; its group sizes and node types come
with it at no extra request. Never cached across invocations: the status, node listings, the pause
switch, breaker counts. The cost: an opt-out tag added to a cluster takes effect within the TTL.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from autoheal.faults import CLUSTER_ARN_RE

#: The only error code that means "this cluster does not exist" (the API reference of ListClusterNodes,
#: DescribeCluster and the Batch* calls). ValidationException is a problem with the request, never proof
#: that a cluster is gone.
CLUSTER_MISSING_CODES = frozenset({"ResourceNotFound"})

#: The IAM actions behind each public method of `NodeDirectory` (c7n style; see
#: tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "NodeDirectory.cluster": frozenset({"sagemaker:ListClusterNodes"}),
    "NodeDirectory.info": frozenset({"sagemaker:DescribeCluster", "sagemaker:ListTags"}),
    "NodeDirectory.canonical": frozenset({"sagemaker:DescribeCluster", "sagemaker:ListTags"}),
    "NodeDirectory.prefetch": frozenset(
        {"sagemaker:DescribeCluster", "sagemaker:ListTags", "sagemaker:ListClusterNodes"}
    ),
    "NodeDirectory.locate": frozenset({"sagemaker:ListClusters", "sagemaker:ListClusterNodes"}),
    "NodeDirectory.target_counts": frozenset({"sagemaker:DescribeCluster"}),
}


_T = TypeVar("_T")
#: Cluster reads (DescribeCluster, a ListClusterNodes listing) in flight at once in `prefetch`.
PREFETCH_THREADS = 4


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
    provisioning_mode: str | None = None  # NodeProvisioningMode (Continuous); absent on older clusters


class ClusterNotFound(LookupError):
    """The cluster named by a fault does not exist (any more): the API answered ResourceNotFound."""


class ClusterUnreachable(RuntimeError):
    """A read about one cluster failed for another reason than its absence (AccessDenied, throttling
    past retries, a ValidationException, a lost connection): its faults wait, nothing is closed.
    `code` is normalised (letters, digits and dots, bounded): it becomes a metric dimension."""

    def __init__(self, cluster: str, code: str, message: str = "") -> None:
        self.cluster = cluster
        self.code = re.sub(r"[^A-Za-z0-9.]", "", code)[:64] or "Unknown"
        self.message = message
        super().__init__(f"{cluster}: {self.code} {message}".strip())


def _cluster_error(
    cluster_ref: str, exc: ClientError | BotoCoreError
) -> ClusterNotFound | ClusterUnreachable:
    """The domain error for a failed read about one cluster."""
    if isinstance(exc, BotoCoreError):
        return ClusterUnreachable(cluster_ref, "ConnectionError", type(exc).__name__)
    error = exc.response.get("Error", {})
    code = str(error.get("Code") or "Unknown")
    if code in CLUSTER_MISSING_CODES:
        return ClusterNotFound(cluster_ref)
    return ClusterUnreachable(cluster_ref, code, str(error.get("Message") or "")[:256])


@dataclass
class TagCache:
    """ListTags answers per cluster ARN, kept by the process across warm invocations (see the module).
    An entry is used while `0 <= now - read_at < ttl` (a clock that went back reads again)."""

    entries: dict[str, tuple[datetime, dict[str, str]]] = field(default_factory=dict)

    def get(self, arn: str, now: datetime, ttl: timedelta) -> dict[str, str] | None:
        entry = self.entries.get(arn)
        if entry is None or not timedelta(0) <= now - entry[0] < ttl:
            return None
        return dict(entry[1])

    def put(self, arn: str, now: datetime, tags: Mapping[str, str]) -> None:
        self.entries[arn] = (now, dict(tags))

    def clear(self) -> None:
        self.entries.clear()


#: The process's tag cache: module state, so it outlives one invocation (a warm Lambda container).
WARM_TAGS = TagCache()


@dataclass(frozen=True)
class TagReuse:
    """How a `NodeDirectory` reuses tags across invocations: the cache, the clock and the TTL."""

    cache: TagCache
    clock: Callable[[], datetime]
    ttl: timedelta


class NodeDirectory:
    """Per-invocation cache of cluster identities, descriptions and node listings; tags optionally
    reused across invocations (`reuse`)."""

    def __init__(self, client: DirectoryClient, reuse: TagReuse | None = None) -> None:
        self._client = client
        self._reuse = reuse
        self._names: dict[str, str] = {}  # cluster reference (name or ARN) -> name
        self._clusters: dict[str, ClusterNodes] = {}
        self._infos: dict[str, ClusterInfo] = {}
        self._failed: dict[tuple[str, str], ClusterNotFound | ClusterUnreachable] = {}  # (read, ref)
        self._all_listed = False
        self._count_lock = threading.Lock()
        self.list_calls = 0

    def prefetch(self, refs: Iterable[str]) -> None:
        """Describe and list the named clusters side by side (at most `PREFETCH_THREADS` reads at once)
        before their faults are resolved one by one: each cluster's listing pages follow each other,
        but a storm over several clusters waits for the slowest cluster's pages, not their sum, and one
        fault's DescribeCluster and ListClusterNodes go out together. A read that fails is remembered
        (`_remembered`) and raised where a fault asks for it, as without the prefetch."""
        tasks: list[Callable[[], object]] = []
        for ref in dict.fromkeys(refs):
            if ref in self._names or ref in self._clusters:
                continue
            if CLUSTER_ARN_RE.fullmatch(ref):  # its name, which keys the listing, comes with DescribeCluster
                tasks.append(functools.partial(self._described_then_listed, ref))
            else:
                tasks += [functools.partial(self.info, ref), functools.partial(self.cluster, ref)]
        if len(tasks) < 2:
            return
        with ThreadPoolExecutor(max_workers=min(PREFETCH_THREADS, len(tasks))) as pool:
            for future in [pool.submit(_quietly, task) for task in tasks]:
                future.result()

    def _described_then_listed(self, arn: str) -> None:
        self.cluster(self.info(arn).name)

    def canonical(self, cluster_ref: str) -> str:
        """The cluster's canonical key, its NAME: a name as is; an ARN through DescribeCluster's
        `ClusterName` (once per invocation). Raises `ClusterNotFound` or `ClusterUnreachable`."""
        if cluster_ref in self._names:
            return self._names[cluster_ref]
        if not CLUSTER_ARN_RE.fullmatch(cluster_ref):
            return cluster_ref
        return self.info(cluster_ref).name

    def cluster(self, cluster_ref: str) -> ClusterNodes:
        """All nodes of a cluster, labelled with `cluster_ref` as given, or with the cluster's name once
        `canonical` resolved it (remediate resolves first; reconcile lists ARN-keyed records of an
        older version by their ARN, which ListClusterNodes accepts, with no DescribeCluster).
        Raises `ClusterNotFound` or `ClusterUnreachable`."""
        name = self._names.get(cluster_ref, cluster_ref)
        if name not in self._clusters:
            self._clusters[name] = self._remembered(name, "list", lambda: self._list_nodes(name))
        return self._clusters[name]

    def info(self, cluster_ref: str) -> ClusterInfo:
        """DescribeCluster (+ ListTags), once per cluster per invocation, by name or ARN.
        Raises `ClusterNotFound` or `ClusterUnreachable`."""
        name = self._names.get(cluster_ref, cluster_ref)
        if name not in self._infos:
            info = self._remembered(cluster_ref, "describe", lambda: self._describe(cluster_ref))
            for ref in {cluster_ref, info.name, info.arn}:
                if ref:
                    self._names[ref] = info.name
                    self._infos[ref] = info
        return self._infos[name]

    def _remembered(self, cluster_ref: str, what: str, read: Callable[[], _T]) -> _T:
        """`read()`, translating its errors into the domain's; a failure is remembered for the
        invocation (a cluster that failed once is not asked again for every fault)."""
        if (what, cluster_ref) in self._failed:
            raise self._failed[(what, cluster_ref)]
        try:
            return read()
        except (ClientError, BotoCoreError) as exc:
            error = _cluster_error(cluster_ref, exc)
            self._failed[(what, cluster_ref)] = error
            raise error from exc

    def _describe(self, cluster_ref: str) -> ClusterInfo:
        described = self._client.describe_cluster(ClusterName=cluster_ref)
        arn = described.get("ClusterArn")
        tags = self._tags(arn) if arn else {}
        groups = {
            g["InstanceGroupName"]: GroupInfo(
                name=g["InstanceGroupName"],
                status=g.get("Status"),
                node_type=(g.get("SlurmConfig") or {}).get("NodeType"),
                size=int(g.get("TargetCount", g.get("CurrentCount", 0)) or 0),
            )
            for g in described.get("InstanceGroups", [])
        }
        return ClusterInfo(
            name=str(described.get("ClusterName", cluster_ref)),
            arn=arn,
            status=described.get("ClusterStatus"),
            node_recovery=described.get("NodeRecovery"),
            groups=groups,
            tags=tags,
            provisioning_mode=described.get("NodeProvisioningMode"),
        )

    def _tags(self, arn: str) -> dict[str, str]:
        """The cluster's tags: from the warm cache while fresh, else ListTags (then cached)."""
        reuse = self._reuse
        now = reuse.clock() if reuse else None
        if reuse and now:
            cached = reuse.cache.get(arn, now, reuse.ttl)
            if cached is not None:
                return cached
        listed = self._client.list_tags(ResourceArn=arn).get("Tags", [])
        tags = {str(t["Key"]): str(t.get("Value", "")) for t in listed}
        if reuse and now:
            reuse.cache.put(arn, now, tags)
        return tags

    def target_counts(self, cluster_ref: str) -> dict[str, int]:
        """Each instance group's TargetCount read NOW (DescribeCluster, never cached: a restore
        compares it with the count before its retire). Raises `ClusterNotFound`/`ClusterUnreachable`."""
        try:
            described = self._client.describe_cluster(ClusterName=cluster_ref)
        except (ClientError, BotoCoreError) as exc:
            raise _cluster_error(cluster_ref, exc) from exc
        return {
            str(g["InstanceGroupName"]): int(g.get("TargetCount", g.get("CurrentCount", 0)) or 0)
            for g in described.get("InstanceGroups", [])
        }

    def locate(self, instance_id: str | None, node_logical_id: str | None) -> NodeInfo | None:
        """Find a node whose cluster is unknown, across every cluster of the account. Not found while
        a cluster could not be listed raises that cluster's `ClusterUnreachable`: the node may be
        there, so its fault must wait rather than be dropped."""
        for nodes in self._every_cluster():
            found = nodes.find(instance_id, node_logical_id)
            if found is not None:
                return found
        for (read, _), error in self._failed.items():
            if read == "list" and isinstance(error, ClusterUnreachable):
                raise error
        return None

    def _every_cluster(self) -> Iterator[ClusterNodes]:
        if not self._all_listed:
            for page in self._client.get_paginator("list_clusters").paginate():
                self.list_calls += 1
                for summary in page.get("ClusterSummaries", []):
                    with contextlib.suppress(ClusterNotFound, ClusterUnreachable):
                        self.cluster(summary["ClusterName"])  # not found: deleted between the calls
            self._all_listed = True
        yield from self._clusters.values()

    def _list_nodes(self, name: str) -> ClusterNodes:
        paginator = self._client.get_paginator("list_cluster_nodes")
        nodes = ClusterNodes(cluster_name=name)
        for page in paginator.paginate(ClusterName=name, IncludeNodeLogicalIds=True):
            with self._count_lock:
                self.list_calls += 1
            for summary in page.get("ClusterNodeSummaries", []):
                nodes.add(_node_info(name, summary))
        return nodes


def _quietly(task: Callable[[], object]) -> None:
    """A prefetch's read: its domain error is remembered by the directory, raised again on use."""
    with contextlib.suppress(ClusterNotFound, ClusterUnreachable):
        task()


def _node_info(cluster: str, summary: dict[str, Any]) -> NodeInfo:
    status = summary.get("InstanceStatus") or {}
    return NodeInfo(
        cluster_name=cluster,
        instance_id=summary.get("InstanceId"),
        node_logical_id=summary.get("NodeLogicalId"),
        instance_group=summary.get("InstanceGroupName"),
        status=status.get("Status"),
    )
