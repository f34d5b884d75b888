"""Remediate one SQS batch of NodeFaults: resolve, collapse, decide, claim, act, record, report.

Two phases. `plan` only reads (it is also the CLI's dry run):

1. parse the records (a malformed body is logged, counted and acknowledged: retrying cannot fix it);
2. resolve every fault to a current cluster node (one ListClusterNodes listing per cluster);
3. collapse the faults per node (duplicates and repeats become one decision);
4. load the nodes' histories and the pause switches in bulk, and decide with the ladder (pure).

`execute` writes and acts:

5. hold the faults of paused clusters (re-queued, never dropped);
6. claim each node to act on with a conditional write — a node claimed by someone else is skipped;
7. call SageMaker in the fewest requests (<= 25 ids each) and classify every entry;
8. record outcomes and attempts, re-queue transient failures with a backoff, notify humans.
"""

from __future__ import annotations

import gc
import random
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from autoheal.adapters.control import ALL_CLUSTERS, Breakers, Cooldown, Cooldowns, Pauses, covering
from autoheal.adapters.directory import ClusterInfo, ClusterNotFound, NodeDirectory, NodeInfo
from autoheal.adapters.ledger import AttemptRecord, NodeRef
from autoheal.adapters.node_states import NodeStates
from autoheal.adapters.notify import HumanNeeded, Notifier
from autoheal.adapters.open_nodes import OpenNodes
from autoheal.adapters.queue import QueueError
from autoheal.adapters.sagemaker import CallReceipt, HyperPodNodes
from autoheal.core import guards
from autoheal.core.guards import GuardKind, GuardVerdict, NodeContext
from autoheal.core.guards import Scope as BreakerScope
from autoheal.core.history import LastOutcome, NodeHistory, NodeStatus
from autoheal.core.ladder import Decision, DecisionKind, NodeFaults, Reason, decide
from autoheal.core.planner import BatchRequest, Target, plan_requests
from autoheal.core.results import EntryResult, Outcome, unknown_codes
from autoheal.faults import NodeFault
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.policy import Action, RemediationPolicy

Clock = Callable[[], datetime]

#: Metric counting accepted node actions, per action.
REQUEST_METRICS: Mapping[Action, Metric] = {
    Action.REBOOT: Metric.REBOOT_REQUESTS,
    Action.REPLACE: Metric.REPLACE_REQUESTS,
}

RETRY_MAX_SECONDS = 900  # SQS DelaySeconds maximum
#: Statuses that count a node as "under remediation" for the circuit breaker.
BREAKER_COUNTED = frozenset({NodeStatus.CLAIMED, NodeStatus.IN_PROGRESS, NodeStatus.RETRY_PENDING})
CAPACITY_SIGNAL = "InsufficientCapacity"


class RetryQueue(Protocol):
    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None: ...


@dataclass
class Deps:
    """The adapters one invocation uses (built by the handler from injected clients)."""

    directory: NodeDirectory
    states: NodeStates
    open_nodes: OpenNodes
    nodes: HyperPodNodes
    notifier: Notifier
    retry_queue: RetryQueue | None
    policy: RemediationPolicy
    clock: Clock
    pauses: Pauses | None = None
    breakers: Breakers | None = None
    cooldowns: Cooldowns | None = None
    rng: random.Random = field(default_factory=random.Random)


@dataclass(frozen=True)
class NodeRow:
    """What happened to one node in this batch (for logs, the demo summary and tests)."""

    cluster: str
    node_key: str
    instance_id: str | None
    decision: str
    reason: str
    action: str | None = None
    step: int = -1
    outcome: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class CallRow:
    operation: str
    cluster: str
    size: int
    failed: int
    call_error: str | None


@dataclass
class RemediationReport:
    batch_item_failures: list[str] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    calls: list[CallRow] = field(default_factory=list)
    metrics: MetricCounts = field(default_factory=MetricCounts)

    def as_lambda_response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.batch_item_failures]}


