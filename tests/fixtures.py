"""Test-only helpers on the local stack: the tests' usual cluster, and minutes as a timedelta."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.plane.control import ControlPlane


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
