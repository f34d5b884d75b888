"""The switches planning reads (stage 4): one snapshot of the control partition for the pause,
cool-down, breaker and fleet breaker holds (`adapters.switches.ControlSwitches`), and the open-node
index read only for clusters where the circuit breaker could trip at all -- and, when the fleet breaker
judges the fleet's share (it reads every cluster's open nodes, one Scan of the index), that one Scan
answers the cluster breakers too (`_OneIndexRead`).

Ports that are not the ledger's (fakes in tests) are used as they are, one read each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from autoheal.adapters.control import LedgerBreakers
from autoheal.adapters.directory import ClusterInfo
from autoheal.adapters.switches import ControlSwitches
from autoheal.core.state import NodeState
from autoheal.policy import RemediationPolicy
from autoheal.ports import Breakers, Cooldowns, Fleet, OpenNodes, Pauses
from autoheal.remediate.model import Deps


@dataclass(frozen=True)
class Switches:
    pauses: Pauses
    cooldowns: Cooldowns
    breakers: Breakers
    open_nodes: OpenNodes  # for the cluster breakers: read only where one could trip
    fleet: Fleet | None
    fleet_open_nodes: OpenNodes  # for the fleet breaker: every cluster's


def read_once(deps: Deps, infos: Mapping[str, ClusterInfo]) -> Switches:
    """The ports planning's holds read, sharing one control-partition Query and one open-index read
    when they can."""
    fleet_breaker = deps.policy.guards.fleet_breaker
    index = _OneIndexRead(deps.open_nodes, scan_first=fleet_breaker.enabled and fleet_breaker.percent > 0)
    open_nodes = _BreakerBound(index, infos, deps.policy)
    if isinstance(deps.breakers, LedgerBreakers):
        snapshot = ControlSwitches.like(deps.breakers)
        fleet = snapshot.fleet if deps.fleet is not None else None
        return Switches(snapshot.pauses, snapshot.cooldowns, snapshot.breakers, open_nodes, fleet, index)
    return Switches(deps.pauses, deps.cooldowns, deps.breakers, open_nodes, deps.fleet, index)


class _OneIndexRead:
    """The open-node index read at most once for every cluster (a Scan, kept) when `scan_first`: the
    fleet breaker will Scan it anyway, so a cluster breaker's count is taken from that Scan instead of a
    Query of its own. Otherwise each cluster's Query as before."""

    def __init__(self, inner: OpenNodes, scan_first: bool) -> None:
        self._inner = inner
        self._scan_first = scan_first
        self._all: list[NodeState] | None = None

    def open_nodes(self, cluster: str | None = None) -> list[NodeState]:
        if cluster is not None and not self._scan_first:
            return self._inner.open_nodes(cluster)
        if self._all is None:
            self._all = self._inner.open_nodes(None)
        return [h for h in self._all if cluster is None or h.cluster == cluster]


class _BreakerBound:
    """The open-node index, read only for a cluster where some breaker scope allows fewer nodes than
    it holds: where every scope allows all of its nodes, no count of open nodes can trip it."""

    def __init__(self, inner: OpenNodes, infos: Mapping[str, ClusterInfo], policy: RemediationPolicy) -> None:
        self._inner = inner
        self._infos = infos
        self._breaker = policy.guards.breaker

    def open_nodes(self, cluster: str | None = None) -> list[NodeState]:
        info = self._infos.get(cluster) if cluster is not None else None
        if info is not None and not self._could_trip(info):
            return []
        return self._inner.open_nodes(cluster)

    def _could_trip(self, info: ClusterInfo) -> bool:
        b = self._breaker
        sizes = [g.size for g in info.groups.values()]
        total = sum(sizes)
        if total > b.allowed(total, b.cluster_max_nodes, b.cluster_max_percent):
            return True
        return any(size > b.allowed(size, b.group_max_nodes, b.group_max_percent) for size in sizes)