@dataclass
class _Node:
    """Everything this batch knows about one node."""

    ref: NodeRef
    target: Target
    status: str | None = None  # InstanceStatus from ListClusterNodes
    faults: list[NodeFault] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)


@dataclass
class _Claimed:
    node: _Node
    decision: Decision
    action: Action
    before: NodeHistory  # as read, before our claim
    claimed: NodeHistory  # as written by our claim


@dataclass(frozen=True)
class Hold:
    reason: str  # metric reason: paused | capacity_cooldown | breaker_open | node_cooldown | cluster_... | node_...
    detail: str  # e.g. "paused:*", "capacity_cooldown:gpu-a", "breaker:train/gpu-a"
    delay: int = 900  # seconds until the held fault comes back


@dataclass(frozen=True)
class NodePlan:
    """One node's decision, before anything is written."""

    node: _Node
    history: NodeHistory
    decision: Decision
    guard: GuardVerdict | None = None  # a safety guard's say (ignore, or hand to a human)
    hold: Hold | None = None  # why its action waits, if it does
    action: Action | None = None  # what the ladder's step would do

    @property
    def would_act(self) -> bool:
        return self.action is not None and self.guard is None and self.hold is None


@dataclass
class BatchPlan:
    """What one batch would do: decisions per node, and the faults that resolved to no node."""

    now: datetime
    nodes: list[NodePlan]
    report: RemediationReport
    policy: RemediationPolicy
    trips: dict[BreakerScope, tuple[int, int]] = field(default_factory=dict)  # newly tripped breakers

    def action_for(self, plan: NodePlan) -> Action | None:
        return plan.action

    def requests(self) -> list[BatchRequest]:
        """The mutating calls executing this plan would make (before claims and per-entry results)."""
        if self.policy.guards.dry_run:
            return []
        return plan_requests((p.node.target, p.action) for p in self.nodes if p.would_act and p.action)


def remediate(records: Sequence[Mapping[str, Any]], deps: Deps) -> RemediationReport:
    with _gc_paused():
        return execute(plan(records, deps), deps)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A storm batch allocates tens of thousands of short-lived objects with no reference cycles;
    CPython's cyclic collector would rescan them over and over (10,000 faults cost 13.8x 1,000 with
    it, 10.0x without: bench/README.md). Reference counting still frees everything; the collector is
    restored afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def plan(records: Sequence[Mapping[str, Any]], deps: Deps) -> BatchPlan:
    """Parse, resolve and decide. Reads the directory, the ledger and the switches; writes nothing."""
    report = RemediationReport()
    now = deps.clock()
    faults = _parse(records, report)
    nodes = _resolve(faults, deps.directory, report)
    if not nodes:
        return BatchPlan(now, [], report, deps.policy)
    histories = deps.states.load(nodes)
    infos = _cluster_infos(nodes, deps.directory)
    plans = [
        _node_plan(node, histories[ref], infos.get(ref[0]), now, deps.policy) for ref, node in nodes.items()
    ]
    plans = _hold_switched(plans, deps, now)
    plans, trips = _breaker(plans, infos, deps, now)
    return BatchPlan(now, plans, report, deps.policy, trips)


def _cluster_infos(nodes: Mapping[NodeRef, _Node], directory: NodeDirectory) -> dict[str, ClusterInfo]:
    infos: dict[str, ClusterInfo] = {}
    for cluster in {c for c, _ in nodes}:
        try:
            infos[cluster] = directory.info(cluster)
        except ClusterNotFound:
            continue  # deleted since its nodes were listed: the guards see no context
    return infos


def _context(node: _Node, info: ClusterInfo | None) -> NodeContext:
    group = info.groups.get(node.target.instance_group or "") if info else None
    return NodeContext(
        cluster_status=info.status if info else None,
        node_recovery=info.node_recovery if info else None,
        cluster_tags=info.tags if info else {},
        group=node.target.instance_group,
        group_status=group.status if group else None,
        node_type=group.node_type if group else None,
        node_status=node.status,
    )


