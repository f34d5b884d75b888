"""The approval gate's rule (pure): does an action need a person's yes, and what does the node's
approval record say about it now.

An operator lists the actions that need approval (`ApprovalRequiredFor`: reboot, replace, retire,
restore). A decision to take one of them is asked for once per node (a pending approval with a short
stable ID and a deadline) and held until a person decides (`autoheal approve` / `autoheal deny`) or the
deadline passes, where `ApprovalDefault` applies: `deny` hands the node to a human, `approve` lets the
action proceed. A decision chosen by a rule listed in `ApprovalAutoApproveRules` (a prefix of
`Decision.rule`, e.g. `table` for every signal-table rule, `table: XidError:79` for one) needs no yes.

A node's record applies to the fault episode it was asked for only: an action taken on the node after
it was asked (`NodeState.last_action_at`) ends it, an approval is good for `ceiling` after its decision,
and a denial lasts until an operator hands the node back (`autoheal release`). Anything else asks again.

`restore` is the retire rung's second call: listing it gates the retire rung (one approval covers both
calls; the restore is never asked for on its own).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

#: The actions `ApprovalRequiredFor` may list.
GATED_ACTIONS = frozenset({"reboot", "replace", "retire", "restore"})
#: Who decided an approval the deadline decided.
DEADLINE = "deadline"
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: an ID read aloud or typed by hand
ID_LENGTH = 8


class ApprovalGate(BaseModel):
    """The approval switches (settings `APPROVAL_*`)."""

    model_config = ConfigDict(frozen=True)

    required_for: frozenset[str] = frozenset()
    timeout: timedelta = timedelta(minutes=60)
    default_approve: bool = False  # at the deadline: False = a human (deny), True = the action proceeds
    auto_approve_rules: tuple[str, ...] = ()
    ceiling: timedelta = Field(default=timedelta(hours=24))  # how long an approval stays good

    @property
    def default(self) -> str:
        return "approve" if self.default_approve else "deny"

    def needs_approval(self, action: str, rule: str) -> bool:
        gated = action in self.required_for or (action == "retire" and "restore" in self.required_for)
        return gated and not any(rule.startswith(prefix) for prefix in self.auto_approve_rules)


class ApprovalStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(frozen=True)
class Approval:
    """One node's approval request and its decision (the ledger's `APPROVAL` item of the node)."""

    id: str
    cluster: str
    node_key: str
    action: str
    reason: str  # the ladder's reason (first_fault, recurred, ...)
    rule: str  # the rule that chose the rung (`Decision.rule`)
    created: datetime
    deadline: datetime
    default: str  # deny | approve: what the deadline decides
    status: ApprovalStatus = ApprovalStatus.PENDING
    instance_id: str | None = None
    signal: str | None = None
    fault: str | None = None  # the NodeFault (JSON) `autoheal approve` puts back on the queue
    evidence: str | None = None  # a link to the evidence captured for the node (the evidence feature)
    decided_by: str | None = None  # the caller's ARN, or `deadline`
    decided_at: datetime | None = None
    decision_reason: str | None = None

    @property
    def expired(self) -> bool:
        return self.decided_by == DEADLINE

    @property
    def decision(self) -> str:
        """The metric's `Decision`: approved | denied | default_approve | default_deny (or pending)."""
        if self.status is ApprovalStatus.PENDING:
            return "pending"
        if self.expired:
            return f"default_{'approve' if self.status is ApprovalStatus.APPROVED else 'deny'}"
        return self.status.value

    def decided(self, status: ApprovalStatus, by: str, at: datetime, reason: str) -> Approval:
        return replace(self, status=status, decided_by=by, decided_at=at, decision_reason=reason)


def new_id(*parts: str) -> str:
    """A short ID an operator can type: 8 characters of an unambiguous alphabet (31^8, ~10^12 values),
    derived from what identifies the request (cluster, node, action, the fault's event), so the same
    request always has the same ID (a redelivery, a replayed run, the demo)."""
    number = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")
    chars = []
    for _ in range(ID_LENGTH):
        number, index = divmod(number, len(_ID_ALPHABET))
        chars.append(_ID_ALPHABET[index])
    return "".join(chars)


