"""Issue 20: what one fault costs in DynamoDB reads, through the real handlers on the local server.

Planning answers the pause, the capacity cool-downs and the circuit breakers from one Query of the
control partition; the open-node index is read only where a breaker could trip. So one fault reads
its node state and the control records, plus the pause re-check before its call.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from autoheal import clients
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan"})


def _count_requests() -> Counter[str]:
    seen: Counter[str] = Counter()

    def before_call(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    clients.client("dynamodb").meta.events.register("before-call.dynamodb", before_call)
    return seen


def test_one_fault_reads_its_state_and_the_control_records_then_rechecks_the_pause(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver([node_health_event(cluster.name, cluster.arn, node, world.now())])
    records = world.drain()
    seen = _count_requests()

    world.remediate(records)

    assert len(world.calls("BatchRebootClusterNodes")) == 1
    reads = {op: n for op, n in seen.items() if op in READS}
    assert reads == {"BatchGetItem": 2, "Query": 1}  # state + pause re-check; the control partition


def test_a_pause_and_a_cooldown_in_the_control_partition_still_hold(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    from autoheal.adapters.control import LedgerPauses

    LedgerPauses(world.aws.client("dynamodb"), world.stack.table_name).pause(cluster.name, "oncall", "test")
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver([node_health_event(cluster.name, cluster.arn, node, world.now())])

    report = world.remediate()

    assert world.calls("BatchRebootClusterNodes") == []
    assert [r.reason for r in report.nodes] == [f"paused:{cluster.name}"]


def _count_sagemaker() -> Counter[str]:
    seen: Counter[str] = Counter()

    def before_call(model: Any, **_: Any) -> None:
        seen[model.name] += 1

    clients.client("sagemaker").meta.events.register("before-call.sagemaker", before_call)
    return seen


def _one_fault(world: LocalWorld, cluster: ClusterFixture, index: int) -> None:
    node = cluster.instance_ids(GPU_GROUP)[index]
    world.deliver([node_health_event(cluster.name, cluster.arn, node, world.now())])
    world.remediate(world.drain())


def test_a_warm_invocation_within_the_ttl_reuses_the_tags_but_describes_the_cluster_again(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    seen = _count_sagemaker()
    _one_fault(world, cluster, 0)
    assert (seen["DescribeCluster"], seen["ListTags"]) == (1, 1)

    world.advance(30)
    _one_fault(world, cluster, 1)
    assert (seen["DescribeCluster"], seen["ListTags"]) == (2, 1)  # the status stays fresh

    world.advance(60)
    _one_fault(world, cluster, 2)
    assert (seen["DescribeCluster"], seen["ListTags"]) == (3, 2)  # past the TTL: read again
    assert len(world.calls("BatchRebootClusterNodes")) == 3


def test_with_every_production_guard_one_fault_reads_the_control_partition_and_the_open_index_once(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The template's guards, canary waves on: the fleet breaker's records come from the same control
    Query as the switches, and its Scan of the open index also answers the cluster breaker (no Query
    of the index of its own). Beyond the relaxed figure: the canary waves' BatchGetItem and that Scan."""
    from hyperpod_local.plane.clusters import GroupSpec, create_cluster
    from hyperpod_local.stack.guards import PRODUCTION_GUARDS

    world = LocalWorld(aws, monkeypatch.setenv, env={**PRODUCTION_GUARDS, "AUTOHEAL_CANARY_WAVES": "true"})
    big = create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "reads-prod",
        [
            GroupSpec("controller", "ml.m5.xlarge", 1, node_type="Controller"),
            GroupSpec(GPU_GROUP, "ml.p5.48xlarge", 40, node_type="Compute"),
        ],
    )
    node = big.instance_ids(GPU_GROUP)[0]
    world.deliver([node_health_event(big.name, big.arn, node, world.now())])
    records = world.drain()
    seen = _count_requests()

    world.remediate(records)

    assert len(world.calls("BatchRebootClusterNodes")) == 1
    reads = {op: n for op, n in seen.items() if op in READS}
    # state + canary waves + pause re-check; the control partition; every cluster's open nodes
    assert reads == {"BatchGetItem": 3, "Query": 1, "Scan": 1}