def _node_plan(
    node: _Node, history: NodeHistory, info: ClusterInfo | None, now: datetime, policy: RemediationPolicy
) -> NodePlan:
    """The ladder's decision, checked by the guards before and after it."""
    faults = NodeFaults(tuple(node.faults))
    decision = decide(faults, history, now, policy)
    step = policy.step(decision.step) if decision.acts else None
    action = step.action if step else None
    if decision.kind is DecisionKind.IGNORE:
        return NodePlan(node, history, decision)
    ctx = _context(node, info)
    guard = guards.before(faults.new_since(history) or faults.faults, ctx, now, policy.guards)
    if guard is None and action is not None:
        guard = guards.after(decision, action, history, ctx, now, policy.guards)
    if guard is not None and guard.kind is GuardKind.HOLD:
        delay = RETRY_MAX_SECONDS
        if guard.reason == "node_cooldown" and history.last_action_at is not None:
            remaining = policy.guards.node_cooldown - (now - history.last_action_at)
            delay = max(1, min(RETRY_MAX_SECONDS, int(remaining.total_seconds()) + 1))
        return NodePlan(node, history, decision, hold=Hold(guard.reason, guard.reason, delay), action=action)
    return NodePlan(node, history, decision, guard=guard, action=action)


def _hold_switched(plans: list[NodePlan], deps: Deps, now: datetime) -> list[NodePlan]:
    """Paused clusters hold every fault that would act or notify; a capacity cool-down holds replaces."""
    if deps.pauses is None or deps.cooldowns is None:
        return plans
    pauses = deps.pauses.paused({p.node.ref[0] for p in plans})
    replacing = {
        (p.node.ref[0], p.node.target.instance_group or "")
        for p in plans
        if p.would_act and p.action is Action.REPLACE
    }
    cooldowns = deps.cooldowns.cooldowns(replacing, now) if replacing else {}
    out = []
    for p in plans:
        pause = covering(pauses, p.node.ref[0])
        acts_or_tells = p.decision.kind is not DecisionKind.IGNORE and (
            p.guard is None or p.guard.kind is not GuardKind.IGNORE
        )
        cooldown = cooldowns.get((p.node.ref[0], p.node.target.instance_group or ""))
        if pause is not None and acts_or_tells and p.hold is None:
            p = replace(p, hold=Hold("paused", f"paused:{pause.scope}"))
        elif cooldown is not None and p.would_act and p.action is Action.REPLACE:
            p = replace(p, hold=Hold("capacity_cooldown", f"capacity_cooldown:{cooldown.group}"))
        out.append(p)
    return out


def _breaker(
    plans: list[NodePlan], infos: Mapping[str, ClusterInfo], deps: Deps, now: datetime
) -> tuple[list[NodePlan], dict[BreakerScope, tuple[int, int]]]:
    """Count nodes under remediation per instance group and cluster; hold the scopes over the limit."""
    wanting = [p for p in plans if p.would_act]
    if not wanting or deps.breakers is None:
        return plans, {}
    window = deps.policy.guards.breaker.window
    in_batch = {p.node.ref for p in wanting}
    active: list[tuple[str, str | None]] = []
    for cluster in {p.node.ref[0] for p in wanting}:
        for h in deps.open_nodes.open_nodes(cluster):
            recent = h.last_action_at is not None and now - h.last_action_at < window
            if recent and (h.cluster, h.node_key) not in in_batch and h.status in BREAKER_COUNTED:
                active.append((h.cluster, h.instance_group))
    sizes: dict[BreakerScope, int] = {}
    for cluster, info in infos.items():
        for group_info in info.groups.values():
            sizes[BreakerScope(cluster, group_info.name)] = group_info.size
        sizes[BreakerScope(cluster, None)] = sum(g.size for g in info.groups.values())
    state = deps.breakers.breakers(now)
    over = guards.breaker_trips(
        [(p.node.ref[0], p.node.target.instance_group) for p in wanting], active, sizes, deps.policy.guards
    )
    over = {
        s: v
        for s, v in over.items()
        if s.cluster not in state.overrides and ALL_CLUSTERS not in state.overrides
    }
    open_labels = set(state.tripped) | {s.label for s in over}
    out = []
    for p in plans:
        cluster, group = p.node.ref[0], p.node.target.instance_group
        labels = [BreakerScope(cluster, group).label, BreakerScope(cluster, None).label]
        hit = next((label for label in labels if label in open_labels), None)
        if p.would_act and hit is not None and cluster not in state.overrides:
            p = replace(p, hold=Hold("breaker_open", f"breaker:{hit}"))
        out.append(p)
    new_trips = {s: v for s, v in over.items() if s.label not in state.tripped}
    return out, new_trips


