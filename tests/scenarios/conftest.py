"""Scenario fixtures: a local world with one Slurm cluster of 64 GPU nodes and a controller."""

from __future__ import annotations

import pytest

from hyperpod_local.fixtures import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.world import LocalWorld

GPU_GROUP = "gpu-a"


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv)


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "train-p5",
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name=GPU_GROUP, instance_type="ml.p5.48xlarge", count=64, node_type="Compute"),
        ],
    )
