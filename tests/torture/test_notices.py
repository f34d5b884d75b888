"""SNS down under a duplicated storm on four workers: every node goes to a human (its entries fail
permanently) while every publish fails, remediate's and reconcile's alike. No notice is lost: once SNS
recovers, reconcile publishes each pending notice exactly once (issue 15, item 4)."""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from autoheal import clients
from autoheal.adapters.notify import Notifier
from autoheal.core.state import NodeStatus
from autoheal.reconcile.service import ReconcileReport
from autoheal.reconcile.wiring import build_deps as build_reconcile_deps
from autoheal.reconcile.wiring import handle_event as handle_reconcile
from autoheal.remediate.service import Deps
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    REBOOT,
    WORKERS,
    answered,
    backend,
    concurrent_round,
    deal,
    deliver,
    entries_per_node,
    in_parallel,
    make_storm,
    no_delay,
    records,
    report,
    scaled,
    seed,
)

pytestmark = pytest.mark.torture

COPIES = 2


class SnsDown:
    """An SNS client whose every publish fails, as a throttled or unreachable topic would."""

    def __init__(self) -> None:
        self.refused = 0

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.refused += 1
        raise ClientError({"Error": {"Code": "InternalError", "Message": "try later"}}, "Publish")


def test_sns_down_through_a_needs_human_storm_loses_no_notice_and_sends_each_once(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed())
    n = scaled(60, 600)
    storm = make_storm(world, n, prefix="untold")
    topic = world.topic_messages  # subscribed before anything is published
    sns = SnsDown()

    def remediate_sns_down(deps: Deps) -> Deps:
        deps.notifier = Notifier(sns, world.stack.topic_arn)
        return no_delay(deps)

    def reconcile_sns_down() -> ReconcileReport:
        deps = build_reconcile_deps(world.settings, clients.client, clock=world.now)
        deps.notifier = Notifier(sns, world.stack.topic_arn)
        return handle_reconcile({}, world.settings, deps)

    for _, instance, _ in storm.nodes:  # permanent failures: a human takes over
        world.control.inject_entry_error(instance, "ValidationException")
    events = [e for e in storm.events(world) for _ in range(COPIES)]
    in_parallel(lambda chunk: deliver(world, chunk), deal(events, WORKERS, rng))

    needs_human = 0
    for _ in range(3):  # remediate on four workers, reconcile alongside (past the claim TTL), SNS down
        reports, _ = concurrent_round(world, rng, reconcile=reconcile_sns_down, deps_hook=remediate_sns_down)
        needs_human += sum(r.metrics.total("NeedsHuman") for r in reports)
        assert all(r.batch_item_failures == [] for r in reports)
        world.advance(minutes(16).total_seconds())
    assert reconcile_sns_down().notices_resent == 0
    assert topic() == []
    keys = [(c.name, logical) for c, _, logical in storm.nodes]
    ledger = records(world, storm)
    for k in keys:
        state = ledger[k].state
        assert state is not None and state.status is NodeStatus.NEEDS_HUMAN and state.notify_pending, k

    resent = world.reconcile().notices_resent  # SNS is back
    world.advance(minutes(16).total_seconds())
    again = world.reconcile().notices_resent
    messages = topic()
    named = Counter(
        next(((c, lid) for c, lid in keys if lid == node["node_key"] and c in node["cluster"]), None)
        for m in messages
        for node in m["nodes"]
    )
    calls = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    duplicates = sum(1 for v in named.values() if v > 1) + sum(1 for v in calls.values() if v > 1)
    lost = sum(1 for k in keys if named[k] == 0)
    report(
        f"SNS down through a needs-human storm x{COPIES} on {WORKERS} workers [{backend(dynamodb_endpoint)}]",
        events=len(events),
        needs_human=needs_human,
        publishes_refused=sns.refused,
        resent=resent + again,
        messages=len(messages),
        duplicates=duplicates,
        lost=lost,
        seconds=round(time.monotonic() - started, 1),
    )
    assert (duplicates, lost) == (0, 0)
    assert named == Counter(dict.fromkeys(keys, 1))
    assert (resent, again) == (n, 0)
    assert calls == Counter(dict.fromkeys(keys, 1))  # one (failed) action per node, never re-sent
    for k, rec in records(world, storm).items():
        assert rec.state is not None and rec.state.notify_pending is None, k
