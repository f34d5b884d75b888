"""The switches planning reads (stage 4): one snapshot of the control partition for the pause,
cool-down and breaker holds (`adapters.switches.ControlSwitches`), and the open-node index read only
for clusters where the circuit breaker could trip at all.

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
from autoheal.ports import Breakers, Cooldowns, OpenNodes, Pauses
from autoheal.remediate.model import Deps


@dataclass(frozen=True)
class Switches:
    pauses: Pauses
    cooldowns: Cooldowns
    breakers: Breakers
    open_nodes: OpenNodes


def read_once(deps: Deps, infos: Mapping[str, ClusterInfo]) -> Switches:
    """The ports planning's holds read, sharing one control-partition Query when they can."""
    open_nodes = _BreakerBound(deps.open_nodes, infos, deps.policy)
    if isinstance(deps.breakers, LedgerBreakers):
        snapshot = ControlSwitches.like(deps.breakers)
        return Switches(snapshot.pauses, snapshot.cooldowns, snapshot.breakers, open_nodes)
    return Switches(deps.pauses, deps.cooldowns, deps.breakers, open_nodes)


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
