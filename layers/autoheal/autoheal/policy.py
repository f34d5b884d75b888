"""The remediation policy: the ladder, its windows and budgets, as data.

Defaults a reviewer can read in one screen. The decision core (`autoheal.core.ladder`) walks this
model; there are no per-step if-chains anywhere else.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from autoheal.actions import Action as Action  # its home is `autoheal.actions`; imported from here too
from autoheal.core.adaptive import Adaptive
from autoheal.core.approvals import ApprovalGate
from autoheal.core.canary import Canary
from autoheal.core.fleet import FleetBreaker
from autoheal.signals import Rung


class Step(BaseModel):
    """One rung of the ladder."""

    model_config = ConfigDict(frozen=True)

    action: Action
    timeout: timedelta = Field(description="how long the action may take before it counts as failed")


class Budget(BaseModel):
    """At most `max_actions` of one action per node within `window`."""

    model_config = ConfigDict(frozen=True)

    max_actions: int = Field(ge=0)
    window: timedelta


class Breaker(BaseModel):
    """Stop acting when too many nodes of one scope (instance group, cluster) are in trouble at once.

    A scope may have at most `min(max_nodes, max(1, floor(max_percent% of its size)))` nodes under
    remediation (acted on within `window`, plus those wanting an action now); above that the breaker
    trips: no mutating call for the scope, its faults are held, an operator is told. It re-arms when
    the window has passed without the scope being over its limit, or when an operator resumes.
    """

    model_config = ConfigDict(frozen=True)

    window: timedelta = timedelta(minutes=30)
    group_max_nodes: int = Field(default=25, ge=1)
    group_max_percent: float = Field(default=20.0, gt=0, le=100)
    cluster_max_nodes: int = Field(default=50, ge=1)
    cluster_max_percent: float = Field(default=20.0, gt=0, le=100)

    def allowed(self, size: int, max_nodes: int, max_percent: float) -> int:
        return min(max_nodes, max(1, int(size * max_percent / 100)))


class Guards(BaseModel):
    """Safety guards: never make a cluster worse than the fault did.

    - `breaker`: per cluster and per instance group (see `Breaker`).
    - `fleet_breaker`: every cluster of the stack at once (see `autoheal.core.fleet`).
    - `node_cooldown`: no new action on a node within this time of its last (faults are held).
    - `node_budget`: at most this many actions of any kind per node in the window, then a human.
    - `protected_node_types`: Slurm node types (from the cluster's instance-group configuration)
      that are never replaced or deleted; their faults go to a human instead.
    - `allowed_groups` / `denied_groups`: instance groups to act on (empty allow list: all).
    - `opt_out_tag`: a cluster tagged with this key (value "true") is left alone.
    - `defer_to_hyperpod`: with NodeRecovery=Automatic and a RepairAction other than None in the
      event, HyperPod is already repairing: record a deferral and do nothing.
    - `max_event_age`: an older event causes no action.
    - `dry_run`: run the whole pipeline, write the ledger with `dry_run` outcomes, call nothing mutating.
    """

    model_config = ConfigDict(frozen=True)

    breaker: Breaker = Breaker()
    fleet_breaker: FleetBreaker = FleetBreaker()
    node_cooldown: timedelta = timedelta(minutes=30)
    node_budget: Budget = Budget(max_actions=5, window=timedelta(days=7))
    protected_node_types: frozenset[str] = frozenset({"Controller", "Login"})
    allowed_groups: frozenset[str] = frozenset()
    denied_groups: frozenset[str] = frozenset()
    opt_out_tag: str = "hyperpod-autoheal:opt-out"
    defer_to_hyperpod: bool = True
    max_event_age: timedelta = timedelta(hours=1)
    dry_run: bool = False

    def group_allowed(self, group: str | None) -> bool:
        if group is not None and group in self.denied_groups:
            return False
        return not self.allowed_groups or (group is not None and group in self.allowed_groups)


class RemediationPolicy(BaseModel):
    """Reboot first; replace when the reboot failed or the fault recurred; then a human.

    - `ladder`: the steps in order. A node's first fault takes step 0.
    - `escalation_window`: a new fault within this time after the node's last action climbs one step;
      a fault after it starts again at step 0 (the earlier fix held).
    - `budgets`: per action, how many a node may receive in a sliding window; exceeding it means the
      node needs a human instead.
    - `max_transient_retries`: how many times one step is retried after transient per-entry failures
      (InstanceIdInUse, throttling, ...) before the node is handed to a human.
    - `recurrence_grace`: a fault observed within this time after an action is an echo of the fault
      that caused it (HyperPod may send several events per state change), not a recurrence.
    - `failure_signals`: signals that say the last action itself failed (e.g. a Cluster Event
      "Failed to submit reboot request", or a replacement that found no capacity); they climb the
      ladder at once, grace or not — past a failed replace, that means a human.
    - `retry_backoff`: the first delay before a transient failure is retried; it doubles per retry
      (with +-20% jitter) up to SQS's 15-minute maximum.
    - `healthy_delay`: reconcile calls an action successful once the node is `Running` again and this
      long has passed since the action with no new fault.
    - `redrive_after`: a transient retry still pending this long after it was due is re-driven by
      reconcile (the delayed message was lost); the retry budget still applies.
    - `capacity_cooldown`: after a replacement found no capacity, no replace is sent to that
      instance group for this long (faults are held, reboots go on).
    - `hold_ceiling`: a fault held (paused, breaker open, cool-down) this long goes to a human instead
      of being acted on when its hold lifts: the cluster has moved on since.
    - `claim_ttl`: how long a claim protects a node from a second actor if its holder dies.
    - `attempt_ttl`: how long attempt records are kept (DynamoDB TTL).
    - `retire_and_restore` (off by default): a lemon -- a node whose fault comes back after the
      replace step, or whose replace budget is spent -- gets one more automatic rung before a human:
      retire it (BatchDeleteClusterNodes) and restore its group's size with a fresh node
      (BatchAddClusterNodes). Only on Continuous-provisioning clusters; never for protected node
      types or excluded groups. The ladder then ends with a `retire` step (see `with_retire`).
    - `restore_deadline`: a node added by a restore that is not `Running` this long after the add
      goes to a human with what is known (capacity, say).
    - `adaptive`: the adaptive ladder (`autoheal.core.adaptive`), off by default.
    - `canary`: canary waves for correlated faults (`autoheal.core.canary`), on by default.
    - `signal_first_rung`: the operator's overrides of the signal table (`autoheal.signals`): signal
      (or `XidError:<n>`) -> the rung its fault starts on (none, reboot, replace).
    """

    model_config = ConfigDict(frozen=True)

    ladder: tuple[Step, ...] = (
        Step(action=Action.REBOOT, timeout=timedelta(minutes=30)),
        Step(action=Action.REPLACE, timeout=timedelta(minutes=45)),
    )
    escalation_window: timedelta = timedelta(hours=6)
    budgets: dict[Action, Budget] = Field(
        default_factory=lambda: {
            Action.REPLACE: Budget(max_actions=2, window=timedelta(days=7)),
        }
    )
    max_transient_retries: int = Field(default=3, ge=0)
    recurrence_grace: timedelta = timedelta(minutes=5)
    retry_backoff: timedelta = timedelta(seconds=30)
    healthy_delay: timedelta = timedelta(minutes=5)
    redrive_after: timedelta = timedelta(minutes=10)
    capacity_cooldown: timedelta = timedelta(minutes=60)
    failure_signals: frozenset[str] = frozenset(
        {"RebootFailed", "ReplacementFailed", "InsufficientCapacity", "ActionFailed", "ActionTimedOut"}
    )
    hold_ceiling: timedelta = timedelta(hours=24)
    claim_ttl: timedelta = timedelta(minutes=15)
    attempt_ttl: timedelta = timedelta(days=30)
    retire_and_restore: bool = False
    restore_deadline: timedelta = timedelta(hours=2)
    guards: Guards = Guards()
    signal_first_rung: dict[str, Rung] = Field(default_factory=dict)
    adaptive: Adaptive = Adaptive()
    approvals: ApprovalGate = ApprovalGate()  # the approval gate (`autoheal.core.approvals`), off by default
    canary: Canary = Canary()

    @field_validator("ladder")
    @classmethod
    def _ladder_not_empty(cls, ladder: tuple[Step, ...]) -> tuple[Step, ...]:
        if not ladder:
            raise ValueError("the ladder needs at least one step")
        return ladder

    @model_validator(mode="after")
    def _positive_durations(self) -> RemediationPolicy:
        if self.recurrence_grace < timedelta(0) or self.recurrence_grace >= self.escalation_window:
            raise ValueError("recurrence_grace must be between 0 and the escalation window")
        for name in ("escalation_window", "claim_ttl", "attempt_ttl", "hold_ceiling"):
            if getattr(self, name) <= timedelta(0):
                raise ValueError(f"{name} must be positive")
        for step in self.ladder:
            if step.timeout <= timedelta(0):
                raise ValueError(f"step {step.action} needs a positive timeout")
        retires = [i for i, step in enumerate(self.ladder) if step.action is Action.RETIRE]
        if retires and (not self.retire_and_restore or retires != [len(self.ladder) - 1]):
            raise ValueError("a retire step must be the ladder's last, and needs retire_and_restore")
        return self

    @staticmethod
    def with_retire(ladder: tuple[Step, ...], enabled: bool, deadline: timedelta) -> tuple[Step, ...]:
        """`ladder` ending with the retire rung when `enabled` (its timeout: the restore deadline)."""
        return (*ladder, Step(action=Action.RETIRE, timeout=deadline)) if enabled else ladder

    @property
    def retire_step(self) -> int | None:
        """The index of the retire rung, if the ladder has one."""
        last = len(self.ladder) - 1
        return last if self.ladder[last].action is Action.RETIRE else None

    def step(self, index: int) -> Step | None:
        return self.ladder[index] if 0 <= index < len(self.ladder) else None
