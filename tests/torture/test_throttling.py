"""SageMaker throttles 30 % of Batch* calls and fails entries with InternalServerError / InstanceIdInUse;
DynamoDB throttles some writes and leaves batch writes unprocessed. Everything is remediated within the
retry budget, and only the failed entries are sent again."""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from autoheal import clients
from autoheal.core.state import NodeStatus
from hyperpod_local.stack.world import LocalWorld
from tests.torture.support import (
    REBOOT,
    DynamoThrottler,
    accepted_attempts,
    answered,
    backend,
    deliver,
    entries_per_node,
    make_storm,
    records,
    remediate_until_quiet,
    report,
    scaled,
    seed,
)

pytestmark = pytest.mark.torture

ENTRY_ERRORS = ("InternalServerError", "InstanceIdInUse")


def test_throttled_and_failing_calls_remediate_everything_and_retry_only_failed_entries(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed() + 4)
    n = scaled(100, 1000)
    storm = make_storm(world, n, prefix="throttle")
    budget = world.settings.policy.max_transient_retries

    injected: Counter[tuple[str, str]] = Counter()
    for cluster, _, logical in storm.nodes:
        if rng.random() < 0.25:
            times = rng.randint(1, budget - 1)  # leaves one retry for a call throttled to exhaustion
            world.control.inject_entry_error(logical, rng.choice(ENTRY_ERRORS), times)
            injected[(cluster.name, logical)] = times
    world.control.throttle(0.3, seed=seed())
    dynamo = DynamoThrottler(random.Random(seed() + 5), rate=0.2, unprocessed_rate=0.3)
    dynamo.install(clients.client("dynamodb"))  # the cached client build_deps hands the ledger

    deliver(world, storm.events(world))
    reports = remediate_until_quiet(world, rng, max_rounds=budget + 3)
    world.control.throttle(0)

    calls = world.control.calls
    keys = [(c.name, logical) for c, _, logical in storm.nodes]
    entries = entries_per_node(world, storm, answered(calls, REBOOT))
    throttled = sum(1 for c in calls if c.throttled)
    ledger = records(world, storm)
    accepted = {k: entries[k] - injected[k] for k in keys}
    lost = [k for k in keys if accepted[k] < 1]
    report(
        f"throttling [{backend(dynamodb_endpoint)}]",
        events=n,
        faults=n,
        calls=len(calls),
        throttled_calls=throttled,
        failed_entries=sum(len(c.failed_codes) for c in calls),
        retried_entries=sum(entries.values()) - n,
        dynamodb_throttled=dict(dynamo.throttled),
        dynamodb_unprocessed=dynamo.unprocessed,
        invocations=len(reports),
        actions=sum(accepted.values()),
        duplicates=sum(v - 1 for v in accepted.values() if v > 1),
        lost=len(lost),
        seconds=round(time.monotonic() - started, 1),
    )
    assert throttled > 0 and sum(dynamo.throttled.values()) > 0 and dynamo.unprocessed > 0
    assert sum(len(c.failed_codes) for c in calls) == sum(injected.values())
    assert entries == Counter({k: 1 + injected[k] for k in keys})  # only failed entries went again
    for k in keys:
        state = ledger[k].state
        assert state is not None, k
        assert (state.status, state.last_action and state.last_action.value) == (
            NodeStatus.IN_PROGRESS,
            "reboot",
        ), k
        assert accepted_attempts(ledger[k]) == 1, k
        assert len(ledger[k].attempts) == 1 + injected[k], k
