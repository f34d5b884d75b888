"""Issue 20: claims and calls pipelined, through the real handlers on the local server.

The nodes of one planned call are claimed together (their conditional writes side by side), the call
is sent, then the next call's nodes are claimed: the first call leaves after one claim round trip. A node of the
call that another actor claimed since it was read is left to it; the rest of the call still goes.
"""

from __future__ import annotations

from typing import Any

import pytest

from autoheal import clients
from autoheal.core import transitions
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action
from autoheal.remediate.service import Deps
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"


def _order() -> list[str]:
    """The order of the claim writes and the mutating calls remediate makes."""
    seen: list[str] = []

    def before_call(model: Any, **_: Any) -> None:
        if model.name in {"TransactWriteItems", "PutItem", REBOOT}:
            seen.append(model.name)

    clients.client("dynamodb").meta.events.register("before-call.dynamodb", before_call)
    clients.client("sagemaker").meta.events.register("before-call.sagemaker", before_call)
    return seen


def test_each_call_goes_right_after_its_own_nodes_are_claimed(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:30]
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now()) for i in nodes])
    records = world.drain()
    order = _order()

    world.remediate(records)

    assert sorted(len(c.node_ids) for c in world.calls(REBOOT)) == [5, 25]
    assert order == ["PutItem"] * 25 + [REBOOT] + ["PutItem"] * 5 + [REBOOT]


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
