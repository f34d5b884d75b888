"""The fleet breaker (issue 18 §4), through the real handlers and the `autoheal` CLI on the local stack
with several clusters, at the template's production guard values (fleet: 3 clusters, 10 %): it trips
on the number of clusters with a tripped breaker and on the share of the fleet's nodes under
remediation, holds every mutating action of every cluster (in the ledger, re-queued, never dropped)
past the breaker window, pages once per trip, and `autoheal breaker reset --fleet` lets the held
faults through, on the record."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError

from autoheal.adapters.fleet import TRIPPED_BY, FleetSizes, FleetState, LedgerFleet
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeState, NodeStatus
from autoheal.remediate.model import Deps
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run, minutes
from tests.scenarios.test_holds import remediate_round

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
GPU = "gpu"
CALLER = "arn:aws:sts::123456789012:user/moto"  # who moto's STS says the test credentials are
FLEET_HOLD = "fleet_breaker_open"

Cli = Callable[..., Run]


def make_cluster(world: LocalWorld, name: str, gpus: int) -> ClusterFixture:
    return create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        name,
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name=GPU, instance_type="ml.p5.48xlarge", count=gpus, node_type="Compute"),
        ],
    )


def faults(world: LocalWorld, cluster: ClusterFixture, ids: Sequence[str]) -> None:
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now()) for i in ids])


def fleet_state(world: LocalWorld) -> FleetState:
    return LedgerFleet(world.aws.client("dynamodb"), world.stack.table_name).state(world.now())


def fleet_pages(world: LocalWorld) -> list[str]:
    """The reasons of the fleet breaker's pages published since the last call."""
    told = [n for m in world.topic_messages() for n in m["nodes"]]
    return [n["reason"] for n in told if n["reason"].startswith("fleet breaker open")]


def node_state(world: LocalWorld, cluster: ClusterFixture, instance_id: str) -> NodeState:
    logical = next(n.logical_id for n in cluster.in_group(GPU) if n.instance_id == instance_id)
    record = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name).node_record(
        cluster.name, logical
    )
    assert record.state is not None
    return record.state


def test_three_clusters_tripped_stop_every_cluster_until_a_fleet_reset(guarded: LocalWorld, cli: Cli) -> None:
    """A bad AMI everywhere: three clusters trip their breakers; a fourth cluster's lone fault is held
    too, held again past the breaker window, paged once; `breaker reset --fleet` lets it through."""
    storm = [make_cluster(guarded, name, gpus=10) for name in ("ami-a", "ami-b", "ami-c")]
    quiet = make_cluster(guarded, "quiet-d", gpus=10)
    for cluster in storm:
        faults(guarded, cluster, cluster.instance_ids(GPU)[:5])  # 5 of 10: over the group's 2
    lone = quiet.instance_ids(GPU)[0]
    faults(guarded, quiet, [lone])

    report, delays = remediate_round(guarded)
    assert guarded.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="breaker_open") == 15
    assert report.metrics.total("FaultsHeld", Reason=FLEET_HOLD) == 1
    assert report.metrics.total("FleetBreakerTripped", Reason="clusters") == 1
    (page,) = fleet_pages(guarded)
    assert "3 clusters have a tripped circuit breaker (ami-a, ami-b, ami-c)" in page
    assert "`autoheal breaker reset --fleet`" in page
    trip = fleet_state(guarded).trip
    assert trip is not None
    assert (trip.by, trip.kind, trip.clusters, trip.at) == (
        TRIPPED_BY,
        "clusters",
        ("ami-a", "ami-b", "ami-c"),
        guarded.now(),
    )

    tripped_at = guarded.now()
    for _ in range(3):  # 45 minutes: past the 30-minute breaker window, the fleet breaker still holds
        guarded.advance(max(delays))
        report, delays = remediate_round(guarded)
        assert report.metrics.total("FaultsHeld", Reason=FLEET_HOLD) == 1
        assert report.metrics.total("FleetBreakerTripped") == 0
        assert fleet_pages(guarded) == []  # one page per trip
    assert guarded.calls() == []
    held = node_state(guarded, quiet, lone)
    assert (held.status, held.hold, held.held_since) == (NodeStatus.HELD, FLEET_HOLD, tripped_at)

    shown = cli("breaker")
    assert shown.code == 0, shown.err
    assert "FLEET BREAKER OPEN since" in shown.out and "1 fault(s) held by the fleet breaker" in shown.out
    assert "BREAKER OPEN ami-a/gpu" in shown.out

    refused = cli("breaker", "reset", "--fleet")  # no terminal, no --yes: nothing written
    assert refused.code == 2 and "pass --yes" in refused.err
    assert fleet_state(guarded).trip is not None
    reset = cli("breaker", "reset", "--fleet", "--yes", "--reason", "AMI rolled back", "--json")
    assert reset.code == 0, reset.err
    assert reset.json()["cleared"] is True
    override = fleet_state(guarded).override
    assert override is not None
    assert (override.by, override.reason, override.until) == (
        CALLER,
        "AMI rolled back",
        guarded.now() + minutes(30),
    )
    assert "FLEET BREAKER RESET" in cli("breaker").out

    guarded.advance(max(delays))
    remediate_round(guarded)
    assert [(c.cluster, c.size) for c in guarded.calls(REBOOT)] == [
        (quiet.name, 1)
    ]  # the storms: own breakers


