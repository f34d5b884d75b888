"""Stages 5-6 pipelined: claim one planned call's nodes, send that call, claim the next.

The first call leaves after one claim round trip, not after every node's: `claim(defer=True)` decides
each node's claim without writing it; here the nodes of one planned call (at most 25, or 50 for a
retire) are claimed at once -- their conditional PutItems sent side by side by a small thread pool
(`CLAIM_THREADS`), each conditional on the version read as before -- then `act` re-checks the pause,
captures evidence before a destructive call (`remediate.evidence`, for the call's claimed nodes),
marks them `sending` and sends the call.

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
from dataclasses import replace
from typing import TypeVar

from autoheal.core.planner import BatchRequest, plan_requests
from autoheal.remediate.act import Acted, act
from autoheal.remediate.claim import Claimed, Claims, gather, resettle
from autoheal.remediate.model import BatchPlan, Deps, Effects, NodePlan

#: Claims of one call written side by side: one call's nodes at most (25) at once.
CLAIM_THREADS = 25

Pending = tuple[NodePlan, Claimed]
_T = TypeVar("_T")


def claim_and_act(batch: BatchPlan, settled: Claims, deps: Deps) -> tuple[Claims, Acted]:
    """Every pending claim of `settled` written and acted on, one planned call at a time."""
    out = Claims(dry_runs=settled.dry_runs)
    acted: list[Acted] = []
    others: list[Claimed] = []
    pending = {_call_id(c): (p, c) for p, c in settled.pending}
    with ThreadPoolExecutor(max_workers=CLAIM_THREADS, thread_name_prefix="claim") as pool:
        for request in plan_requests((c.node.target, c.action) for _, c in settled.pending):
            members = [pending[(request.cluster, request.action, i)] for i in request.ids]
            won = _claim_call(members, batch, deps, out, pool)
            out.claimed += won
            same = [c for c in won if _fits(c, request)]
            others += [c for c in won if not _fits(c, request)]
            acted.append(act(same, deps.nodes, deps.states, deps.pauses, batch.now, deps.evidence))
    if others:
        acted.append(act(others, deps.nodes, deps.states, deps.pauses, batch.now, deps.evidence))
    out.effects = Effects.combined([settled.effects, out.effects])
    return out, _merged(acted)


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
