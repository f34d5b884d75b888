"""Stage 4b, the circuit breaker: never have more nodes of a group or cluster under remediation at once
than the policy allows.

- `hold_tripped` (plan): counts the nodes this batch would act on plus those already under
  remediation (the open-node index, one cluster at a time), holds the scopes over their limit or
  already tripped, and names the newly tripped ones;
- `trip` (execute): records the new trips (they hold their scope for the window) and tells a human.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from autoheal.adapters.directory import ClusterInfo
from autoheal.adapters.notify import HumanNeeded
from autoheal.core import guards
from autoheal.core.guards import Scope
from autoheal.core.state import NodeStatus
from autoheal.observability import Metric, logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import Breakers, OpenNodes
from autoheal.remediate.model import BatchPlan, Effects, Hold, NodePlan

#: Statuses that count a node as "under remediation" for the circuit breaker.
BREAKER_COUNTED = frozenset(
    {NodeStatus.CLAIMED, NodeStatus.SENDING, NodeStatus.IN_PROGRESS, NodeStatus.RETRY_PENDING}
)

Trips = dict[Scope, tuple[int, int]]  # scope -> (nodes under remediation, allowed)


def hold_tripped(
    plans: list[NodePlan],
    infos: Mapping[str, ClusterInfo],
    open_nodes: OpenNodes,
    breakers: Breakers,
    policy: RemediationPolicy,
    now: datetime,
) -> tuple[list[NodePlan], Trips]:
    """Count nodes under remediation per instance group and cluster; hold the scopes over the limit."""
    wanting = [p for p in plans if p.would_act]
    if not wanting:
        return plans, {}
    active = _active(wanting, open_nodes, policy, now)
    state = breakers.breakers(now)
    over = guards.breaker_trips(
        [(p.node.ref[0], p.node.target.instance_group) for p in wanting], active, _sizes(infos), policy.guards
    )
    over = {s: v for s, v in over.items() if not state.overridden(s.label)}
    open_labels = set(state.tripped) | {s.label for s in over}
    out = []
    for p in plans:
        cluster, group = p.node.ref[0], p.node.target.instance_group
        labels = [Scope(cluster, group).label, Scope(cluster, None).label]
        hit = next((label for label in labels if label in open_labels and not state.overridden(label)), None)
        if p.would_act and hit is not None:
            p = replace(p, hold=Hold("breaker_open", f"breaker:{hit}"))
        out.append(p)
    return out, {s: v for s, v in over.items() if s.label not in state.tripped}


def _active(
    wanting: list[NodePlan], open_nodes: OpenNodes, policy: RemediationPolicy, now: datetime
) -> list[tuple[str, str | None]]:
    """(cluster, group) of every other node acted on within the breaker window and still open."""
    window = policy.guards.breaker.window
    in_batch = {p.node.ref for p in wanting}
    active: list[tuple[str, str | None]] = []
    for cluster in {p.node.ref[0] for p in wanting}:
        for h in open_nodes.open_nodes(cluster):
            recent = h.last_action_at is not None and now - h.last_action_at < window
            if recent and (h.cluster, h.node_key) not in in_batch and h.status in BREAKER_COUNTED:
                active.append((h.cluster, h.instance_group))
    return active


def _sizes(infos: Mapping[str, ClusterInfo]) -> dict[Scope, int]:
    sizes: dict[Scope, int] = {}
    for cluster, info in infos.items():
        for group_info in info.groups.values():
            sizes[Scope(cluster, group_info.name)] = group_info.size
        sizes[Scope(cluster, None)] = sum(g.size for g in info.groups.values())
    return sizes


def trip(batch: BatchPlan, breakers: Breakers) -> Effects:
    """Record newly tripped breakers (they hold their scope for the window) and tell a human."""
    out = Effects()
    until = batch.now + batch.policy.guards.breaker.window
    for scope, (count, allowed) in batch.trips.items():
        breakers.trip(scope.label, until, count, allowed)
        out.metrics.add(Metric.BREAKER_TRIPS, Scope="group" if scope.group else "cluster")
        logger.warning(
            "circuit breaker tripped", extra={"scope": scope.label, "nodes": count, "allowed": allowed}
        )
        out.humans.append(
            HumanNeeded(
                cluster=scope.cluster,
                node_key=scope.label,
                instance_id=None,
                reason=(
                    f"circuit breaker open: {count} nodes under remediation in {scope.label}, "
                    f"{allowed} allowed; faults held until {until.isoformat()}, or until an operator runs "
                    f"`autoheal breaker reset --cluster {scope.cluster}"
                    + (f" --group {scope.group}`" if scope.group else "`")
                ),
                last_action=None,
                signal=None,
                kind="breaker_open",
                details={
                    "scope": scope.label,
                    "group": scope.group or "",
                    "nodes": str(count),
                    "allowed": str(allowed),
                    "until": until.isoformat(),
                },
            )
        )
    return out
