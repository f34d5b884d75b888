"""The pure decision: given a node's new fault(s), its history and the clock, what do we do?

A fault starts on the rung the signal table gives it (`autoheal.signals`: none, reboot or replace;
default reboot, the ladder's first step); climb when the last action failed or the fault recurred
within the escalation window; past the ladder or over a budget, stop and hand the node to a human.
With `retire_and_restore` the ladder ends with a retire rung, which a lemon also reaches when its
replace budget is spent. A `none` signal (an application-class Xid, AWS host maintenance) is ignored
with its own reason and never climbs. Every decision names the rule that chose its rung
(`Decision.rule`). The rules are
an ordered table of small functions (first match wins), the steps and numbers come from
`RemediationPolicy`. No I/O, no boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from autoheal.core.adaptive import adapt
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.policy import Action, RemediationPolicy
from autoheal.signals import APPLICATION_FAULT, STRENGTH, FirstRung, Rung, first_rung


class DecisionKind(StrEnum):
    ACT = "act"
    IGNORE = "ignore"
    NEEDS_HUMAN = "needs_human"


class Reason(StrEnum):
    FIRST_FAULT = "first_fault"
    FRESH_FAULT = "fault_after_escalation_window"
    RECURRED = "fault_recurred"
    LAST_ACTION_FAILED = "last_action_failed"
    RETRY = "retry_after_transient_failure"
    DUPLICATE_EVENT = "duplicate_event"
    AWAITING_HUMAN = "awaiting_human"
    ACTION_IN_FLIGHT = "action_in_flight"
    PREDATES_LAST_ACTION = "predates_last_action"
    ECHO_OF_LAST_ACTION = "echo_of_last_action"
    LADDER_EXHAUSTED = "ladder_exhausted"
    BUDGET_EXHAUSTED = "budget_exhausted"
    RETRIES_EXHAUSTED = "retries_exhausted"
    LEMON = "replace_budget_spent"  # the fault keeps coming back; the retire rung instead of a human
    APPLICATION_FAULT = APPLICATION_FAULT
    AWS_HOST_MAINTENANCE = "aws_host_maintenance"


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reason: Reason
    step: int = -1
    escalated: bool = False
    retry: bool = False
    rule: str = ""  # which rule chose the rung: "table: XidError:79 → replace (...)", "ladder: ..."

    @property
    def acts(self) -> bool:
        return self.kind is DecisionKind.ACT


@dataclass(frozen=True)
class NodeFaults:
    """All faults of one batch for one node, collapsed: the newest is the representative."""

    faults: tuple[NodeFault, ...]

    @property
    def latest(self) -> NodeFault:
        return max(self.faults, key=lambda f: f.observed_at)

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.source_event_id for f in self.faults))

    def new_since(self, history: NodeState) -> tuple[NodeFault, ...]:
        seen = set(history.seen_event_ids)
        return tuple(f for f in self.faults if f.source_event_id not in seen)


@dataclass(frozen=True)
class _Context:
    new: tuple[NodeFault, ...]
    history: NodeState
    now: datetime
    policy: RemediationPolicy
    stats: Mapping[str, Mapping[str, int]]  # per signal, its adaptive counters (may be empty)

    @property
    def fault(self) -> NodeFault:
        return max(self.new, key=lambda f: f.observed_at)

    @property
    def reports_failure(self) -> bool:
        """A new fault says the *current* action failed (one about an older action says nothing: the
        same failure often arrives twice, from a Cluster Event and from reconcile)."""
        last = self.history.last_action_at
        return any(
            f.signal in self.policy.failure_signals and (last is None or f.observed_at > last)
            for f in self.new
        )

    @property
    def first_rung(self) -> FirstRung:
        """Where these faults start (`autoheal.signals`); failure signals are the ladder's own."""
        faults = sorted(
            (f for f in self.new if f.signal not in self.policy.failure_signals),
            key=lambda f: f.observed_at,
            reverse=True,
        )
        found = [
            adapt(
                first_rung(f, self.policy.signal_first_rung),
                f.signal,
                self.stats.get(f.signal),
                self.policy.adaptive,
                self.now,
            )
            for f in faults
        ]
        return max(found, key=lambda r: STRENGTH[r.rung]) if found else _DEFAULT_RUNG


Rule = Callable[[_Context], Decision | None]

_DEFAULT_RUNG = FirstRung(Rung.REBOOT, "default: reboot (first step of the ladder)", kind="default")
_RUNG_ACTIONS = {Rung.REBOOT: Action.REBOOT, Rung.REPLACE: Action.REPLACE}


def _ignore(reason: Reason) -> Decision:
    return Decision(DecisionKind.IGNORE, reason)


def _awaiting_human(ctx: _Context) -> Decision | None:
    return _ignore(Reason.AWAITING_HUMAN) if ctx.history.status is NodeStatus.NEEDS_HUMAN else None


