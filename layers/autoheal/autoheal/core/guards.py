"""Safety guards, pure: never make a cluster worse than the fault did.

Two tables of small rules, first match wins:

- `before` the ladder: faults the service must not act on at all (a cluster name reserved for self-tests,
  opted-out cluster, excluded group,
  stale event -- its age judged once, when it was first received --, HyperPod already repairing) are
  ignored with a reason;
- `after` the ladder, for decisions that would act: protected node types, a retire on a cluster
  that is not Continuous-provisioned, and the per-node budget hand the node to a human; the per-node cool-down and unsuitable cluster/group/node states hold the
  fault (re-queued, not dropped). A node's status is read through `autoheal.core.instance_status`:
  busy and unknown statuses hold.

The circuit breaker needs the whole batch and lives in `breaker_trips`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from autoheal.core.instance_status import StatusClass, status_class
from autoheal.core.ladder import Decision, Reason
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault, RepairAction
from autoheal.policy import Action, Guards
from autoheal.reserved import is_reserved_cluster

#: Instance-group statuses during which the group is being changed.
CHANGING_GROUP_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "Deleting"})
IN_SERVICE = "InService"
#: The hold of a node whose status this version does not know (the status itself is in the detail).
UNKNOWN_STATUS = "node_status_unknown"
OPT_OUT_VALUES = frozenset({"true", "yes", "1"})
CONTINUOUS = "Continuous"


class GuardKind(StrEnum):
    IGNORE = "ignore"
    HOLD = "hold"
    HUMAN = "needs_human"


@dataclass(frozen=True)
class GuardVerdict:
    kind: GuardKind
    reason: str  # bounded: a metric dimension
    detail: str | None = None  # what the reason does not say (recorded with a hold); None: the reason


@dataclass(frozen=True)
class NodeContext:
    """What the platform says about the node's surroundings (from DescribeCluster, ListTags,
    ListClusterNodes)."""

    cluster: str | None = None  # the cluster's name
    cluster_status: str | None = None
    node_recovery: str | None = None
    provisioning_mode: str | None = None  # NodeProvisioningMode; None: not set (not Continuous)
    cluster_tags: Mapping[str, str] = field(default_factory=dict)
    group: str | None = None
    group_status: str | None = None
    node_type: str | None = None
    node_status: str | None = None  # InstanceStatus.Status; None: not read


@dataclass(frozen=True)
class _Before:
    faults: Sequence[NodeFault]
    ctx: NodeContext
    now: datetime
    guards: Guards


@dataclass(frozen=True)
class _After:
    decision: Decision
    action: Action
    history: NodeState
    ctx: NodeContext
    now: datetime
    guards: Guards


def _reserved_cluster(b: _Before) -> GuardVerdict | None:
    """A cluster named with the self-test prefix is never acted on, whatever the event says: the prefix
    is reserved (`autoheal.reserved`), and a real cluster so named is left alone."""
    if is_reserved_cluster(b.ctx.cluster):
        return GuardVerdict(GuardKind.IGNORE, "reserved_cluster_name")
    return None


def _opted_out(b: _Before) -> GuardVerdict | None:
    value = b.ctx.cluster_tags.get(b.guards.opt_out_tag)
    if value is not None and value.strip().lower() in OPT_OUT_VALUES:
        return GuardVerdict(GuardKind.IGNORE, "cluster_opted_out")
    return None


def _group_excluded(b: _Before) -> GuardVerdict | None:
    return None if b.guards.group_allowed(b.ctx.group) else GuardVerdict(GuardKind.IGNORE, "group_excluded")


def _stale(b: _Before) -> GuardVerdict | None:
    """Judged once, at first receipt (`received_at`): a fault held or retried for hours is not stale.
    A fault never stamped (queued before the stamp existed) is judged now."""
    if all((f.received_at or b.now) - f.observed_at > b.guards.max_event_age for f in b.faults):
        return GuardVerdict(GuardKind.IGNORE, "stale_event")
    return None


def _hyperpod_repairing(b: _Before) -> GuardVerdict | None:
    """NodeRecovery=Automatic and the event says HyperPod is already repairing: HyperPod owns it."""
    if not b.guards.defer_to_hyperpod or b.ctx.node_recovery != "Automatic":
        return None
    repairing = [f for f in b.faults if f.repair_action not in (None, RepairAction.NONE)]
    if repairing and len(repairing) == len(b.faults):
        return GuardVerdict(GuardKind.IGNORE, "deferred_to_hyperpod")
    return None


BEFORE: Sequence[Callable[[_Before], GuardVerdict | None]] = (
    _reserved_cluster,
    _opted_out,
    _group_excluded,
    _stale,
    _hyperpod_repairing,
)


def _protected(a: _After) -> GuardVerdict | None:
    if a.action is not Action.REBOOT and a.ctx.node_type in a.guards.protected_node_types:
        return GuardVerdict(GuardKind.HUMAN, f"protected_node_type:{a.ctx.node_type}")
    return None


def _retire_needs_continuous(a: _After) -> GuardVerdict | None:
    """BatchAddClusterNodes works only with NodeProvisioningMode=Continuous: elsewhere a retire would
    leave the group a node short, so the lemon goes to a human as without the retire rung."""
    if a.action is Action.RETIRE and a.ctx.provisioning_mode != CONTINUOUS:
        return GuardVerdict(GuardKind.HUMAN, "retire_needs_continuous_provisioning")
    return None


def _node_budget(a: _After) -> GuardVerdict | None:
    budget = a.guards.node_budget
    used = sum(a.history.actions_within(action, budget.window, a.now) for action in Action)
    if not a.decision.retry and used >= budget.max_actions:
        return GuardVerdict(GuardKind.HUMAN, "node_budget_exhausted")
    return None


def _node_cooldown(a: _After) -> GuardVerdict | None:
    last = a.history.last_action_at
    if a.decision.retry or last is None or a.now - last >= a.guards.node_cooldown:
        return None
    return GuardVerdict(GuardKind.HOLD, "node_cooldown")


def _cluster_state(a: _After) -> GuardVerdict | None:
    if a.ctx.cluster_status is not None and a.ctx.cluster_status != IN_SERVICE:
        return GuardVerdict(GuardKind.HOLD, f"cluster_{a.ctx.cluster_status}")
    if a.ctx.group_status in CHANGING_GROUP_STATUSES:
        return GuardVerdict(GuardKind.HOLD, f"group_{a.ctx.group_status}")
    return None


def _node_state(a: _After) -> GuardVerdict | None:
    """HyperPod busy with the node: hold. A node still busy after its last action failed or timed out
    is stuck, not busy: escalate. A status this version does not know: hold, always."""
    status = a.ctx.node_status
    if status is None:
        return None
    found = status_class(status)
    if found is StatusClass.BUSY and a.decision.reason is not Reason.LAST_ACTION_FAILED:
        return GuardVerdict(GuardKind.HOLD, f"node_{status}")
    if found is StatusClass.UNKNOWN:
        return GuardVerdict(GuardKind.HOLD, UNKNOWN_STATUS, detail=f"{UNKNOWN_STATUS}:{status[:64]}")
    return None


AFTER: Sequence[Callable[[_After], GuardVerdict | None]] = (
    _protected,
    _retire_needs_continuous,
    _node_budget,
    _node_cooldown,
    _cluster_state,
    _node_state,
)


def before(
    faults: Sequence[NodeFault], ctx: NodeContext, now: datetime, guards: Guards
) -> GuardVerdict | None:
    """Should these faults be acted on at all? None: yes, go to the ladder."""
    check = _Before(faults, ctx, now, guards)
    return next((v for rule in BEFORE if (v := rule(check)) is not None), None)


def after(
    decision: Decision, action: Action, history: NodeState, ctx: NodeContext, now: datetime, guards: Guards
) -> GuardVerdict | None:
    """May this action go out now? None: yes."""
    check = _After(decision, action, history, ctx, now, guards)
    return next((v for rule in AFTER if (v := rule(check)) is not None), None)


@dataclass(frozen=True)
class Scope:
    cluster: str
    group: str | None  # None: the whole cluster

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.group or '*'}"


def breaker_trips(
    wanting: Iterable[tuple[str, str | None]],
    active: Iterable[tuple[str, str | None]],
    sizes: Mapping[Scope, int],
    guards: Guards,
) -> dict[Scope, tuple[int, int]]:
    """Scopes over their limit, with (nodes under remediation, allowed).

    `wanting`: (cluster, group) of every node this batch would act on; `active`: (cluster, group) of
    every node already acted on within the breaker window. A group scope and its cluster scope are
    both checked.
    """
    counts: dict[Scope, int] = {}
    for cluster, group in [*wanting, *active]:
        for scope in (Scope(cluster, group), Scope(cluster, None)):
            counts[scope] = counts.get(scope, 0) + 1
    b = guards.breaker
    tripped: dict[Scope, tuple[int, int]] = {}
    for scope, count in counts.items():
        size = sizes.get(scope, 0)
        if size <= 0:
            continue
        if scope.group is None:
            allowed = b.allowed(size, b.cluster_max_nodes, b.cluster_max_percent)
        else:
            allowed = b.allowed(size, b.group_max_nodes, b.group_max_percent)
        if count > allowed:
            tripped[scope] = (count, allowed)
    return tripped
