"""Reconcile: verify every open remediation against the platform and close the loop.

For every node the ledger holds open (one `open-index` read; ListClusterNodes once per cluster):

- the action worked (Running again past the healthy delay) -> the node is closed as healed;
- it failed (node in Failure) or timed out -> a reconcile fault goes through the queue, and remediate's
  ladder climbs a step (reconcile itself never calls anything mutating: remediate is the only actor);
- the node is gone (not listed, or listed `NotFound`) -> closed, whatever is open about it (an action,
  a held fault, a pending retry, an expired claim); its cluster is gone only when the API answers
  `ResourceNotFound`;
- its cluster cannot be read (AccessDenied, throttling, a ValidationException, ...) -> left as it is
  this round, metered (`ClusterErrors`): one cluster's error never stops the round for the others;
- a claim whose invocation died: if it died while sending the call (`sending`), the call is treated as
  sent and recorded as taken, then verified from the node's status like any action (only a new fault
  acts again); if it died before (`claimed`: nothing was sent), the claim is released and the fault
  re-driven;
- a transient retry overdue (its delayed message lost) -> re-driven; the retry budget still applies;
- a held fault overdue (its delayed message lost) -> re-driven (remediate holds it again while its hold
  stands); one whose node is gone or was replaced meanwhile -> closed;
- a retire (the ladder's last rung) stays open until its restore is settled: see
  `autoheal.reconcile.restores` (resumed through the queue, tracked until the added nodes run);
- a needs-human notice still pending past the claim TTL (its publish failed, or its invocation died)
  -> published again, then cleared;
- canary waves: each episode's current wave is verified from its nodes' states (`reconcile.waves`).
- the `healed` and `stuck` step notifications, when switched on (`autoheal.reconcile.steps`).

`ListClusterEvents` (Continuous-mode clusters only) would add evidence of a reboot or replacement,
but no decision here needs it: a `sending` node is treated as sent whatever the events say, and its
verification is the node's status, which every cluster has. (Neither moto nor the local control
plane serves the API, so it could not be tested through the handlers either.)

Every state change is a conditional write on the node's version: if remediate touched the node since
we read it, reconcile leaves it for the next round.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from autoheal.adapters.directory import ClusterNotFound, ClusterUnreachable
from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.notify import HumanNeeded, NotifyError, pending_notice
from autoheal.core import transitions
from autoheal.core.adaptive import rate
from autoheal.core.reconcile import Observed, Verdict, verdict
from autoheal.core.state import NodeState, NodeStatus
from autoheal.faults import CLUSTER_ARN_RE, FaultSource, NodeFault
from autoheal.observability import Metric, MetricCounts, logger, signal_class
from autoheal.policy import Action, RemediationPolicy
from autoheal.ports import (
    Approvals,
    Clock,
    Directory,
    FaultSink,
    HumanNotifier,
    LadderStats,
    NodeStates,
    Notices,
    OpenNodes,
    Waves,
)
from autoheal.reconcile import restores
from autoheal.reconcile.approvals import watch_approvals
from autoheal.reconcile.steps import tell_round
from autoheal.reconcile.waves import verify_waves

#: The row verdict of a node whose cluster could not be read this round (nothing changes).
UNREACHABLE = "cluster_unreachable"


@dataclass
class ReconcileDeps:
    """The ports one round uses (`wiring.build_deps` passes the ledger for both `states` and
    `open_nodes`)."""

    states: NodeStates
    open_nodes: OpenNodes
    directory: Directory
    queue: FaultSink
    policy: RemediationPolicy
    clock: Clock
    notifier: HumanNotifier
    stats: LadderStats | None = None  # the adaptive ladder's counters (None: not counted)
    approvals: Approvals | None = None  # pending approvals: metered, deadlines enforced (None: not watched)
    waves: Waves | None = None  # canary wave records (None: no canary waves)
    notices: Notices | None = None  # the `stuck` step's told-once records (None: told every round)


@dataclass(frozen=True)
class ReconcileRow:
    cluster: str
    node_key: str
    status: str
    verdict: str
    applied: bool


@dataclass
class ReconcileReport:
    rows: list[ReconcileRow] = field(default_factory=list)
    metrics: MetricCounts = field(default_factory=MetricCounts)
    enqueued: int = 0
    notices_resent: int = 0

    def summary(self) -> dict[str, Any]:
        verdicts = Counter(r.verdict for r in self.rows if r.applied or r.verdict == Verdict.WAIT)
        out: dict[str, Any] = {
            "open_nodes": len(self.rows),
            "verdicts": dict(verdicts),
            "faults_enqueued": self.enqueued,
        }
        if self.notices_resent:
            out["notices_resent"] = self.notices_resent
        return out


@dataclass
class _Change:
    state: NodeState
    expected_version: int
    attempt: AttemptRecord | None = None
    fault: NodeFault | None = None
    outcome: Outcome | None = None
    told: HumanNeeded | None = None  # information for an operator, once applied (a restore's end)


@dataclass(frozen=True)
class Outcome:
    """An action's known outcome, for the adaptive ladder's counters (`adapters.ladder_stats`)."""

    signal: str
    action: Action
    day: date
    success: bool


def reconcile(deps: ReconcileDeps, cluster: str | None = None) -> ReconcileReport:
    report = ReconcileReport()
    now = deps.clock()
    faults: list[NodeFault] = []
    unchanged: list[NodeState] = []
    unreachable: dict[str, str] = {}
    told: list[HumanNeeded] = []
    healed: list[tuple[NodeState, NodeState]] = []  # for the `healed` step notification
    for history in deps.open_nodes.open_nodes(cluster):
        try:
            observed, exists = _observe(history, deps.directory)
        except ClusterUnreachable as error:  # left for a later round; the other clusters go on
            unreachable.setdefault(history.cluster, error.code)
            report.rows.append(
                ReconcileRow(history.cluster, history.node_key, history.status.value, UNREACHABLE, False)
            )
            continue
        if restores.owns(history, now):  # a retire: open until its restore is settled
            change, label = _restore_change(history, deps, now, report.metrics)
        else:
            v = verdict(history, observed if exists else None, now, deps.policy)
            label = v.value
            change = (
                _change(v, history, observed, now, deps.policy, report.metrics)
                if v is not Verdict.WAIT
                else None
            )
        applied = change is not None and deps.states.put_if_unchanged(
            change.state, change.expected_version, now
        )
        report.rows.append(
            ReconcileRow(history.cluster, history.node_key, history.status.value, label, applied)
        )
        if change is None:
            unchanged.append(history)
        if change is None or not applied:
            continue
        if label == Verdict.HEALED:
            healed.append((history, change.state))
        if change.attempt is not None:
            deps.states.commit([], [change.attempt], now)
        if change.fault is not None:
            faults.append(change.fault)
        if change.told is not None:
            told.append(change.told)
        if change.outcome is not None and deps.stats is not None:
            _count(change.outcome, deps.stats, now, deps.policy, report.metrics)
        logger.info(
            "reconciled", extra={"cluster": history.cluster, "node": history.node_key, "verdict": label}
        )
    for name, code in sorted(unreachable.items()):
        report.metrics.add(Metric.CLUSTER_ERRORS, ErrorCode=code)
        logger.warning(
            "cluster cannot be read; its open nodes wait", extra={"cluster": name, "error_code": code}
        )
    if faults:
        deps.queue.send(faults)  # a failure here is safe: the nodes are RETRY_PENDING and get re-driven
        report.enqueued = len(faults)
    report.notices_resent = _resend_notices(unchanged, deps, now)
    _tell(told, deps)
    if deps.approvals is not None and deps.policy.approvals.required_for and cluster is None:
        report.enqueued += watch_approvals(
            deps.approvals, deps.queue, now, deps.policy.redrive_after, report.metrics
        )
    report.metrics.merge([verify_waves(deps.waves, deps.states, deps.notifier, deps.policy, now, cluster)])
    tell_round(healed, unchanged, deps.notifier, deps.notices, now)
    return report


def _tell(told: list[HumanNeeded], deps: ReconcileDeps) -> None:
    """Information (a restore's added nodes running): published once, a failure logged, not retried
    (the ledger and `history` hold the same facts)."""
    if not told:
        return
    try:
        deps.notifier.needs_human(told)
    except NotifyError:
        logger.exception("restore notice not published", extra={"nodes": len(told)})


def _count(
    outcome: Outcome, stats: LadderStats, now: datetime, policy: RemediationPolicy, metrics: MetricCounts
) -> None:
    """Count an outcome the ledger just recorded (applied: counted once) and publish the signal's rate
    for that action (`LadderSuccessRate`). A healed action counts as a provisional success: remediate
    turns it into a failure if the fault recurs within the escalation window. A failed write is
    logged, never stops the round (the count is lost, the outcome kept)."""
    action = outcome.action.value
    try:
        counters = stats.record(outcome.signal, action, outcome.day, 1, 1 if outcome.success else 0)
    except LedgerError:
        logger.exception("ladder counters not updated", extra={"signal": outcome.signal})
        return
    now_rate = rate(counters, action, now, policy.adaptive.window)
    if now_rate.samples:
        metrics.gauge(Metric.LADDER_SUCCESS_RATE, 100 * now_rate.value, Signal=outcome.signal, Action=action)


def _resend_notices(nodes: list[NodeState], deps: ReconcileDeps, now: datetime) -> int:
    """Publish the needs-human notices still pending past the claim TTL (remediate publishes and clears
    its own well within it), one message per cluster, and clear them. Returns the nodes told."""
    due: dict[str, list[tuple[NodeState, HumanNeeded]]] = {}
    for h in nodes:
        if h.notify_pending is None:
            continue
        notice, at = pending_notice(h.notify_pending)
        if now - at >= deps.policy.claim_ttl:
            due.setdefault(h.cluster, []).append((h, notice))
    told = 0
    for cluster, pending in due.items():
        try:
            sent = deps.notifier.needs_human([n for _, n in pending])
        except NotifyError:
            logger.exception("needs-human notice still not published", extra={"cluster": cluster})
            continue
        if not sent:
            continue
        for h, _ in pending:
            deps.states.put_if_unchanged(transitions.notified(h), h.version, now)
        told += len(pending)
        logger.info("needs-human notice re-sent", extra={"cluster": cluster, "nodes": len(pending)})
    return told


def _restore_change(
    h: NodeState, deps: ReconcileDeps, now: datetime, metrics: MetricCounts
) -> tuple[_Change | None, str]:
    try:
        nodes = deps.directory.cluster(h.cluster)
    except ClusterNotFound:
        nodes = None
    state, fault, label = restores.judge(h, nodes, now, deps.policy, metrics)
    told = restores.running(h, label, now)
    return (_Change(state, h.version, fault=fault, told=told) if state is not None else None), label


def _observe(history: NodeState, directory: Directory) -> tuple[Observed | None, bool]:
    """What the platform shows of the node; (None, False) when it or its cluster is gone. Raises
    `ClusterUnreachable` when the cluster cannot be read (never taken as gone)."""
    try:
        nodes = directory.cluster(history.cluster)
    except ClusterNotFound:
        return None, False
    info = nodes.find(history.instance_id, history.node_logical_id)
    if info is None:
        return None, False
    return Observed(status=info.status or "", instance_id=info.instance_id), True


def _change(
    v: Verdict,
    h: NodeState,
    seen: Observed | None,
    now: datetime,
    policy: RemediationPolicy,
    metrics: MetricCounts,
) -> _Change:
    signal = _signal_class(h)
    if v is Verdict.HEALED:
        assert h.last_action is not None and h.last_action_at is not None
        metrics.observe(
            Metric.TIME_TO_HEALTHY, (now - h.last_action_at).total_seconds(), Action=h.last_action.value
        )
        metrics.add(Metric.ACTION_RESULTS, Action=h.last_action.value, Signal=signal, Result="healed")
        state = transitions.healed(h, seen.instance_id if seen else None, _signal(h))
        outcome = _outcome(h, h.last_action, h.last_action_at, success=True)
        attempt = _verification(h, h.last_action, now, "healed")
        return _Change(state, h.version, attempt=attempt, outcome=outcome)
    if v in (Verdict.FAILED, Verdict.TIMED_OUT):
        assert h.last_action is not None
        metrics.add(Metric.ACTION_RESULTS, Action=h.last_action.value, Signal=signal, Result=v.value)
        fault = _reconcile_fault(h, seen, v, now)
        outcome = _outcome(h, h.last_action, h.last_action_at or now, success=False)
        state = transitions.action_failed(h, now, fault.model_dump_json())
        attempt = _verification(h, h.last_action, now, v.value)
        return _Change(state, h.version, attempt=attempt, fault=fault, outcome=outcome)
    if v is Verdict.GONE:
        metrics.add(Metric.NODES_CLOSED, Reason="gone")
        if h.last_action is not None and h.status is NodeStatus.IN_PROGRESS:
            metrics.add(Metric.ACTION_RESULTS, Action=h.last_action.value, Signal=signal, Result="gone")
        return _Change(transitions.closed_gone(h), h.version)
    if v is Verdict.REPLACED:
        metrics.add(Metric.NODES_CLOSED, Reason="replaced_while_held")
        return _Change(transitions.hold_closed(h, h.version), h.version)
    if v is Verdict.RECORD_TAKEN:
        assert h.intent_action is not None
        metrics.add(Metric.CLAIMS_RECOVERED, Resolution="recorded_as_taken")
        state = transitions.recorded_as_taken(h)
        return _Change(state, h.version, attempt=_verification(h, h.intent_action, now, "recovered"))
    if v is Verdict.RELEASE_CLAIM:
        metrics.add(Metric.CLAIMS_RECOVERED, Resolution="released")
        fault = _pending(h) or _reconcile_fault(h, seen, v, now)
        return _Change(transitions.claim_released(h, now, fault.source_event_id), h.version, fault=fault)
    assert v is Verdict.REDRIVE
    metrics.add(Metric.RETRIES_REDRIVEN)
    fault = _pending(h) or _reconcile_fault(h, seen, v, now)
    return _Change(transitions.redriven(h, now), h.version, fault=fault)


def _outcome(h: NodeState, action: Action, at: datetime, success: bool) -> Outcome | None:
    """The outcome to count, keyed by the fault's signal and the action's day (none without a fault)."""
    fault = _pending(h)
    return Outcome(fault.signal, action, at.date(), success) if fault else None


def _pending(h: NodeState) -> NodeFault | None:
    return NodeFault.model_validate_json(h.pending_fault) if h.pending_fault else None


def _signal(h: NodeState) -> str:
    """The fault's signal as it came (for the ledger and logs)."""
    fault = _pending(h)
    return fault.signal if fault else "unknown"


def _signal_class(h: NodeState) -> str:
    """The fault's signal class (for a metric dimension: bounded)."""
    fault = _pending(h)
    return signal_class(fault.signal, fault.source) if fault else signal_class(None)


def _reconcile_fault(h: NodeState, seen: Observed | None, v: Verdict, now: datetime) -> NodeFault:
    """A fault that says 'the last action did not work', in the ladder's own vocabulary."""
    is_arn = bool(CLUSTER_ARN_RE.fullmatch(h.cluster))
    since = (h.last_action_at or h.intent_at or now).isoformat()
    return NodeFault(
        cluster_name=None if is_arn else h.cluster,
        cluster_arn=h.cluster if is_arn else None,
        instance_id=(seen.instance_id if seen else None) or h.instance_id,
        node_logical_id=h.node_logical_id,
        instance_group=h.instance_group,
        signal=RECONCILE_SIGNALS[v],
        reason=f"reconcile: last {h.last_action or h.intent_action} {v.value}",
        source=FaultSource.RECONCILE,
        # deterministic: the same verdict on the same action is one fault, however often it is seen
        source_event_id=f"reconcile:{v.value}:{h.node_key}:{since}"[:256],
        observed_at=now,
        received_at=now,
    )


#: Reconcile's verdicts as fault signals; the failures are in the policy's `failure_signals`.
RECONCILE_SIGNALS: dict[Verdict, str] = {
    Verdict.FAILED: "ActionFailed",
    Verdict.TIMED_OUT: "ActionTimedOut",
    Verdict.RELEASE_CLAIM: "ClaimReleased",
    Verdict.REDRIVE: "RetryRedriven",
}


def _verification(h: NodeState, action: Action, now: datetime, outcome: str) -> AttemptRecord:
    """An attempt-history entry for what reconcile found (shows in `autoheal history`)."""
    return AttemptRecord(
        cluster=h.cluster,
        node_key=h.node_key,
        attempt_id=f"verify-{uuid.uuid4().hex[:10]}",
        action=action,
        step=h.step,
        at=now,
        outcome=outcome,
        instance_id=h.instance_id,
        node_logical_id=h.node_logical_id,
        signal=_signal(h),
    )
