"""Stage 6b, restore: the second call of the retire rung (`act` made the first, the delete).

For each lemon the delete accepted: read its group's TargetCount again (DescribeCluster, uncached),
add `core.restore.nodes_to_add` nodes with BatchAddClusterNodes under the token its claim wrote to
the ledger, and return each node's restore outcome for `record`. Before the add, the node's state is
written with `restore_at` (like `sending` before the delete): from then on a retry re-sends the same
token, and within 8 hours HyperPod answers with the first call's NodeLogicalIds instead of adding
again. Reconcile resumes a restore whose outcome was lost and tracks the added nodes until they run
(`autoheal.reconcile.restores`).

One add per retire record (one token each, so a redelivered message reuses it however its batch is
regrouped): at most one group and one node per call, inside the API's 5 groups / 50 nodes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from autoheal.adapters.directory import ClusterNotFound, ClusterUnreachable
from autoheal.adapters.notify import HumanNeeded, notice
from autoheal.adapters.sagemaker import CONNECTION_ERROR
from autoheal.core import restore, transitions
from autoheal.core.results import EntryOutcome, outcome_for
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.policy import Action
from autoheal.ports import Directory, NodeActions, NodeStates
from autoheal.remediate.act import Acted
from autoheal.remediate.model import CallRow, Deps, Effects, NodeRow

ADD = "BatchAddClusterNodes"


@dataclass(frozen=True)
class Restored:
    """One retire's restore outcome (a `core.restore.RestoreStatus` value)."""

    status: str
    ids: tuple[str, ...] = ()
    error_code: str | None = None
    at: datetime | None = None


@dataclass
class Restores:
    by_node: dict[str, Restored] = field(default_factory=dict)  # node key -> outcome
    metrics: MetricCounts = field(default_factory=MetricCounts)
    calls: list[CallRow] = field(default_factory=list)  # one per BatchAddClusterNodes made


def restore_all(
    acted: Acted, nodes: NodeActions, directory: Directory, states: NodeStates, now: datetime
) -> Restores:
    """Restore the groups of the lemons the delete accepted."""
    out = Restores()
    accepted = {
        (request.cluster, r.node_id)
        for request, receipt in acted.receipts
        if request.action is Action.RETIRE
        for r in receipt.results
        if r.outcome is EntryOutcome.ACCEPTED
    }
    counts: dict[str, Mapping[str, int] | None] = {}
    for c in acted.sent:
        if c.action is not Action.RETIRE or (c.node.target.cluster, c.node.target.api_id) not in accepted:
            continue
        cluster = c.node.target.cluster
        if cluster not in counts:
            counts[cluster] = _counts(directory, cluster)
        result = restore_one(c.claimed, counts[cluster], nodes, states, now)
        out.by_node[c.node.target.node_key] = result
        if result.at is not None:
            failed = 0 if result.ids else 1
            out.calls.append(CallRow(ADD, cluster, 1, failed, None if result.ids else result.error_code))
        _count(result, out.metrics)
    return out


def restore_one(
    h: NodeState, counts: Mapping[str, int] | None, nodes: NodeActions, states: NodeStates, now: datetime
) -> Restored:
    """One retire's restore. `h` is the node's current state (with its token and target)."""
    if h.restore_token is None or h.instance_group is None:
        return Restored(restore.RestoreStatus.FAILED.value, error_code="NoRestoreToken")
    resend = h.restore_at is not None and restore.token_valid(h, now)
    if not resend:
        if counts is None:  # the group could not be read: reconcile tries again
            return Restored(restore.RestoreStatus.PLANNED.value)
        if restore.nodes_to_add(h.restore_target, counts.get(h.instance_group, 0)) == 0:
            return Restored(restore.RestoreStatus.NOT_NEEDED.value)
        states.put_claimed([transitions.restore_sending(h, now)], now)
    results = nodes.add(h.cluster, {h.instance_group: 1}, h.restore_token)
    ids = tuple(i for r in results for i in r.node_logical_ids)
    failed = [r for r in results if r.error_code]
    at = h.restore_at if resend else now
    if ids:
        return Restored(restore.RestoreStatus.ADDED.value, ids, at=at)
    code = failed[0].error_code if failed else "NoResult"
    outcome, _ = outcome_for(code or "NoResult")
    if code == CONNECTION_ERROR or outcome is EntryOutcome.TRANSIENT:
        return Restored(restore.RestoreStatus.PLANNED.value, error_code=code, at=at)
    logger.warning("restore failed", extra={"cluster": h.cluster, "node": h.node_key, "error_code": code})
    return Restored(restore.RestoreStatus.FAILED.value, error_code=code, at=at)


