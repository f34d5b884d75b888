"""A storm delivered three times over, shuffled, to four concurrent workers: one action per node per
step, no lost fault, a ledger that agrees with the calls."""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import timedelta

import pytest

from autoheal.core.state import NodeStatus
from hyperpod_local.stack.hma_logs import dcgm_record, node_delivery
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    GPU_GROUP,
    NON_ACTING_STATES,
    REBOOT,
    REPLACE,
    WORKERS,
    Storm,
    accepted_attempts,
    answered,
    backend,
    deal,
    deliver,
    entries_per_node,
    in_parallel,
    make_storm,
    records,
    remediate_until_quiet,
    report,
    scaled,
    seed,
)

pytestmark = pytest.mark.torture

COPIES = 3


def _step(world: LocalWorld, storm: Storm, rng: random.Random) -> dict[str, int]:
    """Deliver one event per node COPIES times, shuffled, through 4 concurrent intake workers, then
    remediate the queue with 4 concurrent workers on disjoint slices; return the step's counts."""
    events = storm.events(world)
    deliveries = [e for e in events for _ in range(COPIES)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(deliveries, WORKERS, rng))
    before = len(world.control.calls)
    reports = remediate_until_quiet(world, rng)
    calls = world.control.calls[before:]
    return {
        "events": len(deliveries),
        "enqueued": sum(r.enqueued for r in world.intake_reports[-len(deliveries) :]),
        "calls": len(calls),
        "conflicts": sum(r.metrics.total("ClaimConflicts") for r in reports),
        "collapsed": sum(r.metrics.total("DuplicateFaults") for r in reports),
        "ignored": sum(r.metrics.total("FaultsIgnored") for r in reports),
    }


def test_a_triplicated_shuffled_storm_on_four_workers_acts_once_per_node_per_step(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed())
    n = scaled(100, 1000)
    storm = make_storm(world, n)

    # step 0: every node faults; the copies race each other on four workers
    first = _step(world, storm, rng)
    reboot_calls = world.control.calls
    assert all(c.error_code is None and not c.failed_codes for c in reboot_calls)
    reboots = entries_per_node(world, storm, answered(reboot_calls, REBOOT))
    assert {c.action for c in reboot_calls} == {REBOOT}
    assert all(c.size <= 25 for c in reboot_calls)

    # step 1: the reboot finished and every fault came back (past the recurrence grace): replace, raced
    world.advance((world.settings.policy.recurrence_grace + minutes(2)).total_seconds())
    second = _step(world, storm, rng)
    replace_calls = world.control.calls[len(reboot_calls) :]
    assert all(c.error_code is None and not c.failed_codes for c in replace_calls)
    replaces = entries_per_node(world, storm, answered(replace_calls, REPLACE))
    assert {c.action for c in replace_calls} == {REPLACE}

    keys = [(c.name, logical) for c, _, logical in storm.nodes]
    duplicates = sum(v - 1 for v in reboots.values() if v > 1) + sum(
        v - 1 for v in replaces.values() if v > 1
    )
    ledger = records(world, storm)
    lost = [
        k
        for k in keys
        if reboots[k] == 0 and (ledger[k].state is None or ledger[k].state.status not in NON_ACTING_STATES)  # type: ignore[union-attr]
    ]
    report(
        f"duplicates x{COPIES} on {WORKERS} workers [{backend(dynamodb_endpoint)}]",
        events=first["events"] + second["events"],
        faults=first["enqueued"] + second["enqueued"],
        actions=sum(reboots.values()) + sum(replaces.values()),
        claim_conflicts=first["conflicts"] + second["conflicts"],
        collapsed_in_batch=first["collapsed"] + second["collapsed"],
        ignored=first["ignored"] + second["ignored"],
        duplicates=duplicates,
        lost=len(lost),
        seconds=round(time.monotonic() - started, 1),
    )
    assert first["enqueued"] == COPIES * n  # intake does not deduplicate: remediate's ledger does
    assert (duplicates, lost) == (0, [])
    assert reboots == Counter(dict.fromkeys(keys, 1))
    assert replaces == Counter(dict.fromkeys(keys, 1))

    # the ledger agrees with the calls: one state item per node, one accepted attempt per action
    for k in keys:
        rec = ledger[k]
        assert rec.state is not None, k
        assert (rec.state.status, rec.state.last_action and rec.state.last_action.value) == (
            NodeStatus.IN_PROGRESS,
            "replace",
        ), k
        assert accepted_attempts(rec, "reboot") == 1 and accepted_attempts(rec, "replace") == 1, k
        assert len(rec.attempts) == 2, k
        assert rec.state.claim_expires_at is None and rec.state.intent_action is None, k


def test_the_same_faults_by_eventbridge_and_by_hma_log_raced_on_four_workers_act_once(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    """Slurm's two fault paths at once: every node's fault as a Node Health event and as an HMA log
    delivery (delivered twice: Lambda retries asynchronous invocations), shuffled over four intake
    workers, remediated by four concurrent workers. One reboot per node, nothing lost."""
    started = time.monotonic()
    rng = random.Random(seed())
    n = scaled(60, 600)
    storm = make_storm(world, n, prefix="hma")
    written = world.now() - timedelta(seconds=5)
    # Xid 48 starts on a reboot (79 would start on a replace: issue 17)
    logs = [
        node_delivery(c.name, c.arn, GPU_GROUP, instance, [(written, dcgm_record(48))])
        for c, instance, _ in storm.nodes
    ]
    deliveries = storm.events(world) + logs + logs
    in_parallel(lambda chunk: deliver(world, chunk), deal(deliveries, WORKERS, rng))
    reports = remediate_until_quiet(world, rng)

    calls = world.control.calls
    assert {c.action for c in calls} == {REBOOT}
    assert all(c.error_code is None and not c.failed_codes and c.size <= 25 for c in calls)
    reboots = entries_per_node(world, storm, answered(calls, REBOOT))
    keys = [(c.name, logical) for c, _, logical in storm.nodes]
    duplicates = sum(v - 1 for v in reboots.values() if v > 1)
    lost = [k for k in keys if reboots[k] == 0]
    report(
        f"EventBridge + HMA log x2 on {WORKERS} workers [{backend(dynamodb_endpoint)}]",
        deliveries=len(deliveries),
        actions=sum(reboots.values()),
        claim_conflicts=sum(r.metrics.total("ClaimConflicts") for r in reports),
        collapsed_in_batch=sum(r.metrics.total("DuplicateFaults") for r in reports),
        ignored=sum(r.metrics.total("FaultsIgnored") for r in reports),
        duplicates=duplicates,
        lost=len(lost),
        seconds=round(time.monotonic() - started, 1),
    )
    assert (duplicates, lost) == (0, [])
    assert reboots == Counter(dict.fromkeys(keys, 1))
