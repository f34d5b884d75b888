"""Stage 4b, the approval gate: actions the operator listed in `ApprovalRequiredFor` wait for a yes.

- `hold_for_approval` (plan, reads only): each decision that needs approval is looked up in the
  node's approval record (one BatchGetItem for the batch) and judged by `core.approvals.gate`: ask (a
  new pending approval) or wait -> held (`approval`, re-queued until the deadline, at most 15 minutes
  at a time, recorded as held so reconcile re-drives a lost message); approved -> acts as usual
  (batched with the others, <= 25 a call); denied -> a human, told why;
- `settle_approvals` (execute, before `claim`): writes the new requests (and tells a human: what is
  pending, why, until when, what the default does, the exact commands, and the link to the node's
  evidence bundle: a replace or retire asked for captures it then, `remediate.evidence`, bounded as
  before any destructive call; a failed capture leaves the link empty and is metered) and the deadline's decisions,
  each conditional on the record as read. A deadline decision that lost to a person's (same moment)
  is not applied: the fault is held a few seconds and decided again on the person's decision.

A pending approval is a hold in the sense of `remediate.hold`: it survives any time span and
redelivery, and no fault is acted on twice (the ladder's duplicate rule and the node's claim, as for
every action; an approval applies to one fault episode, `core.approvals`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from autoheal.adapters.ledger import NodeRef
from autoheal.adapters.notify import HumanNeeded
from autoheal.core.approvals import Approval, Asked, GateKind, GateVerdict, gate, hold_seconds
from autoheal.core.guards import GuardKind, GuardVerdict
from autoheal.observability import Metric, logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import Approvals
from autoheal.remediate.model import RETRY_MAX_SECONDS, BatchPlan, Effects, Hold, NodePlan

if TYPE_CHECKING:  # `claim` imports this module (`keeps_gate`), and `evidence` imports `claim`
    from autoheal.remediate.claim import Claimed
    from autoheal.remediate.evidence import Evidence

APPROVAL_HOLD = "approval"
#: A deadline decision that lost to a person's: the fault comes back this soon, decided again.
RACE_RETRY_SECONDS = 5
#: The guard reasons the gate hands a node to a human with start with this.
HUMAN_PREFIX = "approval "


#: The gate's verdict per node of the batch whose decision needed approval (`BatchPlan.approvals`).
Gated = dict[NodeRef, GateVerdict]


def hold_for_approval(
    plans: list[NodePlan], approvals: Approvals | None, policy: RemediationPolicy, now: datetime
) -> tuple[list[NodePlan], Gated]:
    """Hold, hand over or let through each decision that needs approval."""
    rules = policy.approvals
    wanting = [
        p for p in plans if p.would_act and p.action and rules.needs_approval(p.action.value, p.decision.rule)
    ]
    if not wanting:
        return plans, {}
    records = approvals.for_nodes(p.node.ref for p in wanting) if approvals is not None else {}
    gated: Gated = {}
    for p in wanting:
        h = p.history
        gated[p.node.ref] = gate(
            records.get(p.node.ref), _asked(p), h.last_action_at, h.released_at, now, rules
        )
    return [_apply(p, gated.get(p.node.ref), now) for p in plans], gated


def _asked(p: NodePlan) -> Asked:
    t = p.node.target
    assert p.action is not None
    return Asked(
        cluster=t.cluster,
        node_key=t.node_key,
        instance_id=t.instance_id,
        action=p.action.value,
        reason=p.decision.reason.value,
        rule=p.decision.rule,
        signal=p.node.latest.signal,
        fault=p.node.latest.model_dump_json(),
        event_id=p.node.latest.source_event_id,
    )


def _apply(p: NodePlan, verdict: GateVerdict | None, now: datetime) -> NodePlan:
    if verdict is None or verdict.kind is GateKind.PROCEED:
        return p
    if verdict.kind is GateKind.HUMAN:
        return replace(p, guard=GuardVerdict(GuardKind.HUMAN, verdict.human_reason))
    a = verdict.approval
    return replace(p, hold=Hold(APPROVAL_HOLD, f"approval:{a.id}", hold_seconds(a, now, RETRY_MAX_SECONDS)))


def settle_approvals(
    batch: BatchPlan, approvals: Approvals | None, evidence: Evidence | None = None
) -> tuple[BatchPlan, Effects]:
    """Write the new requests (each with its evidence link) and the deadline's decisions; count the
    decisions applied."""
    out = Effects()
    if not batch.approvals:
        return batch, out
    if approvals is not None and not batch.policy.guards.dry_run:
        batch = _with_evidence(batch, evidence, out)
    lost: set[NodeRef] = set()
    for p in batch.nodes:
        verdict = batch.approvals.get(p.node.ref)
        if verdict is None:
            continue
        if verdict.write and not batch.policy.guards.dry_run:
            if approvals is None:
                logger.error("approval needed but no approval ledger configured: fault held")
                lost.add(p.node.ref)
                continue
            if verdict.kind is GateKind.ASK:
                if approvals.request(verdict.approval, verdict.replaces):
                    out.metrics.add(Metric.APPROVALS_REQUESTED)
                    out.humans.append(pending_notice(verdict.approval))
                continue
            if not approvals.decide(verdict.approval):
                lost.add(p.node.ref)
                continue
        if verdict.kind is GateKind.HUMAN or (verdict.kind is GateKind.PROCEED and p.would_act):
            out.metrics.add(Metric.APPROVAL_DECISIONS, Decision=verdict.approval.decision)
    if not lost:
        return batch, out
    nodes = [_race_lost(p) if p.node.ref in lost else p for p in batch.nodes]
    return replace(batch, nodes=nodes), out


def _with_evidence(batch: BatchPlan, evidence: Evidence | None, out: Effects) -> BatchPlan:
    """The new requests, each with the URI of the bundle captured for its node now (the same capture
    as right before a destructive call, for the actions it covers; none when it failed, metered)."""
    from autoheal.remediate.evidence import capture_before  # see the TYPE_CHECKING import

    asking = [
        p
        for p in batch.nodes
        if (v := batch.approvals.get(p.node.ref)) is not None and v.kind is GateKind.ASK and v.write
    ]
    uris: dict[NodeRef, str] = {}
    for action in {p.action for p in asking if p.action is not None}:
        members = [_as_claimed(p) for p in asking if p.action is action]
        captured = capture_before(members, action, evidence, batch.now)
        out.metrics.merge([captured.metrics])
        uris.update({c.node.ref: c.evidence for c in captured.ready if c.evidence})
    if not uris:
        return batch
    gated = {
        ref: replace(v, approval=replace(v.approval, evidence=uris[ref])) if ref in uris else v
        for ref, v in batch.approvals.items()
    }
    return replace(batch, approvals=gated)


def _as_claimed(p: NodePlan) -> Claimed:
    """A node asked about, in the shape a capture reads (its state as read: nothing is claimed yet)."""
    from autoheal.remediate.claim import Claimed  # see the TYPE_CHECKING import

    assert p.action is not None
    return Claimed(node=p.node, decision=p.decision, action=p.action, before=p.history, claimed=p.history)


def _race_lost(p: NodePlan) -> NodePlan:
    """The deadline's decision was not written (a person decided at that moment): hold, decide again."""
    return replace(p, guard=None, hold=Hold(APPROVAL_HOLD, "approval:decided_meanwhile", RACE_RETRY_SECONDS))