def _in_flight(ctx: _Context) -> Decision | None:
    return _ignore(Reason.ACTION_IN_FLIGHT) if ctx.history.claimed_at(ctx.now) else None


def _no_node_action(ctx: _Context) -> Decision | None:
    """Every new fault's signal starts on `none`: not the node's fault, nothing to do or to climb."""
    first = ctx.first_rung
    if first.rung is not Rung.NONE:
        return None
    return Decision(DecisionKind.IGNORE, Reason(first.ignore_as), rule=first.rule)


def _fresh(ctx: _Context) -> Decision | None:
    last = ctx.history.last_action_at
    if last is None:
        return _first_step(ctx, Reason.FIRST_FAULT)
    if ctx.now - last > ctx.policy.escalation_window:
        return _first_step(ctx, Reason.FRESH_FAULT)
    return None


def _first_step(ctx: _Context, reason: Reason) -> Decision:
    """Step of the ladder the signal table starts these faults on (the first step of its action)."""
    first = ctx.first_rung
    action = _RUNG_ACTIONS.get(first.rung, Action.REBOOT)
    steps = [i for i, step in enumerate(ctx.policy.ladder) if step.action is action]
    return Decision(DecisionKind.ACT, reason, step=steps[0] if steps else 0, rule=first.rule)


def _retry_transient(ctx: _Context) -> Decision | None:
    """A step that failed transiently is retried (bounded), unless that was long ago."""
    last = ctx.history.last_attempt_at
    if ctx.history.last_outcome is not LastOutcome.FAILED_TRANSIENT or last is None:
        return None
    if ctx.now - last > ctx.policy.escalation_window:
        return None
    if ctx.history.transient_retries >= ctx.policy.max_transient_retries:
        return Decision(DecisionKind.NEEDS_HUMAN, Reason.RETRIES_EXHAUSTED, step=ctx.history.step)
    return Decision(DecisionKind.ACT, Reason.RETRY, step=max(ctx.history.step, 0), retry=True)


def _failed(ctx: _Context) -> Decision | None:
    if ctx.history.last_outcome is LastOutcome.FAILED or ctx.reports_failure:
        return Decision(
            DecisionKind.ACT, Reason.LAST_ACTION_FAILED, step=ctx.history.step + 1, escalated=True
        )
    return None


def _not_a_recurrence(ctx: _Context) -> Decision | None:
    last = ctx.history.last_action_at
    assert last is not None  # _fresh matched otherwise
    if ctx.fault.observed_at <= last:
        return _ignore(Reason.PREDATES_LAST_ACTION)
    if ctx.fault.observed_at - last < ctx.policy.recurrence_grace:
        return _ignore(Reason.ECHO_OF_LAST_ACTION)
    return None


def _recurred(ctx: _Context) -> Decision:
    return Decision(DecisionKind.ACT, Reason.RECURRED, step=ctx.history.step + 1, escalated=True)


#: First match wins. `_recurred` always matches, so the table is total.
RULES: Sequence[Rule] = (
    _awaiting_human,
    _in_flight,
    _no_node_action,
    _retry_transient,
    _fresh,
    _failed,
    _not_a_recurrence,
    _recurred,
)


def _within_limits(
    decision: Decision, history: NodeState, now: datetime, policy: RemediationPolicy
) -> Decision:
    """Turn an ACT past the ladder's end or over an action budget into NEEDS_HUMAN."""
    if not decision.acts:
        return decision
    step = policy.step(decision.step)
    if step is None:
        return Decision(
            DecisionKind.NEEDS_HUMAN, Reason.LADDER_EXHAUSTED, step=decision.step, rule=decision.rule
        )
    budget = policy.budgets.get(step.action)
    if budget is not None and history.actions_within(step.action, budget.window, now) >= budget.max_actions:
        retire = policy.retire_step
        if step.action is Action.REPLACE and retire is not None and decision.step < retire:
            return Decision(DecisionKind.ACT, Reason.LEMON, step=retire, escalated=True, rule=decision.rule)
        return Decision(
            DecisionKind.NEEDS_HUMAN, Reason.BUDGET_EXHAUSTED, step=decision.step, rule=decision.rule
        )
    return decision


def decide(
    faults: NodeFaults,
    history: NodeState,
    now: datetime,
    policy: RemediationPolicy,
    stats: Mapping[str, Mapping[str, int]] | None = None,
) -> Decision:
    """The decision for one node. `history` is a fresh `NodeState` for a node never seen before;
    `stats` the adaptive ladder's counters of the faults' signals (none: the static table)."""
    new = faults.new_since(history)
    if not new:
        return _ignore(Reason.DUPLICATE_EVENT)
    ctx = _Context(new=new, history=history, now=now, policy=policy, stats=stats or {})
    for rule in RULES:
        decision = rule(ctx)
        if decision is not None:
            if not decision.rule:
                decision = replace(decision, rule=f"ladder: {decision.reason.value}")
            return _within_limits(decision, history, now, policy)
    raise AssertionError("the rule table is total")  # pragma: no cover
