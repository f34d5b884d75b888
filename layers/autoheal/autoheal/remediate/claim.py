"""Stage 5, claim: settle every node plan that calls nothing, and claim the nodes to act on.

Per node, in plan order: a held fault waits (re-queued with its hold's delay, and recorded in the
ledger as held); an ignored one is counted (a held fault ignored once its hold lifted closes the hold);
a node handed to a human is marked so, its notice pending in the same write; in dry-run the decision is recorded and nothing is claimed;
otherwise a conditional write claims the node with the intent. Every write is conditional on the
version read: a node written by someone else since is read again and decided again (a few rounds).
The node states come from `core.transitions`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.notify import HumanNeeded, notice
from autoheal.core import restore, transitions
from autoheal.core.guards import GuardKind
from autoheal.core.ladder import Decision, DecisionKind
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.observability import Metric
from autoheal.policy import Action, RemediationPolicy
from autoheal.ports import NodeStates
from autoheal.remediate.approvals import keeps_gate
from autoheal.remediate.decide import node_plan
from autoheal.remediate.hold import SWITCH_HOLDS, over_ceiling
from autoheal.remediate.model import BatchPlan, Effects, Hold, Later, Node, NodePlan, NodeRow

#: How many times a node written by someone else between our read and our write is read and decided
#: again before its fault is re-queued for a little later.
CONFLICT_ROUNDS = 3
CONFLICT_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Claimed:
    """A node this invocation holds and is about to act on."""

    node: Node
    decision: Decision
    action: Action
    before: NodeState  # as read, before our claim
    claimed: NodeState  # as written by our claim
    evidence: str | None = None  # the evidence bundle's S3 URI, captured before the call (`evidence`)


@dataclass
class Claims:
    claimed: list[Claimed] = field(default_factory=list)
    dry_runs: list[AttemptRecord] = field(default_factory=list)  # attempts recorded for what was not done
    effects: Effects = field(default_factory=Effects)
    #: claims decided but not written yet (`defer`): `pipeline` writes them one call at a time
    pending: list[tuple[NodePlan, Claimed]] = field(default_factory=list)


@dataclass(frozen=True)
class _Settled:
    """What settling one node plan produced (a claimed node's row comes later, with its outcome)."""

    row: NodeRow | None = None
    counts: tuple[tuple[Metric, int, dict[str, str]], ...] = ()
    human: HumanNeeded | None = None
    noticed: NodeState | None = None  # the state written with the human's notice pending
    claimed: Claimed | None = None
    dry_run: AttemptRecord | None = None
    later: Later | None = None
    pending: tuple[NodePlan, Claimed] | None = None  # a claim decided, not written (`defer`)


def claim(batch: BatchPlan, states: NodeStates, *, defer: bool = False) -> Claims:
    """Settle every node plan; with `defer`, the claims of nodes to act on are decided but not written
    (`Claims.pending`: the pipeline writes each call's claims in one transaction right before it)."""
    out = Claims()
    for p in batch.nodes:
        gather(out, _settle_node(p, batch, states, defer))
    return out


def gather(out: Claims, s: _Settled) -> None:
    """One settled node plan into the stage's output."""
    effects = out.effects
    for metric, value, dimensions in s.counts:
        effects.metrics.add(metric, value, **dimensions)
    if s.row is not None:
        effects.rows.append(s.row)
    if s.human is not None:
        effects.humans.append(s.human)
    if s.later is not None:
        effects.later.append(s.later)
    if s.noticed is not None:
        effects.notices.append(s.noticed)
    if s.claimed is not None:
        out.claimed.append(s.claimed)
    if s.dry_run is not None:
        out.dry_runs.append(s.dry_run)
    if s.pending is not None:
        out.pending.append(s.pending)


def _settle_node(p: NodePlan, batch: BatchPlan, states: NodeStates, defer: bool = False) -> _Settled:
    """Settle one node plan. A version conflict means someone wrote the node since we read it (reconcile
    closing it as healed, another invocation): read it again and decide again, a few rounds; only a
    live claim by another actor means "someone else has it" (the ladder's `action_in_flight`)."""
    conflicts: list[tuple[Metric, int, dict[str, str]]] = []
    for _ in range(CONFLICT_ROUNDS):
        s = _settle(p, batch.now, batch.policy, states, defer)
        if s is not None:
            return replace(s, counts=(*s.counts, *conflicts))
        conflicts.append((Metric.CLAIM_CONFLICTS, 1, {}))
        p = _decide_again(p, batch, states)
    # still racing: the fault comes back soon (re-queued), it is not dropped
    row = p.node.row("held", "version_conflict")
    return _Settled(row, tuple(conflicts), later=Later(p.node, CONFLICT_RETRY_SECONDS))


def resettle(p: NodePlan, batch: BatchPlan, states: NodeStates) -> _Settled:
    """A node whose deferred claim found it written since it was read: counted as a conflict, read and
    decided again, and settled on that (claimed, if it still acts)."""
    s = _settle_node(_decide_again(p, batch, states), batch, states)
    return replace(s, counts=(*s.counts, (Metric.CLAIM_CONFLICTS, 1, {})))


def _decide_again(p: NodePlan, batch: BatchPlan, states: NodeStates) -> NodePlan:
    """The node's state read again, and its plan decided again on it (the batch's switches still hold)."""
    fresh = states.load([p.node.ref])[p.node.ref]
    again = node_plan(p.node, fresh, batch.infos.get(p.node.ref[0]), batch.now, batch.policy)
    tells = again.decision.kind is not DecisionKind.IGNORE and (
        again.guard is None or again.guard.kind is not GuardKind.IGNORE
    )
    if p.hold is not None and p.hold.reason in SWITCH_HOLDS and again.hold is None and tells:
        again = replace(again, hold=p.hold, guard=None)
    again = keeps_gate(p, again, batch)
    return over_ceiling([again], batch.policy, batch.now)[0]


def _settle(
    p: NodePlan, now: datetime, policy: RemediationPolicy, states: NodeStates, defer: bool = False
) -> _Settled | None:
    """One node plan: held, ignored, dry run, handed to a human, or claimed. None: a version conflict
    (the node was written since it was read)."""
    if p.hold is not None:
        return _held(p, p.hold, now, states)
    kind, reason = p.decision.kind, p.decision.reason.value
    if p.guard is not None:  # a guard overrules the ladder: ignore, or a human
        kind = DecisionKind.IGNORE if p.guard.kind is GuardKind.IGNORE else DecisionKind.NEEDS_HUMAN
        reason = p.guard.reason
    row = p.node.row(kind.value, reason)
    t = p.node.target
    current = transitions.observed(p.history, t.instance_id, t.node_logical_id, t.instance_group)
    seen = current.remember(p.node.event_ids)
    read = p.history.version
    if kind is DecisionKind.IGNORE:
        ignored = _Settled(row, ((Metric.FAULTS_IGNORED, len(p.node.faults), {"Reason": reason}),))
        if _settles_hold(p) and not states.put_if_unchanged(
            transitions.hold_closed(current, read), read, now
        ):
            return None
        return ignored
    if policy.guards.dry_run:
        return _dry_run(p, kind, row, seen, now, states)
    if kind is DecisionKind.NEEDS_HUMAN:
        stopped = transitions.handed_to_human(seen, read)
        told = human(stopped, reason, p.node.latest.signal)
        stopped = transitions.with_notice(stopped, notice(told, now))
        if not states.put_if_unchanged(stopped, read, now):
            return None
        return _Settled(row, ((Metric.NEEDS_HUMAN, 1, {}),), told, noticed=stopped)
    assert p.action is not None  # an ACT decision inside the ladder
    intent = p.node.latest.model_dump_json()
    claim = transitions.claimed(
        seen, read, now, policy.claim_ttl, p.action, p.decision.step, t.instance_id, intent
    )
    if p.action is Action.RETIRE:  # the restore's token and goal, in the ledger before any call
        claim = transitions.retire_intended(claim, restore.new_token(), p.retire_target)
    claimed = Claimed(p.node, p.decision, p.action, before=current, claimed=claim)
    if defer:
        return _Settled(pending=(p, claimed))
    if not states.put_if_unchanged(claim, read, now):
        return None
    return _Settled(claimed=claimed)


def _held(p: NodePlan, hold: Hold, now: datetime, states: NodeStates) -> _Settled | None:
    """The fault waits: re-queued with its hold's delay and, unless the node has something else open
    (an action in flight, a crashed claim), recorded as held so reconcile re-drives it if its message
    is lost. Its age was judged on arrival and stays that (`admitted`)."""
    node = replace(p.node, faults=[f.admitted(now) for f in p.node.faults])
    settled = _Settled(
        p.node.row("held", hold.detail),
        ((Metric.FAULTS_HELD, len(p.node.faults), {"Reason": hold.reason}),),
        later=Later(node, hold.delay),
    )
    h = p.history
    if h.status not in transitions.HOLDABLE:
        return settled
    t = p.node.target
    current = transitions.observed(h, t.instance_id, t.node_logical_id, t.instance_group)
    due = now + timedelta(seconds=hold.delay)
    state = transitions.held(current, h.version, hold.reason, now, due, node.latest.model_dump_json())
    return settled if states.put_if_unchanged(state, h.version, now) else None


def _settles_hold(p: NodePlan) -> bool:
    """Is this the node's held fault, decided again and ignored (its hold is then closed)?"""
    h = p.history
    if h.status is not NodeStatus.HELD or not h.pending_fault:
        return False
    return NodeFault.model_validate_json(h.pending_fault).source_event_id in p.node.event_ids


def _dry_run(
    p: NodePlan, kind: DecisionKind, row: NodeRow, seen: NodeState, now: datetime, states: NodeStates
) -> _Settled | None:
    """Record what would have been done; the node's ladder state does not move (nothing was done)."""
    what = p.action.value if kind is DecisionKind.ACT and p.action else "needs_human"
    if not states.put_if_unchanged(transitions.dry_run(seen, p.history.version), p.history.version, now):
        return None
    t = p.node.target
    attempt = AttemptRecord(
        cluster=t.cluster,
        node_key=t.node_key,
        attempt_id=f"dry-{uuid.uuid4().hex[:12]}",
        action=p.action or Action.REBOOT,
        step=p.decision.step,
        at=now,
        outcome=f"dry_run:{what}:{row.reason}",
        instance_id=t.instance_id,
        node_logical_id=t.node_logical_id,
        signal=p.node.latest.signal,
        source_event_ids=p.node.event_ids,
        rule=p.decision.rule or None,
    )
    return _Settled(
        replace(row, action=what, step=p.decision.step, outcome="dry_run"),
        ((Metric.DRY_RUN_ACTIONS, 1, {"Action": what}),),
        dry_run=attempt,
    )


def human(h: NodeState, reason: str, signal: str | None) -> HumanNeeded:
    return HumanNeeded(
        cluster=h.cluster,
        node_key=h.node_key,
        instance_id=h.instance_id,
        reason=reason,
        last_action=h.last_action.value if h.last_action else None,
        signal=signal,
    )