def execute(batch: BatchPlan, deps: Deps) -> RemediationReport:
    """Hold, claim, act, record, notify (in dry-run: record, call nothing)."""
    report, now = batch.report, batch.now
    claimed: list[_Claimed] = []
    humans: list[HumanNeeded] = []
    held: list[tuple[_Node, int]] = []
    dry: list[AttemptRecord] = []
    humans.extend(_trip_breakers(batch, deps))
    for p in batch.nodes:
        if p.hold is not None:
            held.append((p.node, p.hold.delay))
            report.metrics.add(Metric.FAULTS_HELD, len(p.node.faults), Reason=p.hold.reason)
            report.nodes.append(_row(p.node, "held", p.hold.detail))
            continue
        _apply_decision(p, now, deps, report, claimed, humans, dry)
    humans.extend(_capacity_cooldowns(batch, deps))
    states, attempts, retries = _act(claimed, now, deps, report, humans)
    deps.states.commit(states, attempts + dry, now)
    _requeue(retries + held, deps, report)
    sent = deps.notifier.needs_human(humans)
    if humans and not sent:
        logger.warning("nodes need a human but no topic is configured", extra={"nodes": len(humans)})
    return report


def _trip_breakers(batch: BatchPlan, deps: Deps) -> list[HumanNeeded]:
    """Record newly tripped breakers (they hold their scope for the window) and tell a human."""
    if deps.breakers is None or not batch.trips:
        return []
    told = []
    until = batch.now + deps.policy.guards.breaker.window
    for scope, (count, allowed) in batch.trips.items():
        deps.breakers.trip(scope.label, until, count, allowed)
        batch.report.metrics.add(Metric.BREAKER_TRIPS, Scope="group" if scope.group else "cluster")
        logger.warning(
            "circuit breaker tripped", extra={"scope": scope.label, "nodes": count, "allowed": allowed}
        )
        told.append(
            HumanNeeded(
                cluster=scope.cluster,
                node_key=scope.label,
                instance_id=None,
                reason=(
                    f"circuit breaker open: {count} nodes under remediation in {scope.label}, "
                    f"{allowed} allowed; faults held until {until.isoformat()} or `autoheal resume`"
                ),
                last_action=None,
                signal=None,
            )
        )
    return told


def _capacity_cooldowns(batch: BatchPlan, deps: Deps) -> list[HumanNeeded]:
    """A replacement that found no capacity stops replaces in its group for a while, and says why."""
    if deps.cooldowns is None:
        return []
    started: dict[tuple[str, str], HumanNeeded] = {}
    for p in batch.nodes:
        short = [f for f in p.node.faults if f.signal == CAPACITY_SIGNAL]
        group = p.node.target.instance_group or (short[0].instance_group if short else None)
        if not short or not group or (p.node.target.cluster, group) in started:
            continue
        until = batch.now + deps.policy.capacity_cooldown
        deps.cooldowns.start_cooldown(
            Cooldown(
                p.node.target.cluster,
                group,
                until,
                short[0].reason or CAPACITY_SIGNAL,
                p.node.target.node_key,
            )
        )
        batch.report.metrics.add(Metric.CAPACITY_COOLDOWNS)
        logger.warning("capacity cool-down started", extra={"cluster": p.node.target.cluster, "group": group})
        started[(p.node.target.cluster, group)] = HumanNeeded(
            cluster=p.node.target.cluster,
            node_key=p.node.target.node_key,
            instance_id=p.node.target.instance_id,
            reason=f"insufficient capacity: no replace in group {group} until {until.isoformat()}",
            last_action=None,
            signal=CAPACITY_SIGNAL,
        )
    return list(started.values())


