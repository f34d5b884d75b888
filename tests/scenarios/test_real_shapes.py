"""Real event shapes through the real handlers (issue 16): AWS's documented Cluster Event example, as
its page prints it, reaches remediate as an `InsufficientCapacity` fault and starts the capacity
cool-down; an event without `EventLevel` does the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

EVENTS = Path(__file__).resolve().parents[2] / "events"
REPLACE = "BatchReplaceClusterNodes"


def documented_capacity_event(
    world: LocalWorld, cluster: ClusterFixture, *, level: bool = True
) -> dict[str, Any]:
    """The cluster events reference's example, its node and cluster name made this world's; its
    placeholder cluster ARN (`cluster/sample-cluster`, in the detail and in `resources`) is kept."""
    event: dict[str, Any] = json.loads(
        (EVENTS / "cluster-event-insufficient-capacity-documented.json").read_text(encoding="utf-8")
    )
    node = cluster.in_group(GPU_GROUP)[0]
    details = event["detail"]["EventDetails"]
    details.update(
        ClusterName=cluster.name,
        InstanceGroupName=GPU_GROUP,
        InstanceId=node.instance_id,
        EventTime=int(world.now().timestamp() * 1000),
    )
    details["EventDetails"]["EventMetadata"]["Instance"]["NodeLogicalId"] = node.logical_id
    event["time"] = world.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    if not level:
        del details["EventLevel"]
    return event


@pytest.mark.parametrize("level", [True, False], ids=["documented", "without-event-level"])
def test_documented_capacity_event_starts_the_capacity_cooldown_and_holds_replaces(
    world: LocalWorld, cluster: ClusterFixture, level: bool
) -> None:
    (summary,) = world.deliver([documented_capacity_event(world, cluster, level=level)])
    assert (summary["rejected"], summary["enqueued"]) == ({}, 1)
    assert world.intake_reports[-1].counts.total("DroppedFields", Field="ClusterArn") == 1

    report = world.remediate()
    assert report.metrics.total("CapacityCooldowns") == 1

    # another node of the group needs a replace during the cool-down: held, not sent
    other = cluster.in_group(GPU_GROUP)[1]
    world.deliver([node_health_event(cluster.name, cluster.arn, other.instance_id, world.now())])
    world.remediate()  # first rung: reboot
    world.advance(minutes(10).total_seconds())
    world.deliver([node_health_event(cluster.name, cluster.arn, other.instance_id, world.now())])
    held = world.remediate()
    assert held.metrics.total("FaultsHeld", Reason="capacity_cooldown") == 1
    assert world.calls(REPLACE) == []
