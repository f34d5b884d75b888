"""Remediate one SQS batch of NodeFaults: a pipeline of stages, each a module of this package.

`plan` only reads (it is also the CLI's dry run):

1. `parse`    records -> (message id, NodeFault); a malformed body is counted and acknowledged;
             reconcile's `RestorePending` faults are set aside for `restore.resume` (6b)
2. `resolve`  faults -> one `Node` per current cluster node, keyed by the cluster's name (ListClusterNodes
             and DescribeCluster once per cluster); a cluster that cannot be read holds its own faults
3. `decide`   nodes + states + cluster descriptions (+ the adaptive ladder's counters of the batch's
             signals, one BatchGetItem when it is on: `adaptive`) -> `NodePlan`s: the ladder and guards (pure); a
             call whose invocation died while sending it counts as taken (`transitions.as_decided_on`)
4. `hold`     pause and capacity cool-down switches; `breaker`: nodes under remediation per scope
             (`switches`: all three answered from one Query of the control partition);
             a fault held past the ceiling goes to a human
             (a new hold -- an approval, a canary wave -- is one more stage here)

`execute` writes and acts:

5. `breaker.trip`, `claim`  new trips recorded; held faults wait, recorded as held; each node to act
             on gets its claim decided (node states move only through `core.transitions`)
5-6. `pipeline` one planned call at a time: its nodes claimed in one transaction of conditional
             writes (a version conflict is read and decided again), then the call sent, then the next
6. `act`      claimed nodes -> SageMaker calls (<= 25 ids each) -> receipts; before each call the
             pause is read again (paused: claims released, faults held) and the call's nodes are
             marked `sending` (a crash after that is "sent, outcome unknown", never sent twice)
             (a rung calling two APIs, or evidence before a destructive call, plugs in here)
6b. `restore` the retire rung's second call: each lemon the delete accepted gets its group restored
             (BatchAddClusterNodes under the token its claim wrote to the ledger; see the module)
7. `record`   receipts -> node states, attempts, rows, metrics; committed in one batch write, with
             each needs-human notice pending in its node's state item; then a recurrence after a heal
             turns that heal's success into a failure in the adaptive ladder's counters (`adaptive`)
8. `unreachable`, `requeue`, `notify`  clusters that could not be read metered and told
             (rate-limited); later faults back on the queue with their delay; humans told, then the
             pending notices cleared (a failed publish is re-sent by reconcile)
9. `verdicts` the faults `resolve` dropped (no node to act on) kept in the ledger with their reason
10. the report: rows, calls, metrics and batch item failures of every stage

Every stage returns what it produced (plans, claims, receipts, `Effects`); this module only composes
them. A per-cluster read failure stops only that cluster's faults (held in `resolve`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from autoheal.core import transitions
from autoheal.ports import Clock
from autoheal.reconcile.restores import RESTORE_PENDING
from autoheal.remediate.adaptive import count_recurrences, read_counters
from autoheal.remediate.breaker import hold_tripped, trip
from autoheal.remediate.claim import claim
from autoheal.remediate.decide import decide_all
from autoheal.remediate.hold import hold_switched, over_ceiling, start_cooldowns
from autoheal.remediate.model import (
    BatchPlan,
    CallRow,
    Deps,
    Effects,
    NodePlan,
    NodeRow,
    RemediationReport,
)
from autoheal.remediate.parse import parse
from autoheal.remediate.pipeline import claim_and_act
from autoheal.remediate.record import record
from autoheal.remediate.requeue import notify, requeue
from autoheal.remediate.resolve import arns, held_plans, load_states, resolve
from autoheal.remediate.restore import restore_all, resume
from autoheal.remediate.switches import read_once
from autoheal.remediate.unreachable import tell_unreachable
from autoheal.remediate.verdicts import keep_verdicts

__all__ = ["BatchPlan", "CallRow", "Clock", "Deps", "NodePlan", "NodeRow", "RemediationReport"]


def remediate(records: Sequence[Mapping[str, Any]], deps: Deps) -> RemediationReport:
    with _gc_paused():
        return execute(plan(records, deps), deps)


def plan(records: Sequence[Mapping[str, Any]], deps: Deps) -> BatchPlan:
    """Parse, resolve, decide and hold. Reads the directory, the node states and the switches."""
    now = deps.clock()
    parsed = parse(records)
    restores = [f for _, f in parsed.faults if f.signal == RESTORE_PENDING]  # resumed in `execute`
    parsed.faults = [(m, f) for m, f in parsed.faults if f.signal != RESTORE_PENDING]
    resolved = resolve(parsed.faults, deps.directory, now)
    report = RemediationReport(nodes=resolved.rows, metrics=parsed.metrics.merge([resolved.metrics]))
    unreachable = {c: (e.code, e.message) for c, e in resolved.unreachable.items()}
    if not resolved.nodes and not resolved.held:
        return BatchPlan(
            now, [], report, deps.policy, unreachable=unreachable, dropped=resolved.dropped, restores=restores
        )
    infos = resolved.infos
    loaded = load_states([*resolved.nodes, *resolved.held], infos, deps.states)
    states = {ref: transitions.as_decided_on(h, now) for ref, h in loaded.items()}
    counters = read_counters(resolved.nodes.values(), deps.policy, deps.stats)  # adaptive ladder on only
    plans = decide_all(resolved.nodes, states, infos, now, deps.policy, counters)
    switches = read_once(deps, infos)  # one control-partition Query: pause, cool-downs, breakers
    plans = hold_switched(plans, switches.pauses, switches.cooldowns, now, arns(infos))
    plans, trips = hold_tripped(plans, infos, switches.open_nodes, switches.breakers, deps.policy, now)
    plans = over_ceiling(plans + held_plans(resolved, states), deps.policy, now)
    return BatchPlan(
        now,
        plans,
        report,
        deps.policy,
        trips,
        infos=infos,
        unreachable=unreachable,
        dropped=resolved.dropped,
        restores=restores,
    )


def execute(batch: BatchPlan, deps: Deps) -> RemediationReport:
    """Trip, claim, act, record, requeue, notify, keep verdicts (in dry-run: record, call nothing)."""
    tripped = trip(batch, deps.breakers)
    settled = claim(batch, deps.states, defer=True)  # every plan settled; claims decided, not written
    cooled = start_cooldowns(batch, deps.cooldowns)
    told = tell_unreachable(batch, deps.notices)
    claims, acted = claim_and_act(batch, settled, deps)  # per call: claim its nodes, send it, next
    restores = restore_all(acted, deps.nodes, deps.directory, deps.states, batch.now)
    recorded = record(acted.sent, acted, batch.now, deps.policy, deps.rng, restores)
    deps.states.commit(recorded.states, recorded.attempts + claims.dry_runs, batch.now)
    count_recurrences(claims.claimed, deps.stats)
    restored = Effects(calls=restores.calls, metrics=restores.metrics)
    resumed = resume(batch.restores, deps, batch.now) if not batch.policy.guards.dry_run else Effects()
    effects = Effects.combined(
        [tripped, claims.effects, cooled, told, acted.effects, restored, resumed, recorded.effects]
    )
    failed = requeue(recorded.effects.later + claims.effects.later + acted.effects.later, deps.retry_queue)
    notify(effects.humans, effects.notices, deps.notifier, deps.states, batch.now)
    keep_verdicts(batch.dropped, deps.verdicts)
    report = batch.report
    report.nodes += effects.rows
    report.calls += effects.calls
    report.metrics.merge([effects.metrics])
    report.batch_item_failures += failed
    return report


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