def _row(node: _Node, decision: str, reason: str) -> NodeRow:
    t = node.target
    return NodeRow(t.cluster, t.node_key, t.instance_id, decision, reason)


# --- 1. parse ---------------------------------------------------------------------------------------------


def _parse(records: Sequence[Mapping[str, Any]], report: RemediationReport) -> list[tuple[str, NodeFault]]:
    out: list[tuple[str, NodeFault]] = []
    for record in records:
        message_id = str(record.get("messageId", ""))
        try:
            out.append((message_id, NodeFault.model_validate_json(str(record.get("body", "")))))
        except ValidationError as exc:
            report.metrics.add(Metric.EVENTS_REJECTED, Reason="malformed_message")
            logger.warning(
                "dropping a queue message that is not a NodeFault",
                extra={
                    "message_id": message_id,
                    "errors": exc.error_count(),
                    "first_error": _first_error(exc),
                },
            )
    return out


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)[:200]
    first = errors[0]
    return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"[:200]


# --- 2./3. resolve and collapse ----------------------------------------------------------------------------


def _resolve(
    faults: Sequence[tuple[str, NodeFault]], directory: NodeDirectory, report: RemediationReport
) -> dict[NodeRef, _Node]:
    nodes: dict[NodeRef, _Node] = {}
    for message_id, fault in faults:
        report.metrics.add(Metric.FAULTS_DEQUEUED)
        info, why = _locate(fault, directory)
        if info is None:
            report.metrics.add(Metric.FAULTS_IGNORED, Reason=why)
            report.nodes.append(
                NodeRow(fault.cluster_ref or "?", fault.node_ref, fault.instance_id, "ignore", why)
            )
            logger.info("fault ignored", extra={"reason": why, "event_id": fault.source_event_id})
            continue
        ref = (info.cluster_name, info.node_key)
        node = nodes.get(ref)
        if node is None:
            target = Target(
                cluster=info.cluster_name,
                node_key=info.node_key,
                instance_id=info.instance_id,
                node_logical_id=info.node_logical_id,
                instance_group=info.instance_group,
            )
            node = nodes[ref] = _Node(ref=ref, target=target, status=info.status)
        if any(f.source_event_id == fault.source_event_id for f in node.faults):
            report.metrics.add(Metric.DUPLICATE_FAULTS)
        node.faults.append(fault)
        node.message_ids.append(message_id)
    return nodes


def _locate(fault: NodeFault, directory: NodeDirectory) -> tuple[NodeInfo | None, str]:
    if fault.cluster_ref is None:
        found = directory.locate(fault.instance_id, fault.node_logical_id)
        return found, "node_not_in_any_cluster"
    try:
        nodes = directory.cluster(fault.cluster_ref)
    except ClusterNotFound:
        return None, "cluster_not_found"
    found = nodes.find(fault.instance_id, fault.node_logical_id)
    if found is None:
        return None, "node_not_in_cluster"
    if fault.instance_id and found.instance_id and found.instance_id != fault.instance_id:
        return None, "instance_already_replaced"
    return found, ""


# --- 4./5. decide and claim --------------------------------------------------------------------------------


