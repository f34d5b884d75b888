"""Binds control-plane state to moto's clusters and finds clusters, groups and nodes.

A :class:`~hyperpod_local.plane.model.ClusterState` is bound to one moto ``Cluster`` *object*: when moto is
reset (``POST /moto-api/reset``) or the cluster is deleted and re-created, the identity check fails
and the stale state is dropped or rebuilt, so the control plane never serves a ghost. Clusters that
appear in moto without passing through our CreateCluster hook (created before the extension was
installed, or directly on the backend) are adopted on first sight with default settings.

Not thread-safe by itself: callers hold the control-plane lock.
"""

from __future__ import annotations

from typing import Any

from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.errors import ResourceNotFound
from hyperpod_local.plane.ids import IdFactory
from hyperpod_local.plane.lifecycle import Lifecycle
from hyperpod_local.plane.model import ClusterState, GroupState, LocalNode
from hyperpod_local.plane.ports import ClusterSource, RawCluster, Scope

DEFAULT_NODE_RECOVERY = "None"

_Key = tuple[str, str, str]


class ClusterRegistry:
    """Control-plane state of every moto cluster, keyed by (account, region, name)."""

    def __init__(
        self, source: ClusterSource, lifecycle: Lifecycle, ids: IdFactory, clock: ControlPlaneClock
    ) -> None:
        self._source = source
        self._lifecycle = lifecycle
        self._ids = ids
        self._clock = clock
        self._clusters: dict[_Key, ClusterState] = {}

    # ------------------------------------------------------------------------ request side

    def raw(self, scope: Scope, cluster_name: str) -> RawCluster:
        """moto's cluster a request names (name or ARN); ``ResourceNotFound`` if none."""
        raw = self._source.lookup(scope, cluster_name)
        if raw is None:
            raise ResourceNotFound(f"Cluster {cluster_name} not found.")
        return raw

    def for_request(self, scope: Scope, cluster_name: str) -> ClusterState:
        """The settled state of the cluster a request names (name or ARN); ``ResourceNotFound`` if none."""
        state = self._current(scope, self.raw(scope, cluster_name))
        self._lifecycle.settle(state, self._clock.now())
        return state

    def adopt(
        self,
        scope: Scope,
        raw: RawCluster,
        *,
        node_recovery: str | None = None,
        provisioning_mode: str | None = None,
        orchestrator: dict[str, Any] | None = None,
    ) -> ClusterState:
        """Bind new state to a moto cluster; swap moto's ARN and nodes for realistic ones."""
        groups = {
            group["InstanceGroupName"]: GroupState(
                name=group["InstanceGroupName"],
                instance_type=group["InstanceType"],
                execution_role=group.get("ExecutionRole", ""),
                life_cycle_config=dict(group.get("LifeCycleConfig", {})),
                threads_per_core=group.get("ThreadsPerCore"),
                node_type=(group.get("SlurmConfig") or {}).get("NodeType"),
            )
            for group in raw.instance_groups
        }
        if raw.arn.endswith(f":cluster/{raw.cluster_name}"):  # moto's name-based ARN
            raw.arn = f"arn:aws:sagemaker:{scope.region}:{scope.account_id}:cluster/{self._ids.cluster_id()}"
        state = ClusterState(
            account_id=scope.account_id,
            region=scope.region,
            name=raw.cluster_name,
            arn=raw.arn,
            backend_cluster=raw,
            node_recovery=node_recovery or DEFAULT_NODE_RECOVERY,
            provisioning_mode=provisioning_mode,
            orchestrator=orchestrator,
            groups=groups,
            nodes=raw.nodes,
        )
        moto_nodes = {key: node for key, node in raw.nodes.items() if not isinstance(node, LocalNode)}
        now = self._clock.now()
        for key, moto_node in moto_nodes.items():  # moto's "workers-0" nodes -> realistic ones
            del raw.nodes[key]
            self._lifecycle.new_node(state, groups[moto_node.instance_group_name], now, running=True)
        self._clusters[_key(scope, raw.cluster_name)] = state
        return state

    def delete(self, state: ClusterState) -> None:
        scope = Scope(state.account_id, state.region)
        self._source.delete(scope, state.name)
        self._clusters.pop(_key(scope, state.name), None)

    # --------------------------------------------------------------------------- test side

    def all(self) -> list[ClusterState]:
        """Every live cluster, settled; adopts unknown ones and forgets deleted or reset ones."""
        live: dict[_Key, ClusterState] = {}
        now = self._clock.now()
        for scope, raw in self._source.all_clusters():
            state = self._current(scope, raw)
            self._lifecycle.settle(state, now)
            live[_key(scope, raw.cluster_name)] = state
        self._clusters = live
        return list(live.values())

    def find(self, cluster: str) -> ClusterState:
        """The cluster with this name or ARN in any account/region; ``KeyError`` if none or ambiguous."""
        matches = [state for state in self.all() if cluster in (state.name, state.arn)]
        if not matches:
            raise KeyError(f"no cluster named {cluster!r}")
        if len(matches) > 1:
            raise KeyError(f"cluster name {cluster!r} exists in several accounts/regions; pass its ARN")
        return matches[0]

    def find_group(self, cluster: str, group: str) -> GroupState:
        state = self.find(cluster)
        if group not in state.groups:
            raise KeyError(f"cluster {cluster!r} has no instance group {group!r}")
        return state.groups[group]

    def find_node(self, ref: str, cluster: str | None = None) -> tuple[ClusterState, LocalNode]:
        """The node whose instance id or NodeLogicalId is ``ref``; ``KeyError`` if none."""
        states = [self.find(cluster)] if cluster is not None else self.all()
        for state in states:
            node = state.nodes.get(ref) or state.node_by_instance_id(ref)
            if node is not None:
                return state, node
        raise KeyError(f"no node with instance id or NodeLogicalId {ref!r}")

    # ---------------------------------------------------------------------------- internals

    def _current(self, scope: Scope, raw: RawCluster) -> ClusterState:
        state = self._clusters.get(_key(scope, raw.cluster_name))
        if state is None or state.backend_cluster is not raw:
            state = self.adopt(scope, raw)
        return state


def _key(scope: Scope, name: str) -> _Key:
    return (scope.account_id, scope.region, name)
