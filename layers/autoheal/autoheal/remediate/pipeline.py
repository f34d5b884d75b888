"""Stages 5-6 pipelined: claim one planned call's nodes, send that call; the planned calls side by side.

The first call leaves after one claim round trip, not after every node's: `claim(defer=True)` decides
each node's claim without writing it; here the nodes of one planned call (at most 25, or 50 for a
retire) are claimed at once -- their conditional PutItems sent side by side by a small thread pool
(`CLAIM_THREADS`, one pool shared by every call), each conditional on the version read as before --
then `act` re-checks the pause, captures evidence before a destructive call (`remediate.evidence`,
for the call's claimed nodes), marks them `sending` and sends the call.

Each planned call's step (claim, act) is one task of `lanes.run_lanes`: a few calls in flight at
once (`lanes.CALL_THREADS`, at most `lanes.CALLS_PER_CLUSTER` of one cluster, a cluster's calls
started in plan order), narrowed to one and backed off while SageMaker throttles; calls the gate's
wait budget leaves unstarted have their faults re-queued (`CallsDeferred{Reason=throttled}`). The
tasks' claims, receipts, rows and metrics are merged in plan order, whatever order they finished in,
so reports and the ledger's commit do not depend on thread timing.

A claim whose condition failed follows the claim rule (`claim.resettle`): the node is read and
decided again -- a live claim by another actor means someone else has it; a changed record means
decide again, and claim again if it still acts (a few rounds, then re-queued, never dropped). A node
decided again into another call is sent after the planned calls, in its own.

Why not one TransactWriteItems per call: it costs 2 write units per item against 1 for a PutItem,
and on the local server (moto) it copies the whole table per item and restores that copy on a
cancel, which loses concurrent invocations' claims. bench/README.md measures the three ways side by
side (sequential, transaction, thread pool) on moto and on DynamoDB Local.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import TypeVar

from autoheal.core.planner import BatchRequest, plan_requests
from autoheal.observability import Metric, logger
from autoheal.remediate.act import Acted, act
from autoheal.remediate.claim import Claimed, Claims, gather, resettle
from autoheal.remediate.lanes import THROTTLED, Gate, run_lanes
from autoheal.remediate.model import BatchPlan, Deps, Effects, Later, NodePlan

#: Claims of one call written side by side: one call's nodes at most (25) at once.
CLAIM_THREADS = 25

#: The hold reason (rows, `FaultsHeld`) and the `CallsDeferred` reason of a call the gate did not start.
THROTTLED_REASON = "throttled"

Pending = tuple[NodePlan, Claimed]
_T = TypeVar("_T")


def claim_and_act(
    batch: BatchPlan, settled: Claims, deps: Deps, gate: Gate | None = None
) -> tuple[Claims, Acted]:
    """Every pending claim of `settled` written and acted on: each planned call's step (claim its
    nodes, act) a task of `lanes.run_lanes`; the outcomes merged in plan order, whatever order the
    tasks finished in."""
    pending = {_call_id(c): (p, c) for p, c in settled.pending}
    requests = plan_requests((c.node.target, c.action) for _, c in settled.pending)
    members = [[pending[(r.cluster, r.action, i)] for i in r.ids] for r in requests]
    gate = gate or Gate()
    with ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="claim") as pool:
        tasks = [
            (r.cluster, partial(_step, r, m, batch, deps, pool))
            for r, m in zip(requests, members, strict=True)
        ]
        done = run_lanes(tasks, gate, _throttled)
    out = Claims(dry_runs=list(settled.dry_runs))
    parts = [settled.effects]
    acted: list[Acted] = []
    others: list[Claimed] = []
    for step in done.results:
        if step is not None:
            out.claimed += step.won
            out.dry_runs += step.claims.dry_runs
            parts.append(step.claims.effects)
            others += step.others
            acted.append(step.acted)
    if done.deferred:
        parts.append(_deferred([members[i] for i in done.deferred], batch, deps))
    if others:
        acted.append(act(others, deps.nodes, deps.states, deps.pauses, batch.now, deps.evidence))
    out.effects = Effects.combined(parts)
    return out, _merged(acted)


@dataclass
class _Step:
    """What one planned call's task produced."""

    won: list[Claimed]  # claims written (all of them, in the call or decided into another)
    others: list[Claimed]  # claims decided again into another call: sent after the planned calls
    claims: Claims  # what the claims' conflicts settled to (rows, holds, ...; no claimed nodes)
    acted: Acted