def _apply_decision(
    p: NodePlan,
    now: datetime,
    deps: Deps,
    report: RemediationReport,
    claimed: list[_Claimed],
    humans: list[HumanNeeded],
    dry: list[AttemptRecord],
) -> None:
    node, history, decision = p.node, p.history, p.decision
    target = node.target
    kind, reason = decision.kind, decision.reason.value
    if p.guard is not None:  # a guard overrules the ladder: ignore, or a human
        kind = DecisionKind.IGNORE if p.guard.kind is GuardKind.IGNORE else DecisionKind.NEEDS_HUMAN
        reason = p.guard.reason
    row = NodeRow(target.cluster, target.node_key, target.instance_id, kind.value, reason)
    current = replace(
        history,
        instance_id=target.instance_id or history.instance_id,
        node_logical_id=target.node_logical_id or history.node_logical_id,
        instance_group=target.instance_group or history.instance_group,
    )
    latest = NodeFaults(tuple(node.faults)).latest
    seen = current.remember(tuple(f.source_event_id for f in node.faults))
    if kind is DecisionKind.IGNORE:
        report.metrics.add(Metric.FAULTS_IGNORED, len(node.faults), Reason=reason)
        report.nodes.append(row)
        return
    if deps.policy.guards.dry_run:
        _dry_run(p, kind, reason, seen, now, deps, report, dry)
        return
    if kind is DecisionKind.NEEDS_HUMAN:
        stopped = replace(
            seen, status=NodeStatus.NEEDS_HUMAN, version=history.version + 1, claim_expires_at=None
        )
        if deps.states.put_if_unchanged(stopped, history.version, now):
            report.metrics.add(Metric.NEEDS_HUMAN)
            humans.append(_human(stopped, reason, latest.signal))
            report.nodes.append(row)
        else:
            _conflict(row, report)
        return
    assert p.action is not None  # an ACT decision inside the ladder
    claim = replace(
        seen,
        status=NodeStatus.CLAIMED,
        version=history.version + 1,
        claim_expires_at=now + deps.policy.claim_ttl,
        # the intent, so that reconcile can tell what happened if we die before the outcome is written
        intent_action=p.action,
        intent_step=decision.step,
        intent_at=now,
        intent_instance_id=target.instance_id,
        pending_fault=latest.model_dump_json(),
    )
    if not deps.states.put_if_unchanged(claim, history.version, now):
        _conflict(row, report)
        return
    claimed.append(_Claimed(node, decision, p.action, before=current, claimed=claim))


def _dry_run(
    p: NodePlan,
    kind: DecisionKind,
    reason: str,
    seen: NodeHistory,
    now: datetime,
    deps: Deps,
    report: RemediationReport,
    dry: list[AttemptRecord],
) -> None:
    """Record what would have been done; the node's ladder state does not move (nothing was done)."""
    what = p.action.value if kind is DecisionKind.ACT and p.action else "needs_human"
    state = replace(seen, version=p.history.version + 1, last_outcome=LastOutcome.DRY_RUN)
    row = NodeRow(
        p.node.target.cluster, p.node.target.node_key, p.node.target.instance_id, kind.value, reason
    )
    if not deps.states.put_if_unchanged(state, p.history.version, now):
        _conflict(row, report)
        return
    report.metrics.add(Metric.DRY_RUN_ACTIONS, Action=what)
    report.nodes.append(replace(row, action=what, step=p.decision.step, outcome="dry_run"))
    dry.append(
        AttemptRecord(
            cluster=p.node.target.cluster,
            node_key=p.node.target.node_key,
            attempt_id=f"dry-{uuid.uuid4().hex[:12]}",
            action=p.action or Action.REBOOT,
            step=p.decision.step,
            at=now,
            outcome=f"dry_run:{what}:{reason}",
            instance_id=p.node.target.instance_id,
            node_logical_id=p.node.target.node_logical_id,
            signal=NodeFaults(tuple(p.node.faults)).latest.signal,
            source_event_ids=tuple(f.source_event_id for f in p.node.faults),
        )
    )


def _conflict(row: NodeRow, report: RemediationReport) -> None:
    report.metrics.add(Metric.CLAIM_CONFLICTS)
    report.nodes.append(replace(row, decision="ignore", reason="claimed_by_another_invocation"))


