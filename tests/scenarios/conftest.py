"""Scenario fixtures: a local world with one Slurm cluster of 64 GPU nodes and a controller."""

from __future__ import annotations

import pytest

from hyperpod_local.fixtures import ClusterFixture, slurm_training_cluster
from hyperpod_local.world import LocalWorld

GPU_GROUP = "gpu-a"


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv)


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=64)
