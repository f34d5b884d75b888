"""Reconcile racing remediate (issue 15, item 2): a storm delivered twice over on four remediate workers
while reconcile rounds run alongside and write the same nodes (closing them as healed, re-driving):
a version conflict means "read again and decide again", so every fault is acted on exactly once per
step and none is lost.

Step 0 acts on every node; its late copies arrive while reconcile closes the nodes as healed (the
copies are the same faults: nothing more to do); step 1 is a new fault on every node, past the
recurrence grace, raced with reconcile again: one more action per node.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from autoheal.reconcile.service import ReconcileReport
from autoheal.remediate.service import RemediationReport
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    MUTATING,
    NON_ACTING_STATES,
    WORKERS,
    Storm,
    answered,
    backend,
    concurrent_round,
    deal,
    deliver,
    entries_per_node,
    in_parallel,
    make_storm,
    records,
    redeliver,
    report,
    scaled,
    seed,
    take,
)

pytestmark = pytest.mark.torture

COPIES = 2


def _raced(
    world: LocalWorld, rng: random.Random, step_minutes: int
) -> tuple[list[RemediationReport], list[ReconcileReport]]:
    """Remediate the queue on four workers with reconcile alongside, until it is empty."""
    out: tuple[list[RemediationReport], list[ReconcileReport]] = ([], [])
    for _ in range(8):
        reports, rounds = concurrent_round(world, rng, reconcile=world.reconcile)
        out[0].extend(reports)
        out[1].extend(rounds)
        if not reports:
            return out
        world.advance(minutes(step_minutes).total_seconds())
    raise AssertionError("the fault queue did not drain")


def _acted(world: LocalWorld, storm: Storm, since: int) -> Counter[tuple[str, str]]:
    return entries_per_node(world, storm, answered(world.control.calls[since:]))


def test_reconcile_writing_the_nodes_of_a_duplicated_storm_never_loses_or_doubles_an_action(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed())
    n = scaled(100, 1000)
    storm = make_storm(world, n, prefix="raced")
    keys = [(c.name, logical) for c, _, logical in storm.nodes]

    # step 0: the storm, its first copies acted on with reconcile alongside; the other copies held back
    events = storm.events(world)
    in_parallel(lambda chunk: deliver(world, chunk), deal(events, WORKERS, rng))
    first, r0 = _raced(world, rng, step_minutes=1)
    late = [e for e in events for _ in range(COPIES - 1)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(late, WORKERS, rng))
    copies = take(world)
    world.advance(minutes(10).total_seconds())  # the reboots are done: reconcile closes them as healed
    redeliver(world, copies)
    copied, r1 = _raced(world, rng, step_minutes=1)
    step0 = _acted(world, storm, 0)
    healed = sum(r.summary()["verdicts"].get("healed", 0) for r in r1)

    # step 1: a new fault on every node, twice over, raced with reconcile
    world.advance((world.settings.policy.recurrence_grace + minutes(2)).total_seconds())
    since = len(world.control.calls)
    again = [e for e in storm.events(world) for _ in range(COPIES)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(again, WORKERS, rng))
    second, r2 = _raced(world, rng, step_minutes=1)
    step1 = _acted(world, storm, since)

    ledger = records(world, storm)
    settled = {k for k in keys if ledger[k].state and ledger[k].state.status in NON_ACTING_STATES}  # type: ignore[union-attr]
    reports = first + copied + second
    duplicates = sum(v - 1 for v in step0.values() if v > 1) + sum(v - 1 for v in step1.values() if v > 1)
    lost = sum(1 for k in keys if step0[k] == 0) + sum(1 for k in keys if step1[k] == 0 and k not in settled)
    report(
        f"reconcile race x{COPIES} on {WORKERS} workers [{backend(dynamodb_endpoint)}]",
        events=len(events) + len(late) + len(again),
        reconcile_rounds=len(r0) + len(r1) + len(r2),
        healed_while_racing=healed,
        claim_conflicts=sum(r.metrics.total("ClaimConflicts") for r in reports),
        actions=sum(step0.values()) + sum(step1.values()),
        duplicates=duplicates,
        lost=lost,
        seconds=round(time.monotonic() - started, 1),
    )
    assert {c.action for c in world.control.calls} <= MUTATING
    assert healed > 0  # reconcile did write the nodes while the copies were being decided
    assert (duplicates, lost) == (0, 0)
    assert step0 == Counter(dict.fromkeys(keys, 1))
    assert step1 == Counter(dict.fromkeys(keys, 1))