def _human(h: NodeHistory, reason: str, signal: str | None) -> HumanNeeded:
    return HumanNeeded(
        cluster=h.cluster,
        node_key=h.node_key,
        instance_id=h.instance_id,
        reason=reason,
        last_action=h.last_action.value if h.last_action else None,
        signal=signal,
    )


# --- 6./7. act and record ----------------------------------------------------------------------------------


def _act(
    claimed: Sequence[_Claimed],
    now: datetime,
    deps: Deps,
    report: RemediationReport,
    humans: list[HumanNeeded],
) -> tuple[list[NodeHistory], list[AttemptRecord], list[tuple[_Node, int]]]:
    by_call_id: dict[tuple[str, Action, str], _Claimed] = {
        (c.node.target.cluster, c.action, c.node.target.api_id): c for c in claimed
    }
    states: list[NodeHistory] = []
    attempts: list[AttemptRecord] = []
    retries: list[tuple[_Node, int]] = []
    for request in plan_requests((c.node.target, c.action) for c in claimed):
        receipt = deps.nodes.execute(request)
        _count_call(receipt, request.action, report)
        for result in receipt.results:
            c = by_call_id[(request.cluster, request.action, result.node_id)]
            delay = _backoff(c, deps)
            state, row = _outcome(c, result, now, deps.policy, delay)
            states.append(state)
            attempts.append(_attempt(c, result, receipt, now))
            report.nodes.append(row)
            _count_entry(c, result, state, now, report)
            if state.status is NodeStatus.RETRY_PENDING:
                retries.append((c.node, delay))
            elif state.status is NodeStatus.NEEDS_HUMAN:
                humans.append(_human(state, row.reason, NodeFaults(tuple(c.node.faults)).latest.signal))
    return states, attempts, retries


def _count_call(receipt: CallReceipt, action: Action, report: RemediationReport) -> None:
    report.metrics.add(Metric.BATCH_CALLS, Action=action.value)
    failed = [r for r in receipt.results if r.failed]
    report.calls.append(
        CallRow(receipt.operation, receipt.cluster, receipt.size, len(failed), receipt.call_error)
    )
    for code in unknown_codes(receipt.results):
        logger.warning("unknown SageMaker error code, treated as transient", extra={"error_code": code})


def _count_entry(
    c: _Claimed, result: EntryResult, state: NodeHistory, now: datetime, report: RemediationReport
) -> None:
    if result.outcome is Outcome.SUCCEEDED:
        report.metrics.add(REQUEST_METRICS[c.action])
        first_seen = min(f.observed_at for f in c.node.faults)
        report.metrics.observe(
            Metric.TIME_TO_ACTION, (now - first_seen).total_seconds(), Action=c.action.value
        )
        if c.decision.escalated:
            report.metrics.add(Metric.ESCALATIONS)
        return
    report.metrics.add(Metric.FAILED_ENTRIES, Action=c.action.value, ErrorCode=result.error_code or "Unknown")
    if state.status is NodeStatus.RETRY_PENDING:
        report.metrics.add(Metric.RETRIES_SCHEDULED)
    elif state.status is NodeStatus.NEEDS_HUMAN:
        report.metrics.add(Metric.NEEDS_HUMAN)
    elif state.status is NodeStatus.CLOSED:
        report.metrics.add(Metric.NODES_CLOSED, Reason=result.outcome.value)


