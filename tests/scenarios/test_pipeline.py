"""Issue 20: claims and calls pipelined, and the calls side by side within throttling limits, through the
real handlers on the local server.

The nodes of one planned call are claimed together (their conditional writes side by side), the call
is sent, then the next call's nodes are claimed: the first call leaves after one claim round trip. A node of the
call that another actor claimed since it was read is left to it; the rest of the call still goes. When
SageMaker keeps throttling past the wait budget, the calls not started have their faults re-queued and
acted on later: none lost, none acted on twice.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from autoheal import clients
from autoheal.core import transitions
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action
from autoheal.remediate import lanes
from autoheal.remediate.service import Deps
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP
from tests.scenarios.test_holds import remediate_round

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"


def _order() -> list[tuple[str, str]]:
    """The claim writes and the mutating calls remediate makes, in the order they are sent: (operation,
    its parameters as JSON)."""
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()  # the calls of one batch are sent from several threads (remediate/lanes.py)

    def before_call(model: Any, params: Any = None, **_: Any) -> None:
        if model.name in {"TransactWriteItems", "PutItem", REBOOT}:
            with lock:
                seen.append((model.name, json.dumps(params, default=str)))

    clients.client("dynamodb").meta.events.register("before-call.dynamodb", before_call)
    clients.client("sagemaker").meta.events.register("before-call.sagemaker", before_call)
    return seen


def test_each_call_goes_right_after_its_own_nodes_are_claimed(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    # Issue 20 (calls in parallel): the two calls' steps may now overlap, so the order pinned is per
    # call -- each call is sent once its own nodes are claimed, not once every node of the batch is.
    nodes = cluster.in_group(GPU_GROUP)[:30]
    world.deliver([node_health_event(cluster.name, cluster.arn, n.instance_id, world.now()) for n in nodes])
    records = world.drain()
    order = _order()

    world.remediate(records)

    assert sorted(len(c.node_ids) for c in world.calls(REBOOT)) == [5, 25]
    assert [name for name, _ in order].count("PutItem") == 30
    calls = [(k, params) for k, (name, params) in enumerate(order) if name == REBOOT]
    for n in nodes:
        claimed_at = [
            k for k, (name, params) in enumerate(order) if name == "PutItem" and n.logical_id in params
        ]
        sent_at = [k for k, params in calls if n.logical_id in params or n.instance_id in params]
        assert len(claimed_at) == 1 and len(sent_at) == 1, n
        assert claimed_at[0] < sent_at[0], n


def test_a_node_claimed_by_another_actor_meanwhile_is_left_to_it_and_the_call_still_goes(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.in_group(GPU_GROUP)[:3]
    world.deliver([node_health_event(cluster.name, cluster.arn, n.instance_id, world.now()) for n in nodes])
    taken = nodes[1].logical_id

    def another_actor_claims_first(deps: Deps) -> Deps:
        real = deps.states.put_if_unchanged

        def put_if_unchanged(state: NodeState, read: int, now: Any) -> bool:
            if state.node_key == taken and state.status is NodeStatus.CLAIMED and read == 0:
                # between our read and our claim, another invocation claims this node
                theirs = transitions.claimed(
                    NodeState(cluster=state.cluster, node_key=taken),
                    read,
                    now,
                    minutes(15),
                    Action.REBOOT,
                    0,
                    nodes[1].instance_id,
                    "{}",
                )
                assert real(theirs, read, now)
            return real(state, read, now)

        deps.states.put_if_unchanged = put_if_unchanged  # type: ignore[method-assign]
        return deps

    report = world.remediate(deps_hook=another_actor_claims_first)

    sent = [i for c in world.calls(REBOOT) for i in c.node_ids]
    assert sorted(sent) == sorted([nodes[0].instance_id, nodes[2].instance_id])  # one call, two nodes
    assert len(world.calls(REBOOT)) == 1
    assert report.metrics.total("ClaimConflicts") == 1
    assert [r.reason for r in report.nodes if r.instance_id == nodes[1].instance_id] == ["action_in_flight"]


def test_calls_throttled_past_the_wait_budget_are_requeued_then_each_node_is_acted_on_once(
    world: LocalWorld, cluster: ClusterFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = cluster.in_group(GPU_GROUP)[:60]  # three planned calls: 25, 25, 10 (two of one cluster at once)
    world.deliver([node_health_event(cluster.name, cluster.arn, n.instance_id, world.now()) for n in nodes])
    monkeypatch.setattr(clients, "_MAX_ATTEMPTS", 0)  # no retries: they would only repeat the throttle
    monkeypatch.setattr(lanes, "WAIT_BUDGET_SECONDS", 0.0)  # the first backoff is already past the budget
    clients.reset()
    world.control.throttle(1.0)

    first, delays = remediate_round(world)

    throttled = world.calls(REBOOT)
    assert len(throttled) == 2 and all(c.throttled for c in throttled)  # the third call never started
    assert first.metrics.total("CallsDeferred") == 1
    held = [r for r in first.nodes if r.decision == "held"]
    assert sorted(r.reason for r in held) == ["throttled"] * 10
    assert first.metrics.total("FaultsHeld") == 10
    assert len(delays) >= 2 and sum(1 for _ in first.nodes if _.error_code == "ThrottlingException") == 50
    assert not first.batch_item_failures

    world.control.throttle(0)
    world.advance(max(delays) + 1)
    later = world.run_until_quiet(max_rounds=4)

    accepted = [c for c in world.calls(REBOOT) if not c.throttled]
    sent = [i for c in accepted for i in (*c.node_ids, *c.node_logical_ids)]
    names = {n.instance_id: n for n in nodes} | {n.logical_id: n for n in nodes}
    assert sorted(names[i].logical_id for i in sent) == sorted(
        n.logical_id for n in nodes
    )  # none lost, none twice
    assert sum(r.metrics.total("CallsDeferred") for r in later) == 0
