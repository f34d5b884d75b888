"""One cluster's AccessDenied under a duplicated storm on four workers: its faults are held (never lost,
never acted on while it cannot be read), every other cluster's nodes are acted on exactly once in the
meantime, the operators are told once per cluster and error code per hour, and after it recovers
every node of the denied cluster is acted on exactly once (issue 15, item 3)."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    REBOOT,
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
    report,
    scaled,
    seed,
)

pytestmark = pytest.mark.torture

COPIES = 2
DENIED = "AccessDeniedException"
DENIED_ROUNDS = 5  # x 10 minutes: within the hour, so one notification


def test_access_denied_on_one_cluster_holds_its_storm_while_the_others_act_once(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed())
    healthy = Storm(
        make_storm(world, scaled(30, 300), prefix="ok-a").clusters
        + make_storm(world, scaled(30, 300), prefix="ok-b").clusters
    )
    denied = make_storm(world, scaled(30, 250), prefix="denied")
    (denied_cluster,) = denied.clusters
    storm = Storm(healthy.clusters + denied.clusters)
    topic = world.topic_messages  # subscribed before anything is published
    world.control.fail_calls(denied_cluster.name, DENIED, actions=("ListClusterNodes",))

    events = [e for e in storm.events(world) for _ in range(COPIES)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(events, WORKERS, rng))
    held = errors = 0
    for _ in range(DENIED_ROUNDS):
        reports, _ = concurrent_round(world, rng, reconcile=world.reconcile)
        held += sum(r.metrics.total("FaultsHeld", Reason="cluster_unreachable") for r in reports)
        errors += sum(r.metrics.total("ClusterErrors", ErrorCode=DENIED) for r in reports)
        world.advance(minutes(10).total_seconds())

    while_denied = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    healthy_keys = [(c.name, logical) for c, _, logical in healthy.nodes]
    denied_keys = [(c.name, logical) for c, _, logical in denied.nodes]
    messages = topic()
    notices = [n for m in messages for n in m["nodes"]]
    assert all(DENIED in n["reason"] and denied_cluster.name in n["cluster"] for n in notices), notices
    assert len(messages) == len(notices) == 1  # once per cluster and code per hour, however many batches
    assert held > 0 and errors > 0

    world.control.stop_failing_calls(denied_cluster.name)
    rounds = 0
    while True:
        reports, _ = concurrent_round(world, rng, reconcile=world.reconcile)
        if not reports:
            break
        rounds += 1
        assert rounds <= 6, "the held faults did not drain after the cluster recovered"
        world.advance(minutes(2).total_seconds())
    reboots = entries_per_node(world, storm, answered(world.control.calls, REBOOT))

    keys = healthy_keys + denied_keys
    duplicates = sum(1 for k in keys if reboots[k] > 1)
    lost = sum(1 for k in keys if reboots[k] == 0)
    report(
        f"AccessDenied on 1 of {len(storm.clusters)} clusters x{COPIES} on {WORKERS} workers "
        f"[{backend(dynamodb_endpoint)}]",
        events=len(events),
        held=held,
        cluster_errors=errors,
        notices=len(messages),
        acted_while_denied=sum(while_denied.values()),
        actions=sum(reboots.values()),
        duplicates=duplicates,
        lost=lost,
        seconds=round(time.monotonic() - started, 1),
    )
    assert while_denied == Counter(dict.fromkeys(healthy_keys, 1))  # the others, once; the denied, never
    assert (duplicates, lost) == (0, 0)
    assert reboots == Counter(dict.fromkeys(keys, 1))
    assert topic() == []
