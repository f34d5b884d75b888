"""Stage 6b, restore: the second call of the retire rung (`act` made the first, the delete).

For the lemons the delete accepted, per cluster: read the groups' TargetCount again (DescribeCluster,
uncached), plan the fewest BatchAddClusterNodes calls that give each group back its lost slots
(`core.restore.plan_adds`: <= 5 groups and <= 50 nodes per call) and make them. Before each call, its
members' states are written with the call -- its ClientToken, its exact NodesToAdd, the member's slot
-- and `restore_at` (like `sending` before the delete): from then on a retry re-sends that same call,
and within 8 hours HyperPod answers with the first call's NodeLogicalIds instead of adding again.
A member redelivered alone or with others re-sends its own call (one per token per invocation) and
takes its slot's id; re-sends go first, so the counts read for new calls include them. Reconcile
resumes a restore whose outcome was lost and tracks the added nodes until they run
(`autoheal.reconcile.restores`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from autoheal.adapters.directory import ClusterNotFound, ClusterUnreachable
from autoheal.adapters.notify import HumanNeeded, notice
from autoheal.adapters.sagemaker import CONNECTION_ERROR
from autoheal.core import restore, transitions
from autoheal.core.restore import AddCall, RestoreStatus
from autoheal.core.results import EntryOutcome, outcome_for
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.policy import Action
from autoheal.ports import Directory, NodeActions, NodeStates
from autoheal.remediate import restore_notices
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
    sent: NodeState | None = None  # the state written before its call (the call's token and slot)


@dataclass
class Restores:
    by_node: dict[str, Restored] = field(default_factory=dict)  # node key -> outcome
    metrics: MetricCounts = field(default_factory=MetricCounts)
    calls: list[CallRow] = field(default_factory=list)  # one per BatchAddClusterNodes made


def restore_all(
    acted: Acted, nodes: NodeActions, directory: Directory, states: NodeStates, now: datetime
) -> Restores:
    """Restore the groups of the lemons the delete accepted."""
    accepted = {
        (request.cluster, r.node_id)
        for request, receipt in acted.receipts
        if request.action is Action.RETIRE
        for r in receipt.results
        if r.outcome is EntryOutcome.ACCEPTED
    }
    by_cluster: dict[str, list[NodeState]] = {}
    for c in acted.sent:
        if c.action is Action.RETIRE and (c.node.target.cluster, c.node.target.api_id) in accepted:
            by_cluster.setdefault(c.node.target.cluster, []).append(c.claimed)
    out = Restores()
    for cluster, members in by_cluster.items():
        done = restore_cluster(cluster, members, nodes, directory, states, now)
        out.by_node.update(done.by_node)
        out.calls += done.calls
        out.metrics.merge([done.metrics])
    return out


def restore_cluster(
    cluster: str,
    members: Sequence[NodeState],
    nodes: NodeActions,
    directory: Directory,
    states: NodeStates,
    now: datetime,
) -> Restores:
    """The restores of one cluster's retires; each `h` is the node's current state (its token, its
    target before the retire and, once a call was planned, that call)."""
    out = Restores()
    resend: dict[str, tuple[AddCall, list[NodeState]]] = {}
    fresh: list[NodeState] = []
    for h in members:
        stored = restore.stored_call(h) if h.restore_at is not None and restore.token_valid(h, now) else None
        if h.restore_token is None or h.instance_group is None:
            out.by_node[h.node_key] = Restored(RestoreStatus.FAILED.value, error_code="NoRestoreToken")
        elif stored is not None:
            resend.setdefault(stored.token, (stored, []))[1].append(h)
        else:
            fresh.append(h)
    for call, sent in resend.values():  # first: the counts read next then include them
        _send(cluster, call, sent, nodes, out)
    if not fresh:
        return out
    counts = _counts(directory, cluster)
    if counts is None:  # the groups could not be read: reconcile tries again
        out.by_node.update({h.node_key: Restored(RestoreStatus.PLANNED.value) for h in fresh})
        return out
    calls, not_needed = restore.plan_adds(fresh, counts)
    out.by_node.update({k: Restored(RestoreStatus.NOT_NEEDED.value) for k in not_needed})
    by_key = {h.node_key: h for h in fresh}
    for call in calls:
        sent = [
            transitions.restore_sending(by_key[k], now, call.token, call.nodes_to_add, slot)
            for k, slot in call.slots.items()
        ]
        states.put_claimed(sent, now)  # the call, in each member's record, before it is made
        _send(cluster, call, sent, nodes, out)
    return out


def _send(cluster: str, call: AddCall, sent: Sequence[NodeState], nodes: NodeActions, out: Restores) -> None:
    """Make (or re-send) one add call; each member takes its slot's id among its group's."""
    results = nodes.add(cluster, dict(call.nodes_to_add), call.token)
    ids: dict[str, list[str]] = {}
    codes: dict[str, str] = {}
    for r in results:
        ids.setdefault(r.instance_group, []).extend(r.node_logical_ids)
        if r.error_code:
            codes.setdefault(r.instance_group, r.error_code)
    for h in sent:
        group_ids = sorted(ids.get(h.instance_group or "", ()))
        slot = h.restore_slot or 0
        if slot < len(group_ids):
            result = Restored(RestoreStatus.ADDED.value, (group_ids[slot],), at=h.restore_at, sent=h)
        else:
            code = codes.get(h.instance_group or "") or next(iter(codes.values()), "NoResult")
            result = _not_added(h, code)
        out.by_node[h.node_key] = result
        _count(result, out.metrics)
    added = sum(len(v) for v in ids.values())
    first_code = next(iter(codes.values()), None)
    out.calls.append(CallRow(ADD, cluster, call.size, max(0, call.size - added), first_code))


def _not_added(h: NodeState, code: str) -> Restored:
    outcome, _ = outcome_for(code)
    if code == CONNECTION_ERROR or outcome is EntryOutcome.TRANSIENT:
        return Restored(RestoreStatus.PLANNED.value, error_code=code, at=h.restore_at, sent=h)
    logger.warning("restore failed", extra={"cluster": h.cluster, "node": h.node_key, "error_code": code})
    return Restored(RestoreStatus.FAILED.value, error_code=code, at=h.restore_at, sent=h)


def _counts(directory: Directory, cluster: str) -> Mapping[str, int] | None:
    try:
        return directory.target_counts(cluster)
    except (ClusterNotFound, ClusterUnreachable) as exc:
        logger.warning("restore: group counts unreadable", extra={"cluster": cluster, "error": str(exc)})
        return None


def _count(result: Restored, metrics: MetricCounts) -> None:
    if result.status == RestoreStatus.ADDED.value:
        metrics.add(Metric.RESTORED_NODES, len(result.ids))
    elif result.error_code is not None:
        metrics.add(Metric.RESTORE_FAILURES, ErrorCode=result.error_code)


def applied(state: NodeState, result: Restored | None, now: datetime) -> NodeState:
    """The node's outcome state with its restore's outcome (None: not a retire)."""
    if result is None:
        return state
    return transitions.restore_recorded(
        state, result.status, result.ids, result.error_code, result.at or now, result.sent
    )


def failed(state: NodeState, result: Restored | None) -> bool:
    """A restore that retrying will not fix: the node goes to a human."""
    return result is not None and result.status == RestoreStatus.FAILED.value


def resume(faults: Sequence[NodeFault], deps: Deps, now: datetime) -> Effects:
    """`RestorePending` faults (from reconcile): each retire's restore resumed (its stored call re-sent,
    or a new one planned), the node held by a conditional write meanwhile (a retire not pending any
    more is left alone)."""
    out = Effects()
    if not faults:
        return out
    refs = list(dict.fromkeys((f.cluster_name or f.cluster_arn or "", _key(f)) for f in faults))
    loaded = deps.states.load(refs)
    by_cluster: dict[str, list[NodeState]] = {}
    for ref in refs:
        h = transitions.as_decided_on(loaded[ref], now)
        if not (restore.pending(h) and h.last_action is Action.RETIRE and not h.claimed_at(now)):
            out.rows.append(NodeRow(*ref, h.instance_id, "ignore", "restore_not_pending"))
            continue
        held = replace(h, version=h.version + 1)
        if not deps.states.put_if_unchanged(held, h.version, now):  # raced: reconcile re-drives it
            out.rows.append(NodeRow(*ref, h.instance_id, "held", "version_conflict"))
            continue
        by_cluster.setdefault(ref[0], []).append(held)
    for cluster, members in by_cluster.items():
        done = restore_cluster(cluster, members, deps.nodes, deps.directory, deps.states, now)
        for held in members:
            _resumed(held, done.by_node[held.node_key], deps, now, out)
        out.calls += done.calls
        out.metrics.merge([done.metrics])
    return out


def _resumed(held: NodeState, result: Restored, deps: Deps, now: datetime, out: Effects) -> None:
    """A resumed restore's outcome written (the node held by us since `held`), its notice, its row."""
    state = replace(applied(held, result, now), version=held.version + 1)
    signal = restore_notices.signal_of(held)
    if failed(state, result):
        state, told = _to_human(state, result, now, signal)
        out.humans.append(told)
        out.notices.append(state)
    elif (info := restore_notices.retired(state, signal)) is not None:
        out.humans.append(info)
    deps.states.put_if_unchanged(state, held.version, now)
    out.rows.append(
        NodeRow(
            held.cluster,
            held.node_key,
            held.instance_id,
            "act",
            "restore_resumed",
            Action.RETIRE.value,
            held.step,
            result.status,
        )
    )


def _key(fault: NodeFault) -> str:
    return fault.node_logical_id or fault.instance_id or ""


def _to_human(
    state: NodeState, result: Restored, now: datetime, signal: str | None
) -> tuple[NodeState, HumanNeeded]:
    told = HumanNeeded(
        state.cluster,
        state.node_key,
        state.instance_id,
        f"restore_failed:{result.error_code} (retired; group {state.instance_group} not restored)",
        Action.RETIRE.value,
        signal,
        kind="restore_failed",
        details={"group": state.instance_group or "", "error_code": result.error_code or ""},
    )
    stopped = replace(state, status=NodeStatus.NEEDS_HUMAN)
    return transitions.with_notice(stopped, notice(told, now)), told