def _step(
    request: BatchRequest, members: Sequence[Pending], batch: BatchPlan, deps: Deps, pool: ThreadPoolExecutor
) -> _Step:
    """One planned call: its nodes claimed side by side, then the call sent (`act`)."""
    out = Claims()
    won = _claim_call(members, batch, deps, out, pool)
    same = [c for c in won if _fits(c, request)]
    acted = act(same, deps.nodes, deps.states, deps.pauses, batch.now, deps.evidence)
    return _Step(won, [c for c in won if not _fits(c, request)], out, acted)


def _throttled(step: _Step) -> bool:
    return any(receipt.call_error in THROTTLED for _, receipt in step.acted.receipts)


def _deferred(calls: Sequence[Sequence[Pending]], batch: BatchPlan, deps: Deps) -> Effects:
    """Calls not started (the throttling gate's wait ran out): nothing was written for their nodes,
    whose faults go back to the queue with the first transient retry's delay, never dropped."""
    effects = Effects()
    base = batch.policy.retry_backoff.total_seconds()
    for call in calls:
        effects.metrics.add(Metric.CALLS_DEFERRED, Reason=THROTTLED_REASON)
        for _, c in call:
            node = replace(c.node, faults=[f.admitted(batch.now) for f in c.node.faults])
            effects.later.append(Later(node, int(base * deps.rng.uniform(0.8, 1.2))))
            effects.metrics.add(Metric.FAULTS_HELD, len(c.node.faults), Reason=THROTTLED_REASON)
            effects.rows.append(c.node.row("held", THROTTLED_REASON))
    logger.warning(
        "calls not sent: SageMaker kept throttling past the wait budget; their faults re-queued",
        extra={"calls": len(calls), "nodes": sum(len(c) for c in calls)},
    )
    return effects


def _claim_call(
    members: Sequence[Pending], batch: BatchPlan, deps: Deps, out: Claims, pool: ThreadPoolExecutor
) -> list[Claimed]:
    """One call's nodes claimed side by side; returns the claims won. A node whose condition failed is
    read and decided again (`resettle`); what it settles to (ignored, a human's, held, re-queued, or
    claimed after all) goes into `out`."""
    now = batch.now
    writes = [
        (lambda p=p, c=c: deps.states.put_if_unchanged(c.claimed, p.history.version, now)) for p, c in members
    ]
    won: list[Claimed] = []
    for (p, c), ok in zip(members, _side_by_side(pool, writes), strict=True):
        if ok:
            won.append(c)
            continue
        s = resettle(p, batch, deps.states)
        if s.claimed is not None:
            won.append(s.claimed)
        gather(out, replace(s, claimed=None))
    return won


def _side_by_side(pool: ThreadPoolExecutor, calls: Sequence[Callable[[], _T]]) -> list[_T]:
    """Each call's result, in order; one call runs inline (no thread for a single fault)."""
    if len(calls) <= 1:
        return [call() for call in calls]
    return [f.result() for f in [pool.submit(call) for call in calls]]


def _call_id(c: Claimed) -> tuple[str, object, str]:
    t = c.node.target
    return (t.cluster, c.action, t.api_id)


def _fits(c: Claimed, request: BatchRequest) -> bool:
    t = c.node.target
    return t.cluster == request.cluster and c.action is request.action and t.id_kind is request.id_kind


def _merged(parts: Sequence[Acted]) -> Acted:
    out = Acted()
    for a in parts:
        out.receipts += a.receipts
        out.sent += a.sent
    out.effects = Effects.combined(a.effects for a in parts)
    return out