class GateKind(StrEnum):
    ASK = "ask"  # no approval yet: ask (a new pending approval), hold the fault
    WAIT = "wait"  # pending, before its deadline: hold the fault
    PROCEED = "proceed"  # approved (by a person, or by the default at the deadline)
    HUMAN = "human"  # denied (by a person, or by the default at the deadline): a human takes the node


@dataclass(frozen=True)
class GateVerdict:
    kind: GateKind
    approval: Approval
    write: bool = False  # `approval` is to be written: a new request, or the deadline's decision
    replaces: str | None = None  # ASK: the ID of the record it replaces (none: there was none)

    @property
    def human_reason(self) -> str:
        a = self.approval
        if a.expired:
            return f"approval {a.id} not decided by {a.deadline.isoformat()}: default {a.default}"
        return f"approval {a.id} denied by {a.decided_by}: {a.decision_reason or 'no reason given'}"


@dataclass(frozen=True)
class Asked:
    """What the gate needs to know about the decision to approve (the node and why)."""

    cluster: str
    node_key: str
    instance_id: str | None
    action: str
    reason: str
    rule: str
    signal: str | None
    fault: str
    event_id: str  # the fault's source event id (part of the request's ID)


def gate(
    current: Approval | None,
    asked: Asked,
    last_action_at: datetime | None,
    released_at: datetime | None,
    now: datetime,
    policy: ApprovalGate,
) -> GateVerdict:
    """The gate's say on one decision that needs approval, given the node's approval record."""
    fits = current is not None and _applies(current, asked, last_action_at, released_at, now, policy)
    live = current if fits else None
    if live is None:
        request = Approval(
            id=new_id(asked.cluster, asked.node_key, asked.action, asked.event_id),
            cluster=asked.cluster,
            node_key=asked.node_key,
            action=asked.action,
            reason=asked.reason,
            rule=asked.rule,
            created=now,
            deadline=now + policy.timeout,
            default=policy.default,
            instance_id=asked.instance_id,
            signal=asked.signal,
            fault=asked.fault,
        )
        return GateVerdict(GateKind.ASK, request, write=True, replaces=current.id if current else None)
    if live.status is ApprovalStatus.PENDING:
        if now < live.deadline:
            return GateVerdict(GateKind.WAIT, live)
        status = ApprovalStatus.APPROVED if live.default == "approve" else ApprovalStatus.DENIED
        why = f"no decision by the deadline {live.deadline.isoformat()}: the default ({live.default}) applies"
        decided = live.decided(status, DEADLINE, now, why)
        kind = GateKind.PROCEED if status is ApprovalStatus.APPROVED else GateKind.HUMAN
        return GateVerdict(kind, decided, write=True)
    return GateVerdict(GateKind.PROCEED if live.status is ApprovalStatus.APPROVED else GateKind.HUMAN, live)


def _applies(
    a: Approval,
    asked: Asked,
    last_action_at: datetime | None,
    released_at: datetime | None,
    now: datetime,
    policy: ApprovalGate,
) -> bool:
    """Whether the node's record speaks for this decision (its episode, its action, still fresh)."""
    if a.action != asked.action or (last_action_at is not None and last_action_at >= a.created):
        return False
    if a.status is ApprovalStatus.APPROVED:
        return a.decided_at is not None and now - a.decided_at < policy.ceiling
    if a.status is ApprovalStatus.DENIED:
        return released_at is None or a.decided_at is None or released_at < a.decided_at
    return True


def hold_seconds(a: Approval, now: datetime, most: int) -> int:
    """How long a held fault waits before it is looked at again: until the deadline, at most `most`."""
    left = int((a.deadline - now).total_seconds()) + 1
    return max(1, min(most, left))
