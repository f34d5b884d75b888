"""The ledger table's node items: their keys, the models they map to, and the explicit mapping.

Table layout (template.yaml `LedgerTable`):

| item | pk | sk | notes |
|---|---|---|---|
| node state | `NODE#<cluster>#<node key>` | `STATE` | version for optimistic concurrency; `open_cluster` set while open (sparse GSI `open-index`) |
| attempt | `NODE#<cluster>#<node key>` | `ATTEMPT#<iso time>#<attempt id>` | `expires_at` (epoch s) is the table's TTL |
| control | `CONTROL` | `PAUSE#…`, `BREAKER#…`, `OVERRIDE#…`, `COOLDOWN#…` | see `autoheal.adapters.control` |
| dropped fault | `FAULT#<event id>` | `DROPPED#<cluster>#<node>` | why remediate dropped it; `expires_at` TTL, 7 days; see `autoheal.adapters.verdicts` |

The node key is the NodeLogicalId when known (it survives replacement), else the instance id.

The adapters, one per record kind, all through `autoheal.adapters.dynamo`: `node_states.LedgerNodeStates`
(load, claim with a conditional put, commit outcomes with their attempts; a node's whole record for
operators), `attempts.LedgerAttempts` (a node's attempts and their count), `open_nodes.LedgerOpenNodes` (the open
index, and finding a node by any id it had). remediate and reconcile use `LedgerNodeStates` and
`LedgerOpenNodes.open_nodes`; the rest serves the `autoheal` CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from autoheal.adapters.dynamo import from_iso, iso
from autoheal.core.state import OPEN_STATUSES, LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action

STATE_SK = "STATE"
ATTEMPT_PREFIX = "ATTEMPT#"
OPEN_INDEX = "open-index"

NodeRef = tuple[str, str]  # (cluster, node key)


def node_pk(cluster: str, node_key: str) -> str:
    return f"NODE#{cluster}#{node_key}"


def state_key(ref: NodeRef) -> dict[str, str]:
    return {"pk": node_pk(*ref), "sk": STATE_SK}


@dataclass(frozen=True)
class AttemptRecord:
    """One remediation attempt: what we asked for and what came of it."""

    cluster: str
    node_key: str
    attempt_id: str
    action: Action
    step: int
    at: datetime
    outcome: str
    error_code: str | None = None
    message: str = ""
    request_id: str | None = None
    instance_id: str | None = None
    node_logical_id: str | None = None
    signal: str | None = None
    source_event_ids: tuple[str, ...] = field(default_factory=tuple)
    #: Which rule chose the rung (`Decision.rule`); None on items written before it was recorded.
    rule: str | None = None
    #: The fault's Node Health `Recommendation` text, if it had one (information, not a verdict).
    recommendation: str | None = None
    #: The evidence bundle captured before the call (s3:// URI of its folder); None: none captured.
    evidence_uri: str | None = None


@dataclass(frozen=True)
class NodeRecord:
    """Everything the ledger holds for one node: its state item (None if it has none) and its
    attempts, oldest first."""

    cluster: str
    node_key: str
    state: NodeState | None
    attempts: tuple[AttemptRecord, ...]


# --- explicit mapping between items and domain objects --------------------------------------------------


def state_to_item(h: NodeState, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": node_pk(h.cluster, h.node_key),
        "sk": STATE_SK,
        "cluster": h.cluster,
        "node_key": h.node_key,
        "version": h.version,
        "status": h.status.value,
        "step": h.step,
        "transient_retries": h.transient_retries,
        "seen_event_ids": list(h.seen_event_ids),
        "action_times": {a.value: [iso(t) for t in ts] for a, ts in h.action_times.items()},
        "updated_at": iso(now),
    }
    optional = {
        "last_action": h.last_action.value if h.last_action else None,
        "last_action_at": iso(h.last_action_at),
        "last_attempt_at": iso(h.last_attempt_at),
        "last_outcome": h.last_outcome.value if h.last_outcome else None,
        "last_error_code": h.last_error_code,
        "claim_expires_at": iso(h.claim_expires_at),
        "instance_id": h.instance_id,
        "node_logical_id": h.node_logical_id,
        "instance_group": h.instance_group,
        "open_cluster": h.cluster if h.status in OPEN_STATUSES else None,
        "intent_action": h.intent_action.value if h.intent_action else None,
        "intent_at": iso(h.intent_at),
        "intent_instance_id": h.intent_instance_id,
        "pending_fault": h.pending_fault,
        "healed_signal": h.healed_signal,
        "retry_at": iso(h.retry_at),
        "hold": h.hold,
        "held_since": iso(h.held_since),
        "released_by": h.released_by,
        "released_at": iso(h.released_at),
        "release_reason": h.release_reason,
        "notify_pending": h.notify_pending,
        "restore_token": h.restore_token,
        "restore_target": h.restore_target,
        "restore_ids": list(h.restore_ids) or None,
        "restore_at": iso(h.restore_at),
        "restore_status": h.restore_status,
        "restore_batch": [[g, n] for g, n in h.restore_batch] or None,
        "restore_slot": h.restore_slot,
    }
    if h.intent_action is not None:
        item["intent_step"] = h.intent_step
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def item_to_state(item: Mapping[str, Any]) -> NodeState:
    action_times = {
        Action(a): tuple(t for t in (from_iso(x) for x in ts) if t is not None)
        for a, ts in (item.get("action_times") or {}).items()
    }
    return NodeState(
        cluster=str(item["cluster"]),
        node_key=str(item["node_key"]),
        version=int(item.get("version", 0)),
        status=NodeStatus(item.get("status", NodeStatus.IDLE.value)),
        step=int(item.get("step", -1)),
        last_action=Action(item["last_action"]) if item.get("last_action") else None,
        last_action_at=from_iso(item.get("last_action_at")),
        last_attempt_at=from_iso(item.get("last_attempt_at")),
        last_outcome=LastOutcome(item["last_outcome"]) if item.get("last_outcome") else None,
        last_error_code=item.get("last_error_code"),
        transient_retries=int(item.get("transient_retries", 0)),
        action_times=action_times,
        seen_event_ids=tuple(item.get("seen_event_ids") or ()),
        claim_expires_at=from_iso(item.get("claim_expires_at")),
        instance_id=item.get("instance_id"),
        node_logical_id=item.get("node_logical_id"),
        instance_group=item.get("instance_group"),
        intent_action=Action(item["intent_action"]) if item.get("intent_action") else None,
        intent_step=int(item.get("intent_step", -1)),
        intent_at=from_iso(item.get("intent_at")),
        intent_instance_id=item.get("intent_instance_id"),
        pending_fault=item.get("pending_fault"),
        healed_signal=item.get("healed_signal"),
        retry_at=from_iso(item.get("retry_at")),
        hold=item.get("hold"),
        held_since=from_iso(item.get("held_since")),
        released_by=item.get("released_by"),
        released_at=from_iso(item.get("released_at")),
        release_reason=item.get("release_reason"),
        notify_pending=item.get("notify_pending"),
        restore_token=item.get("restore_token"),
        restore_target=int(item["restore_target"]) if item.get("restore_target") is not None else None,
        restore_ids=tuple(item.get("restore_ids") or ()),
        restore_at=from_iso(item.get("restore_at")),
        restore_status=item.get("restore_status"),
        restore_batch=tuple((str(g), int(n)) for g, n in item.get("restore_batch") or ()),
        restore_slot=int(item["restore_slot"]) if item.get("restore_slot") is not None else None,
    )


def attempt_to_item(a: AttemptRecord, ttl: timedelta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": node_pk(a.cluster, a.node_key),
        "sk": f"{ATTEMPT_PREFIX}{iso(a.at)}#{a.attempt_id}",
        "cluster": a.cluster,
        "node_key": a.node_key,
        "attempt_id": a.attempt_id,
        "action": a.action.value,
        "step": a.step,
        "at": iso(a.at),
        "outcome": a.outcome,
        "message": a.message[:1024],
        "source_event_ids": list(a.source_event_ids),
        "expires_at": int((a.at + ttl).timestamp()),
    }
    optional = {
        "error_code": a.error_code,
        "request_id": a.request_id,
        "instance_id": a.instance_id,
        "node_logical_id": a.node_logical_id,
        "signal": a.signal,
        "rule": a.rule[:512] if a.rule else None,
        "recommendation": a.recommendation[:1024] if a.recommendation else None,
        "evidence_uri": a.evidence_uri,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def item_to_attempt(item: Mapping[str, Any]) -> AttemptRecord:
    return AttemptRecord(
        cluster=str(item["cluster"]),
        node_key=str(item["node_key"]),
        attempt_id=str(item["attempt_id"]),
        action=Action(item["action"]),
        step=int(item.get("step", 0)),
        at=from_iso(item["at"]) or datetime.now(UTC),
        outcome=str(item["outcome"]),
        error_code=item.get("error_code"),
        message=str(item.get("message", "")),
        request_id=item.get("request_id"),
        instance_id=item.get("instance_id"),
        node_logical_id=item.get("node_logical_id"),
        signal=item.get("signal"),
        source_event_ids=tuple(item.get("source_event_ids") or ()),
        rule=item.get("rule"),
        recommendation=item.get("recommendation"),
        evidence_uri=item.get("evidence_uri"),
    )
