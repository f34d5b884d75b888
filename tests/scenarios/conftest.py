"""Scenario fixtures: a local world with one Slurm cluster of 64 GPU nodes and a controller."""

from __future__ import annotations

import pytest

from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import slurm_training_cluster

GPU_GROUP = "gpu-a"


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv)


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=64)
