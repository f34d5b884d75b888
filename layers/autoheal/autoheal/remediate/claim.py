"""Stage 5, claim: settle every node plan that calls nothing, and claim the nodes to act on.

Per node, in plan order: a held fault waits (re-queued with its hold's delay); an ignored one is
counted; a node handed to a human is marked so, its notice pending in the same write; in dry-run the decision is recorded and nothing is
claimed; otherwise a conditional write claims the node with the intent (a node written by someone
else since we read it is skipped). The node states come from `core.transitions`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.notify import HumanNeeded, notice
from autoheal.core import transitions
from autoheal.core.guards import GuardKind
from autoheal.core.ladder import Decision, DecisionKind
from autoheal.core.state import NodeState
from autoheal.observability import Metric
from autoheal.policy import Action, RemediationPolicy
from autoheal.ports import NodeStates
from autoheal.remediate.model import BatchPlan, Effects, Later, Node, NodePlan, NodeRow


@dataclass(frozen=True)
class Claimed:
    """A node this invocation holds and is about to act on."""

    node: Node
    decision: Decision
    action: Action
    before: NodeState  # as read, before our claim
    claimed: NodeState  # as written by our claim


@dataclass
class Claims:
    claimed: list[Claimed] = field(default_factory=list)
    dry_runs: list[AttemptRecord] = field(default_factory=list)  # attempts recorded for what was not done
    effects: Effects = field(default_factory=Effects)


@dataclass(frozen=True)
class _Settled:
    """What settling one node plan produced (a claimed node's row comes later, with its outcome)."""

    row: NodeRow | None = None
    count: tuple[Metric, int, dict[str, str]] | None = None
    human: HumanNeeded | None = None
    noticed: NodeState | None = None  # the state written with the human's notice pending
    claimed: Claimed | None = None
    dry_run: AttemptRecord | None = None


def claim(batch: BatchPlan, states: NodeStates) -> Claims:
    out = Claims()
    effects = out.effects
    for p in batch.nodes:
        if p.hold is not None:
            effects.later.append(Later(p.node, p.hold.delay))
            effects.metrics.add(Metric.FAULTS_HELD, len(p.node.faults), Reason=p.hold.reason)
            effects.rows.append(p.node.row("held", p.hold.detail))
            continue
        s = _settle(p, batch.now, batch.policy, states)
        if s.count is not None:
            metric, value, dimensions = s.count
            effects.metrics.add(metric, value, **dimensions)
        if s.row is not None:
            effects.rows.append(s.row)
        if s.human is not None:
            effects.humans.append(s.human)
        if s.noticed is not None:
            effects.notices.append(s.noticed)
        if s.claimed is not None:
            out.claimed.append(s.claimed)
        if s.dry_run is not None:
            out.dry_runs.append(s.dry_run)
    return out


def _settle(p: NodePlan, now: datetime, policy: RemediationPolicy, states: NodeStates) -> _Settled:
    """One node plan that is not held: ignored, dry run, handed to a human, or claimed."""
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
        return _Settled(row, (Metric.FAULTS_IGNORED, len(p.node.faults), {"Reason": reason}))
    if policy.guards.dry_run:
        return _dry_run(p, kind, row, seen, now, states)
    if kind is DecisionKind.NEEDS_HUMAN:
        stopped = transitions.handed_to_human(seen, read)
        told = human(stopped, reason, p.node.latest.signal)
        stopped = transitions.with_notice(stopped, notice(told, now))
        if not states.put_if_unchanged(stopped, read, now):
            return _conflict(row)
        return _Settled(row, (Metric.NEEDS_HUMAN, 1, {}), told, noticed=stopped)
    assert p.action is not None  # an ACT decision inside the ladder
    intent = p.node.latest.model_dump_json()
    claim = transitions.claimed(
        seen, read, now, policy.claim_ttl, p.action, p.decision.step, t.instance_id, intent
    )
    if not states.put_if_unchanged(claim, read, now):
        return _conflict(row)
    return _Settled(claimed=Claimed(p.node, p.decision, p.action, before=current, claimed=claim))


def _dry_run(
    p: NodePlan, kind: DecisionKind, row: NodeRow, seen: NodeState, now: datetime, states: NodeStates
) -> _Settled:
    """Record what would have been done; the node's ladder state does not move (nothing was done)."""
    what = p.action.value if kind is DecisionKind.ACT and p.action else "needs_human"
    if not states.put_if_unchanged(transitions.dry_run(seen, p.history.version), p.history.version, now):
        return _conflict(row)
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
    )
    return _Settled(
        replace(row, action=what, step=p.decision.step, outcome="dry_run"),
        (Metric.DRY_RUN_ACTIONS, 1, {"Action": what}),
        dry_run=attempt,
    )


def _conflict(row: NodeRow) -> _Settled:
    return _Settled(
        replace(row, decision="ignore", reason="claimed_by_another_invocation"),
        (Metric.CLAIM_CONFLICTS, 1, {}),
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
