"""Scenario fixtures: a local world with one Slurm cluster of 64 GPU nodes and a controller; a world with
the template's guards (`guarded`) and the CLI run in-process against it (`cli`)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.guards import PRODUCTION_GUARDS
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run, slurm_training_cluster

GPU_GROUP = "gpu-a"


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv)


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=64)


@pytest.fixture
def guarded(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv, env=PRODUCTION_GUARDS)


@pytest.fixture
def cli(guarded: LocalWorld, capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`cli(*argv)`: the CLI in-process, on the guarded world's clock, against its stack."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        code = main(list(argv), now=guarded.now)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run
