"""The retire rung's notices for an operator: a lemon retired and its group restored (or not needing
it), and the added node running. Sent through the needs-human channel (`adapters.notify`) as
information, never stored as pending: the ledger, `history` and the metrics hold the same facts.

Each is a `HumanNeeded` of its kind (`retired_and_restored`, `retired`, `restore_running`: each has
its row in `autoheal.alerts.kinds`) whose `reason` starts with the kind, then the facts in words;
`last_action` is `retire`, `signal` the lemon's, `details` the group.
"""

from __future__ import annotations

from datetime import datetime

from autoheal.adapters.notify import HumanNeeded
from autoheal.core.restore import RestoreStatus
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault
from autoheal.policy import Action

RETIRED_AND_RESTORED = "retired_and_restored"
RETIRED = "retired"
RESTORE_RUNNING = "restore_running"


def retired(h: NodeState, signal: str | None) -> HumanNeeded | None:
    """After the add: the lemon is gone, its group restored (ids tracked until Running) or not below
    its target. None for any other restore status (failures have their own needs-human notice)."""
    lemon = _lemon(h)
    if h.restore_status == RestoreStatus.ADDED.value:
        reason = (
            f"{RETIRED_AND_RESTORED}: {lemon}; group {h.instance_group} restored with NodeLogicalId "
            f"{', '.join(h.restore_ids)} (ClientToken {h.restore_token}); tracking until Running"
        )
        kind = RETIRED_AND_RESTORED
    elif h.restore_status == RestoreStatus.NOT_NEEDED.value:
        reason = f"{RETIRED}: {lemon}; group {h.instance_group} was not below its target: nothing added"
        kind = RETIRED
    else:
        return None
    return _notice(h, signal, reason, kind)


def running(h: NodeState, signal: str | None, now: datetime) -> HumanNeeded:
    """Every node the restore added runs: the group is back to its size."""
    since = f" {int((now - h.restore_at).total_seconds() // 60)} min after the add" if h.restore_at else ""
    reason = (
        f"{RESTORE_RUNNING}: group {h.instance_group}'s added node {', '.join(h.restore_ids)} is Running"
        f"{since}; {_lemon(h)}"
    )
    return _notice(h, signal, reason, RESTORE_RUNNING)


def _notice(h: NodeState, signal: str | None, reason: str, kind: str) -> HumanNeeded:
    details = {"group": h.instance_group or ""}
    return HumanNeeded(
        h.cluster, h.node_key, h.instance_id, reason, Action.RETIRE.value, signal, kind=kind, details=details
    )


def signal_of(h: NodeState) -> str | None:
    """The lemon's fault signal as it came (the fault kept on its state), if known."""
    return NodeFault.model_validate_json(h.pending_fault).signal if h.pending_fault else None


def _lemon(h: NodeState) -> str:
    replaces = len(h.action_times.get(Action.REPLACE, ()))
    return (
        f"node {h.node_key} ({h.instance_id or 'no instance id'}) retired as a lemon after "
        f"{replaces} replace{'' if replaces == 1 else 's'}"
    )