def _outcome(
    c: _Claimed, result: EntryResult, now: datetime, policy: RemediationPolicy, retry_delay: int
) -> tuple[NodeHistory, NodeRow]:
    """The node's state after the call, and its report row."""
    base = replace(
        c.claimed,
        version=c.claimed.version + 1,
        claim_expires_at=None,
        last_attempt_at=now,
        intent_action=None,
        intent_step=-1,
        intent_at=None,
        intent_instance_id=None,
        retry_at=None,
    )
    if result.outcome is Outcome.SUCCEEDED:
        times = (*c.claimed.action_times.get(c.action, ()), now)
        state = replace(
            base,
            status=NodeStatus.IN_PROGRESS,
            step=c.decision.step,
            last_action=c.action,
            last_action_at=now,
            last_outcome=LastOutcome.ACCEPTED,
            last_error_code=None,
            transient_retries=0,
            action_times={**c.claimed.action_times, c.action: times},
        )
        reason = c.decision.reason.value
    elif result.outcome is Outcome.TRANSIENT:
        retries = c.before.transient_retries + 1 if c.decision.retry else 1
        # Forget this batch's event ids so the re-queued fault is not taken for a duplicate.
        state = replace(
            base,
            seen_event_ids=c.before.seen_event_ids,
            step=c.decision.step,  # the step to retry
            last_outcome=LastOutcome.FAILED_TRANSIENT,
            last_error_code=result.error_code,
            transient_retries=retries,
            status=NodeStatus.RETRY_PENDING
            if retries <= policy.max_transient_retries
            else NodeStatus.NEEDS_HUMAN,
            retry_at=now + timedelta(seconds=retry_delay),
        )
        reason = (
            "retry_scheduled" if state.status is NodeStatus.RETRY_PENDING else Reason.RETRIES_EXHAUSTED.value
        )
    elif result.outcome in (Outcome.GONE, Outcome.CLUSTER_GONE):
        state = replace(
            base,
            status=NodeStatus.CLOSED,
            last_outcome=LastOutcome.GONE,
            last_error_code=result.error_code,
            pending_fault=None,
        )
        reason = result.outcome.value
    else:
        state = replace(
            base,
            status=NodeStatus.NEEDS_HUMAN,
            last_outcome=LastOutcome.PERMANENT,
            last_error_code=result.error_code,
        )
        reason = "permanent_failure"
    row = NodeRow(
        cluster=c.node.target.cluster,
        node_key=c.node.target.node_key,
        instance_id=c.node.target.instance_id,
        decision=c.decision.kind.value,
        reason=reason,
        action=c.action.value,
        step=c.decision.step,
        outcome=result.outcome.value,
        error_code=result.error_code,
    )
    return state, row


def _attempt(c: _Claimed, result: EntryResult, receipt: CallReceipt, now: datetime) -> AttemptRecord:
    latest = NodeFaults(tuple(c.node.faults)).latest
    return AttemptRecord(
        cluster=c.node.target.cluster,
        node_key=c.node.target.node_key,
        attempt_id=uuid.uuid4().hex[:16],
        action=c.action,
        step=c.decision.step,
        at=now,
        outcome=result.outcome.value,
        error_code=result.error_code,
        message=result.message,
        request_id=receipt.request_id,
        instance_id=c.node.target.instance_id,
        node_logical_id=c.node.target.node_logical_id,
        signal=latest.signal,
        source_event_ids=tuple(f.source_event_id for f in c.node.faults),
    )


def _backoff(c: _Claimed, deps: Deps) -> int:
    """Jittered exponential backoff for the n-th transient retry of a step."""
    attempt = c.before.transient_retries + 1 if c.decision.retry else 1
    base = deps.policy.retry_backoff.total_seconds() * 2 ** (attempt - 1)
    return int(min(RETRY_MAX_SECONDS, base * deps.rng.uniform(0.8, 1.2)))


def _requeue(later: Sequence[tuple[_Node, int]], deps: Deps, report: RemediationReport) -> None:
    """Faults to try again later (transient failures, paused clusters): re-queued alone with a delay,
    or, without a retry queue (or if re-queueing fails), returned to SQS as batch item failures."""
    for node, delay in later:
        if deps.retry_queue is None:
            report.batch_item_failures.extend(node.message_ids)
            continue
        try:
            deps.retry_queue.requeue([NodeFaults(tuple(node.faults)).latest], delay)
        except QueueError:  # the message is not lost: SQS redelivers it
            logger.exception("re-queueing failed; returning the messages as batch item failures")
            report.batch_item_failures.extend(node.message_ids)