def pending_notice(a: Approval) -> HumanNeeded:
    """The notice of a new pending approval: what, why, until when, the default, the commands."""
    approve = f"autoheal approve {a.id}"
    deny = f'autoheal deny {a.id} --reason "..."'
    default = (
        "the action proceeds" if a.default == "approve" else "the node is handed to a human, nothing is done"
    )
    return HumanNeeded(
        cluster=a.cluster,
        node_key=a.node_key,
        instance_id=a.instance_id,
        reason=(
            f"approval {a.id} pending: {a.action} of node {a.node_key} ({a.reason}; {a.rule}); "
            f"decide by {a.deadline.isoformat()}, else {a.default}: {default}. `{approve}` or `{deny}`"
        ),
        last_action=None,
        signal=a.signal,
        kind="approval_pending",
        details=_details(a, approve, deny),
    )


def _details(a: Approval, approve: str, deny: str) -> dict[str, str]:
    """The notice's structured fields (strings: the renderer lists them; `commands`, one a line)."""
    commands = (
        f"autoheal approvals --cluster {a.cluster}",
        approve,
        f"autoheal approve --all --cluster {a.cluster}",
        deny,
    )
    return {
        "approval_id": a.id,
        "action": a.action,
        "reason": a.reason,
        "rule": a.rule,
        "created": a.created.isoformat(),
        "deadline": a.deadline.isoformat(),
        "default": a.default,
        "evidence": a.evidence or "",
        "commands": "\n".join(commands),
    }


def keeps_gate(before: NodePlan, again: NodePlan, batch: BatchPlan) -> NodePlan:
    """A node decided again after a version conflict (`claim`) keeps the gate's say: a denial stays a
    denial, and an action that needs approval and was not approved as such in this batch is held a
    few seconds and goes through the gate on its next delivery (never acted on unapproved)."""
    reason = before.guard.reason if before.guard is not None else ""
    if reason.startswith(HUMAN_PREFIX) and again.would_act:
        return replace(again, guard=before.guard)
    if not again.would_act or again.action is None:
        return again
    if not batch.policy.approvals.needs_approval(again.action.value, again.decision.rule):
        return again
    verdict = batch.approvals.get(again.node.ref)
    approved = verdict is not None and verdict.kind is GateKind.PROCEED
    if approved and verdict is not None and verdict.approval.action == again.action.value:
        return again
    return replace(again, hold=Hold(APPROVAL_HOLD, "approval:decided_again", RACE_RETRY_SECONDS))