def test_a_tenth_of_the_fleet_under_remediation_across_clusters_trips_it(guarded: LocalWorld) -> None:
    """Each cluster within its own breaker (16 of 101 nodes, 20 allowed), but 32 of the fleet's 303
    nodes under remediation at once is more than 10 %: the second cluster's faults are held."""
    clusters = [make_cluster(guarded, name, gpus=100) for name in ("west-a", "west-b", "west-c")]
    first, second = clusters[0], clusters[1]
    faults(guarded, first, first.instance_ids(GPU)[:16])
    report, _ = remediate_round(guarded)
    assert [c.size for c in guarded.calls(REBOOT)] == [16]  # 16 of 303: under 10 %
    counted = fleet_state(guarded).size
    assert counted is not None and (counted.total, counted.at) == (303, guarded.now())

    guarded.advance(60)
    faults(guarded, second, second.instance_ids(GPU)[:16])
    report, _ = remediate_round(guarded)
    assert [c.size for c in guarded.calls(REBOOT)] == [16]  # nothing more
    assert report.metrics.total("FaultsHeld", Reason=FLEET_HOLD) == 16
    assert report.metrics.total("FleetBreakerTripped", Reason="share") == 1
    (page,) = fleet_pages(guarded)
    assert "32 of 303 managed nodes (10.6%) are under remediation across 2 clusters (west-a, west-b)" in page
    state = fleet_state(guarded)
    assert state.trip is not None and (state.trip.nodes, state.trip.total) == (32, 303)
    assert state.size is not None and state.size.at == counted.at  # the cached count, still fresh


def test_a_cluster_created_after_the_fleet_was_counted_is_counted_before_it_is_judged(
    guarded: LocalWorld,
) -> None:
    """The cached fleet size is fresh (within its TTL) but does not know a cluster created since: the
    new cluster's faults are not judged against a fleet without it (16 + 1 of 46 cached nodes would be
    37 %, a spurious trip holding every cluster); the fleet is counted again first: 17 of 247 nodes."""
    old = make_cluster(guarded, "old-a", gpus=44)
    make_cluster(guarded, "old-b", gpus=0)
    faults(guarded, old, old.instance_ids(GPU)[:1])
    remediate_round(guarded)
    counted = fleet_state(guarded).size
    assert counted is not None and counted.total == 46

    guarded.advance(60)
    new = make_cluster(guarded, "new-a", gpus=200)
    faults(guarded, new, new.instance_ids(GPU)[:16])
    report, _ = remediate_round(guarded)
    assert [c.size for c in guarded.calls(REBOOT)] == [1, 16]
    assert report.metrics.total("FleetBreakerTripped") == 0
    assert report.metrics.total("FaultsHeld", Reason=FLEET_HOLD) == 0
    recounted = fleet_state(guarded).size
    assert recounted is not None and recounted.total == 247 and recounted.at == guarded.now()


def test_one_cluster_alone_never_trips_the_fleet_on_its_share(guarded: LocalWorld) -> None:
    """A single cluster's storm is its own breaker's business: 20 of a 2-cluster fleet's 111 nodes."""
    big = make_cluster(guarded, "solo-a", gpus=100)
    make_cluster(guarded, "solo-b", gpus=10)
    faults(guarded, big, big.instance_ids(GPU)[:20])
    report, _ = remediate_round(guarded)
    assert [c.size for c in guarded.calls(REBOOT)] == [20]
    assert report.metrics.total("FleetBreakerTripped") == 0
    assert fleet_state(guarded).trip is None


def test_a_fleet_reset_takes_no_group_and_needs_a_scope(
    guarded: LocalWorld, cli: Cli, capsys: pytest.CaptureFixture[str]
) -> None:
    both = cli("breaker", "reset", "--fleet", "--group", GPU, "--yes")
    assert both.code != 0 and "not with --fleet" in both.err
    with pytest.raises(SystemExit):
        cli("breaker", "reset", "--yes")
    assert "one of the arguments --cluster --fleet is required" in capsys.readouterr().err


class _Refused:
    """A SageMaker client whose ListClusters is refused (the role lacks it, say)."""

    def get_paginator(self, operation_name: str) -> Any:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
        raise ClientError(error, "ListClusters")  # type: ignore[arg-type]

    def describe_cluster(self, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("not reached")


def test_a_fleet_that_cannot_be_listed_is_not_judged_on_its_share_and_nothing_crashes(
    guarded: LocalWorld,
) -> None:
    """ListClusters refused and no count cached: the batch goes on (the cluster-count test still
    stands, the share is not judged), logged; nothing is lost or held by the fleet breaker."""
    clusters = [make_cluster(guarded, name, gpus=100) for name in ("deny-a", "deny-b")]
    for cluster in clusters:
        faults(guarded, cluster, cluster.instance_ids(GPU)[:16])  # 32 of 202: would trip on the share

    def refuse(deps: Deps) -> Deps:
        deps.fleet_sizes = FleetSizes(_Refused())
        return deps

    report = guarded.remediate(deps_hook=refuse)
    assert report.batch_item_failures == []
    assert sorted(c.size for c in guarded.calls(REBOOT)) == [16, 16]
    assert report.metrics.total("FleetBreakerTripped") == 0
    assert fleet_state(guarded).size is None  # nothing cached: the next batch tries again
