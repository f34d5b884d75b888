"""Test-only helpers: the tests' usual cluster, minutes as a timedelta, a node's fault and its ledger
record on the local stack, crash injection for remediate, and an in-process CLI run's result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from autoheal.adapters.node_states import LedgerNodeStates
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.plane.control import ControlPlane
from hyperpod_local.stack.crash import DIES_AFTER_THE_CALL as DIES_AFTER_THE_CALL
from hyperpod_local.stack.crash import DIES_BEFORE_THE_CALL as DIES_BEFORE_THE_CALL
from hyperpod_local.stack.crash import Crash as Crash  # crash injection: one place (demo, bench, tests)
from hyperpod_local.stack.crash import dies_at as dies_at
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld


def slurm_training_cluster(
    sagemaker_client: Any,
    control: ControlPlane | None,
    name: str = "train-p5",
    gpu_group: str = "gpu-a",
    gpus: int = 64,
) -> ClusterFixture:
    """The tests' usual cluster: a Slurm controller and one group of ml.p5.48xlarge compute nodes."""
    return create_cluster(
        sagemaker_client,
        control,
        name,
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name=gpu_group, instance_type="ml.p5.48xlarge", count=gpus, node_type="Compute"),
        ],
    )


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def fault(world: LocalWorld, cluster: ClusterFixture, instance_id: str) -> None:
    """An unhealthy Node Health Event for one node, now, delivered to intake."""
    world.deliver([node_health_event(cluster.name, cluster.arn, instance_id, world.now())])


def state(world: LocalWorld, cluster: ClusterFixture, logical_id: str) -> Any:
    """The node's record in the ledger (its state), as remediate and reconcile left it."""
    return LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name).node_record(
        cluster.name, logical_id
    )


@dataclass(frozen=True)
class Run:
    """One `autoheal` command run in-process by a test: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


#: (source, detail-type) pairs intake parses but no rule of the template subscribes it to: AWS Health
#: events reach it through `autoheal replay` only (README, "AWS Health": HyperPod's instances are not
#: in the customer's account, so no AWS document has Health report them there).
REPLAY_ONLY_ROUTES = frozenset({("aws.health", "AWS Health Event")})
