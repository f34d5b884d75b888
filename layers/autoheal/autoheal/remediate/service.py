"""Remediate one SQS batch of NodeFaults: a pipeline of stages, each a module of this package.

`plan` only reads (it is also the CLI's dry run):

1. `parse`    records -> (message id, NodeFault); a malformed body is counted and acknowledged;
             reconcile's `RestorePending` faults are set aside for `restore.resume` (6b)
2. `resolve`  faults -> one `Node` per current cluster node, keyed by the cluster's name (ListClusterNodes
             and DescribeCluster once per cluster); a cluster that cannot be read holds its own faults
3. `decide`   nodes + states + cluster descriptions (+ the adaptive ladder's counters of the batch's
             signals, one BatchGetItem when it is on: `adaptive`) -> `NodePlan`s: the ladder and guards (pure); a
             call whose invocation died while sending it counts as taken (`transitions.as_decided_on`)
4. `hold`     pause and capacity cool-down switches; `approvals`: actions that wait for a person's yes
             (one BatchGetItem); `breaker`: nodes under remediation per scope (`switches`: pause,
             cool-downs and breakers answered from one Query of the control partition);
             `canary`: a correlated fault acts on one canary, the rest in waves gated on its health;
             `fleet`: every cluster's actions held while the fleet breaker is tripped (or trips now);
             a fault held past the ceiling goes to a human

`execute` writes and acts:

5. `canary.commit_waves` (wave records written on their version; a lost race holds), `breaker.trip`,
             `fleet.trip_fleet`, `approvals.settle_approvals`, `claim`  new trips recorded (a
             fleet trip pages once); approval requests and the deadline's decisions written (a request
             tells a human); held faults wait, recorded as held; each node to act on gets its claim
             decided (node states move only through `core.transitions`)
5-6. `pipeline` per planned call: its nodes claimed with conditional writes sent side by side (a
             version conflict is read and decided again), then the call sent; `lanes`: a few calls'
             steps in flight at once (2 per cluster, started in plan order), one while SageMaker
             throttles, the rest re-queued past a bounded wait; results merged in plan order
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
             pending notices cleared (a failed publish is re-sent by reconcile); `steps`: the
             `started` step notification, when switched on
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
from autoheal.remediate.approvals import hold_for_approval, settle_approvals
from autoheal.remediate.breaker import hold_tripped, trip
from autoheal.remediate.canary import commit_waves, hold_waves
from autoheal.remediate.claim import claim
from autoheal.remediate.decide import decide_all
from autoheal.remediate.fleet import hold_fleet, trip_fleet
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
from autoheal.remediate.steps import tell_started
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
    switches = read_once(deps, infos)  # one control-partition Query: pause, cool-downs, breakers, fleet
    plans = hold_switched(plans, switches.pauses, switches.cooldowns, now, arns(infos))
    plans, gated = hold_for_approval(plans, deps.approvals, deps.policy, now)
    plans, waves = hold_waves(plans, deps.waves, deps.policy, now)  # canary waves: before the breaker
    plans, trips = hold_tripped(plans, infos, switches.open_nodes, switches.breakers, deps.policy, now)
    plans, fleet = hold_fleet(
        plans, trips, switches.fleet, deps.fleet_sizes, switches.fleet_open_nodes, deps.policy, now
    )
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
        fleet=fleet,
        approvals=gated,
        waves=waves,
    )


def execute(batch: BatchPlan, deps: Deps) -> RemediationReport:
    """Trip, claim, act, record, requeue, notify, keep verdicts (in dry-run: record, call nothing)."""
    batch, waved = commit_waves(batch, deps.waves)
    tripped = trip(batch, deps.breakers)
    tripped_fleet = trip_fleet(batch, deps.fleet)
    batch, asked = settle_approvals(batch, deps.approvals, deps.evidence)
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
        [
            waved,
            tripped,
            tripped_fleet,
            asked,
            claims.effects,
            cooled,
            told,
            acted.effects,
            restored,
            resumed,
            recorded.effects,
        ]
    )
    failed = requeue(recorded.effects.later + claims.effects.later + acted.effects.later, deps.retry_queue)
    notify(effects.humans, effects.notices, deps.notifier, deps.states, batch.now)
    tell_started(recorded.effects.rows, deps.notifier)
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
