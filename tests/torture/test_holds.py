"""A long hold under concurrency: a storm delivered twice over, held by a pause for 90 minutes on four
remediate workers with reconcile running alongside (re-driving, closing as healed), then resumed: no
fault is judged stale or lost, and every node is rebooted exactly once.

SQS delays run on the wall clock, not the simulated one: held faults go back on the queue at once and
each round advances the simulated clock by the hold's delay, as the real queue would.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from autoheal.adapters.control import ALL_CLUSTERS, LedgerPauses
from autoheal.core.state import NodeStatus
from autoheal.remediate.service import RemediationReport
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    REBOOT,
    WORKERS,
    answered,
    backend,
    deal,
    deliver,
    entries_per_node,
    in_parallel,
    make_storm,
    no_delay,
    records,
    remediate_batch,
    report,
    scaled,
    seed,
    take,
)

pytestmark = pytest.mark.torture

COPIES = 2
HOLD_ROUNDS = 6  # x 15 minutes: past the 60-minute event age limit


def _round(world: LocalWorld, rng: random.Random) -> list[RemediationReport]:
    """The queue on four remediate workers, with a reconcile round running alongside."""
    slices: list[Any] = [s for s in deal(take(world), WORKERS, rng) if s]

    def work(job: Any) -> list[RemediationReport]:
        if job == "reconcile":
            world.reconcile()
            return []
        return [remediate_batch(world, job, deps_hook=no_delay)]

    return [r for done in in_parallel(work, [*slices, "reconcile"]) for r in done]


def test_a_90_minute_hold_of_a_duplicated_storm_on_four_workers_loses_nothing_and_acts_once(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed())
    n = scaled(100, 1000)
    storm = make_storm(world, n, prefix="held")
    pauses = LedgerPauses(world.aws.client("dynamodb"), world.stack.table_name)
    pauses.pause(ALL_CLUSTERS, by="oncall", reason="torture: long hold")
    events = [e for e in storm.events(world) for _ in range(COPIES)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(events, WORKERS, rng))

    stale = held = 0
    for _ in range(HOLD_ROUNDS):
        reports = _round(world, rng)
        stale += sum(r.metrics.total("FaultsIgnored", Reason="stale_event") for r in reports)
        held += sum(r.metrics.total("FaultsHeld", Reason="paused") for r in reports)
        world.advance(minutes(15).total_seconds())
    assert world.control.calls == []
    assert stale == 0
    ledger = records(world, storm)
    assert {r.state.status for r in ledger.values() if r.state} == {NodeStatus.HELD}
    assert len(ledger) == n

    pauses.resume(ALL_CLUSTERS)
    for _ in range(4):  # acted on, then verified healed by reconcile while copies still arrive
        _round(world, rng)
        world.advance(minutes(4).total_seconds())
    while left := take(world):
        remediate_batch(world, left, deps_hook=no_delay)
    world.reconcile()

    reboots = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    duplicates = sum(1 for count in reboots.values() if count > 1)
    lost = n - len(reboots)
    report(
        f"long hold x{COPIES} on {WORKERS} workers [{backend(dynamodb_endpoint)}]",
        events=len(events),
        held=held,
        stale=stale,
        actions=sum(reboots.values()),
        duplicates=duplicates,
        lost=lost,
        seconds=round(time.monotonic() - started, 1),
    )
    assert (duplicates, lost) == (0, 0)
    final = {r.state.status for r in records(world, storm).values() if r.state}
    assert NodeStatus.HELD not in final
