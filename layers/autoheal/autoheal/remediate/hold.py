"""Stage 4a, hold: the switches an operator or an earlier batch set.

- `hold_switched`: a paused cluster holds every fault that would act or notify; a capacity cool-down
  holds the replaces in its instance group (one BatchGetItem each, only when needed);
- `over_ceiling`: a fault held longer than the policy's `hold_ceiling` goes to a human instead of
  being acted on (or held on) blindly;
- `start_cooldowns` (execute): a replacement that found no capacity stops replaces in its group for a
  while, and says why.

A new kind of hold (an approval, a canary wave) is one more rule here: held faults are re-queued with
their hold's name and recorded in the ledger as held (`claim`), never dropped; once the hold lifts they
are decided against the guards and the node's state of that moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from autoheal.adapters.control import Cooldown, covering
from autoheal.adapters.notify import HumanNeeded
from autoheal.core.guards import GuardKind, GuardVerdict
from autoheal.core.ladder import DecisionKind
from autoheal.core.state import NodeStatus
from autoheal.observability import Metric, logger
from autoheal.policy import Action, RemediationPolicy
from autoheal.ports import Cooldowns, Pauses
from autoheal.remediate.model import BatchPlan, Effects, Hold, NodePlan

CAPACITY_SIGNAL = "InsufficientCapacity"
#: Holds that stand for the whole batch (a switch, or a cluster that cannot be read; not the node's own
#: state): a node decided again after a version conflict keeps them.
SWITCH_HOLDS = frozenset(
    {
        "paused",
        "capacity_cooldown",
        "breaker_open",
        "cluster_unreachable",
        "fleet_breaker_open",
        "approval",
        "canary_wave",
    }
)
#: Holds with their own deadline (a pending approval's), not the ceiling's.
OWN_DEADLINE = frozenset({"approval"})


def hold_switched(
    plans: list[NodePlan],
    pauses: Pauses,
    cooldowns: Cooldowns,
    now: datetime,
    arns: Mapping[str, str] | None = None,
) -> list[NodePlan]:
    """Paused clusters hold every fault that would act or notify; a capacity cool-down holds replaces.
    A pause is looked up under the cluster's name and under its ARN (`arns`: name -> ARN), where
    older CLIs stored it: a pause never lifts because its key changed."""
    arns = arns or {}
    clusters = {p.node.ref[0] for p in plans}
    paused = pauses.paused(clusters | {arns[c] for c in clusters if c in arns})
    replacing = {
        (p.node.ref[0], p.node.target.instance_group or "")
        for p in plans
        if p.would_act and p.action is Action.REPLACE
    }
    cooling = cooldowns.cooldowns(replacing, now) if replacing else {}
    out = []
    for p in plans:
        pause = covering(paused, p.node.ref[0], arns.get(p.node.ref[0]))
        acts_or_tells = p.decision.kind is not DecisionKind.IGNORE and (
            p.guard is None or p.guard.kind is not GuardKind.IGNORE
        )
        cooldown = cooling.get((p.node.ref[0], p.node.target.instance_group or ""))
        if pause is not None and acts_or_tells and p.hold is None:
            p = replace(p, hold=Hold("paused", f"paused:{pause.scope}"))
        elif cooldown is not None and p.would_act and p.action is Action.REPLACE:
            p = replace(p, hold=Hold("capacity_cooldown", f"capacity_cooldown:{cooldown.group}"))
        out.append(p)
    return out


def over_ceiling(plans: list[NodePlan], policy: RemediationPolicy, now: datetime) -> list[NodePlan]:
    """A node held since longer than the ceiling whose fault would act (or is held again): a human
    decides, told why; nothing is sent blindly on a fault that old."""
    out = []
    for p in plans:
        h = p.history
        since = h.held_since if h.status is NodeStatus.HELD and h.hold not in OWN_DEADLINE else None
        since = None if p.hold is not None and p.hold.reason in OWN_DEADLINE else since
        if since is not None and now - since >= policy.hold_ceiling and (p.hold is not None or p.would_act):
            p = replace(p, hold=None, guard=GuardVerdict(GuardKind.HUMAN, f"held_too_long:{h.hold}"))
        out.append(p)
    return out


def start_cooldowns(batch: BatchPlan, cooldowns: Cooldowns) -> Effects:
    """A replacement that found no capacity stops replaces in its group for a while, and says why."""
    out = Effects()
    started: set[tuple[str, str]] = set()
    for p in batch.nodes:
        target = p.node.target
        short = [f for f in p.node.faults if f.signal == CAPACITY_SIGNAL]
        group = target.instance_group or (short[0].instance_group if short else None)
        if not short or not group or (target.cluster, group) in started:
            continue
        until = batch.now + batch.policy.capacity_cooldown
        reason = short[0].reason or CAPACITY_SIGNAL
        cooldowns.start_cooldown(Cooldown(target.cluster, group, until, reason, target.node_key))
        out.metrics.add(Metric.CAPACITY_COOLDOWNS)
        logger.warning("capacity cool-down started", extra={"cluster": target.cluster, "group": group})
        started.add((target.cluster, group))
        out.humans.append(
            HumanNeeded(
                cluster=target.cluster,
                node_key=target.node_key,
                instance_id=target.instance_id,
                reason=f"insufficient capacity: no replace in group {group} until {until.isoformat()}",
                last_action=None,
                signal=CAPACITY_SIGNAL,
                kind="capacity_cooldown",
                details={"group": group, "until": until.isoformat()},
            )
        )
    return out