def _counts(directory: Directory, cluster: str) -> Mapping[str, int] | None:
    try:
        return directory.target_counts(cluster)
    except (ClusterNotFound, ClusterUnreachable) as exc:
        logger.warning("restore: group counts unreadable", extra={"cluster": cluster, "error": str(exc)})
        return None


def _count(result: Restored, metrics: MetricCounts) -> None:
    if result.status == restore.RestoreStatus.ADDED.value:
        metrics.add(Metric.RESTORED_NODES, len(result.ids))
    elif result.error_code is not None:
        metrics.add(Metric.RESTORE_FAILURES, ErrorCode=result.error_code)


def applied(state: NodeState, result: Restored | None, now: datetime) -> NodeState:
    """The node's outcome state with its restore's outcome (None: not a retire)."""
    if result is None:
        return state
    return transitions.restore_recorded(state, result.status, result.ids, result.error_code, result.at or now)


def failed(state: NodeState, result: Restored | None) -> bool:
    """A restore that retrying will not fix: the node goes to a human."""
    return result is not None and result.status == restore.RestoreStatus.FAILED.value


def resume(faults: Sequence[NodeFault], deps: Deps, now: datetime) -> Effects:
    """`RestorePending` faults (from reconcile): each retire's restore resumed under its stored token,
    the node held by a conditional write meanwhile (a retire not pending any more is left alone)."""
    out = Effects()
    for fault in faults:
        cluster = fault.cluster_name or fault.cluster_arn or ""
        key = fault.node_logical_id or fault.instance_id or ""
        h = transitions.as_decided_on(deps.states.load([(cluster, key)])[(cluster, key)], now)
        if not (restore.pending(h) and h.last_action is Action.RETIRE and not h.claimed_at(now)):
            out.rows.append(NodeRow(cluster, key, fault.instance_id, "ignore", "restore_not_pending"))
            continue
        held = replace(h, version=h.version + 1)
        if not deps.states.put_if_unchanged(held, h.version, now):  # raced: reconcile re-drives it
            out.rows.append(NodeRow(cluster, key, fault.instance_id, "held", "version_conflict"))
            continue
        result = restore_one(held, _counts(deps.directory, cluster), deps.nodes, deps.states, now)
        state = replace(applied(held, result, now), version=held.version + 1)
        if failed(state, result):
            state, told = _to_human(state, result, now)
            out.humans.append(told)
            out.notices.append(state)
        deps.states.put_if_unchanged(state, held.version, now)
        _count(result, out.metrics)
        if result.at is not None:
            out.calls.append(CallRow(ADD, cluster, 1, 0 if result.ids else 1, result.error_code))
        out.rows.append(
            NodeRow(
                cluster,
                key,
                h.instance_id,
                "act",
                "restore_resumed",
                Action.RETIRE.value,
                h.step,
                result.status,
            )
        )
    return out


def _to_human(state: NodeState, result: Restored, now: datetime) -> tuple[NodeState, HumanNeeded]:
    told = HumanNeeded(
        state.cluster,
        state.node_key,
        state.instance_id,
        f"restore_failed:{result.error_code} (retired; group {state.instance_group} not restored)",
        Action.RETIRE.value,
        None,
        kind="restore_failed",
        details={"group": state.instance_group or "", "error_code": result.error_code or ""},
    )
    stopped = replace(state, status=NodeStatus.NEEDS_HUMAN)
    return transitions.with_notice(stopped, notice(told, now)), told
