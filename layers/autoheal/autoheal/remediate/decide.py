"""Stage 3, decide (pure): each node's ladder decision, checked by the guards before and after it.

A guard may ignore the faults, hand the node to a human, or hold the action (the per-node cool-down,
an unsuitable cluster, group or node state). No I/O: the histories and cluster descriptions were read
by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from autoheal.adapters.directory import ClusterInfo
from autoheal.adapters.ledger import NodeRef
from autoheal.core import guards
from autoheal.core.guards import GuardKind, NodeContext
from autoheal.core.ladder import DecisionKind, NodeFaults, decide
from autoheal.core.state import NodeState
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate.model import RETRY_MAX_SECONDS, Hold, Node, NodePlan


def decide_all(
    nodes: Mapping[NodeRef, Node],
    histories: Mapping[NodeRef, NodeState],
    infos: Mapping[str, ClusterInfo],
    now: datetime,
    policy: RemediationPolicy,
    stats: Mapping[str, Mapping[str, int]] | None = None,
) -> list[NodePlan]:
    """`stats`: the adaptive ladder's counters of the batch's signals (none: the static table)."""
    return [
        node_plan(node, histories[ref], infos.get(ref[0]), now, policy, stats) for ref, node in nodes.items()
    ]


def node_plan(
    node: Node,
    history: NodeState,
    info: ClusterInfo | None,
    now: datetime,
    policy: RemediationPolicy,
    stats: Mapping[str, Mapping[str, int]] | None = None,
) -> NodePlan:
    """The ladder's decision, checked by the guards before and after it."""
    faults = NodeFaults(tuple(node.faults))
    decision = decide(faults, history, now, policy, stats)
    step = policy.step(decision.step) if decision.acts else None
    action = step.action if step else None
    if decision.kind is DecisionKind.IGNORE:
        return NodePlan(node, history, decision)
    ctx = context(node, info)
    guard = guards.before(faults.new_since(history) or faults.faults, ctx, now, policy.guards)
    if guard is None and action is not None:
        guard = guards.after(decision, action, history, ctx, now, policy.guards)
    if guard is not None and guard.kind is GuardKind.HOLD:
        delay = RETRY_MAX_SECONDS
        if guard.reason == "node_cooldown" and history.last_action_at is not None:
            remaining = policy.guards.node_cooldown - (now - history.last_action_at)
            delay = max(1, min(RETRY_MAX_SECONDS, int(remaining.total_seconds()) + 1))
        hold = Hold(guard.reason, guard.detail or guard.reason, delay)
        return NodePlan(node, history, decision, hold=hold, action=action)
    target = _group_target(node, info) if action is Action.RETIRE else None
    return NodePlan(node, history, decision, guard=guard, action=action, retire_target=target)


def _group_target(node: Node, info: ClusterInfo | None) -> int | None:
    group = info.groups.get(node.target.instance_group or "") if info else None
    return group.size if group else None


def context(node: Node, info: ClusterInfo | None) -> NodeContext:
    group = info.groups.get(node.target.instance_group or "") if info else None
    return NodeContext(
        cluster=node.target.cluster,
        cluster_status=info.status if info else None,
        node_recovery=info.node_recovery if info else None,
        provisioning_mode=info.provisioning_mode if info else None,
        cluster_tags=info.tags if info else {},
        group=node.target.instance_group,
        group_status=group.status if group else None,
        node_type=group.node_type if group else None,
        node_status=node.status,
    )
