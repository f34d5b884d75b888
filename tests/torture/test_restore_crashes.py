"""Retire + restore under process deaths (issue 17): the invocation dies right after a
BatchAddClusterNodes call went out (and was answered), before any outcome is written -- with one
cluster's add made and another's not yet, several lemons per add call, groups split over calls.
SQS redelivers, reconcile records the retires as taken and queues their restores, remediate re-sends
each stored call under its token: no group ever grows past its target, every lemon gets exactly one
node, on both ledger backends."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.results import AddGroupResult
from autoheal.remediate.service import Deps
from hyperpod_local.plane import GroupSpec, create_cluster
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import SplitAws

pytestmark = pytest.mark.torture

ADD = "BatchAddClusterNodes"
ON = {"AUTOHEAL_RETIRE_AND_RESTORE": "true"}
#: lemons per (cluster, group): train-x's 2 groups share one add call, train-y's is made after it
LEMONS = {("train-x", "gpu-a"): 3, ("train-x", "gpu-b"): 2, ("train-y", "gpu-c"): 2}
SIZE = 6


class Crash(RuntimeError):
    """A process death right after an add call returned."""


def dies_after_add(calls: int) -> Callable[[Deps], Deps]:
    """The invocation dies as soon as its `calls`-th BatchAddClusterNodes has returned."""

    def hook(deps: Deps) -> Deps:
        real = deps.nodes
        made = Counter[str]()

        class Nodes:
            def __getattr__(self, name: str) -> Any:
                return getattr(real, name)

            def add(self, cluster: str, increments: Mapping[str, int], token: str) -> list[AddGroupResult]:
                results = real.add(cluster, increments, token)
                made["add"] += 1
                if made["add"] == calls:
                    raise Crash(f"died after add call {calls}, before writing its outcome")
                return results

        deps.nodes = Nodes()
        return deps

    return hook


@pytest.fixture
def world(aws: Any, dynamodb_endpoint: str | None, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:
    if dynamodb_endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    return LocalWorld(SplitAws(aws, dynamodb_endpoint), monkeypatch.setenv, env=ON)


def _clusters(world: LocalWorld) -> dict[str, ClusterFixture]:
    groups: dict[str, list[str]] = {}
    for cluster, group in LEMONS:
        groups.setdefault(cluster, []).append(group)
    return {
        name: create_cluster(
            world.aws.client("sagemaker"),
            world.control,
            name,
            [GroupSpec(g, "ml.p5.48xlarge", SIZE, node_type="Compute") for g in names],
        )
        for name, names in groups.items()
    }


def _lemons(fixtures: dict[str, ClusterFixture]) -> list[tuple[str, str]]:
    return [(c, fixtures[c].in_group(g)[i].logical_id) for (c, g), n in LEMONS.items() for i in range(n)]


def _faults(world: LocalWorld, fixtures: dict[str, ClusterFixture], lemons: list[tuple[str, str]]) -> None:
    world.deliver(
        node_health_event(c, fixtures[c].arn, world.control.node(key, c).instance_id, world.now())
        for c, key in lemons
    )


def _targets(world: LocalWorld) -> dict[tuple[str, str], int]:
    sm = world.aws.client("sagemaker")
    return {
        (c, g["InstanceGroupName"]): int(g["TargetCount"])
        for c in {c for c, _ in LEMONS}
        for g in sm.describe_cluster(ClusterName=c)["InstanceGroups"]
    }


@pytest.mark.parametrize("dies_after", [1, 2])
def test_a_crash_after_the_add_call_never_adds_twice(world: LocalWorld, dies_after: int) -> None:
    fixtures = _clusters(world)
    lemons = _lemons(fixtures)
    for _ in range(2):  # reboot, then replace
        _faults(world, fixtures, lemons)
        world.remediate()
        world.advance(minutes(20).total_seconds())
    _faults(world, fixtures, lemons)
    records = world.drain()

    with pytest.raises(Crash):  # the deletes went out, and `dies_after` add calls
        world.remediate(records, deps_hook=dies_after_add(dies_after))
    first = {c.client_token: c.nodes_to_add for c in world.calls(ADD)}
    assert len(first) == dies_after
    world.advance(minutes(16).total_seconds())  # the claims expired; SQS redelivers the batch
    world.remediate(records)
    for _ in range(3):  # reconcile records the retires as taken and queues their restores, re-driven
        world.reconcile()
        world.run_until_quiet()
        world.advance(minutes(6).total_seconds())

    adds = world.calls(ADD)
    assert all(
        first.get(a.client_token, a.nodes_to_add) == a.nodes_to_add for a in adds
    )  # same token, same call
    new = [
        v.logical_id
        for name, f in fixtures.items()
        for v in world.control.nodes(name)
        if v.logical_id not in f.logical_ids()
    ]
    assert len(new) == len(lemons)  # one node per lemon: none added twice, none missing
    assert all(n == SIZE for n in _targets(world).values())  # no group past its target
    states = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    loaded = states.load(lemons)
    assert sorted(i for h in loaded.values() for i in h.restore_ids) == sorted(new)
    world.advance(minutes(10).total_seconds())
    world.reconcile()
    assert {h.restore_status for h in states.load(lemons).values()} == {"running"}
