"""A Node Health Event's `Recommendation` text (AWS's example: "Please Replace the Faulty Node." with
`RepairAction: None`) is information, not a verdict: the fault starts on the ladder's own first rung,
and the text is kept with the attempt so `autoheal history` shows it."""

from __future__ import annotations

import pytest

from autoheal.adapters.node_states import LedgerNodeStates
from autoheal_cli.commands.history import attempt_json, record_lines
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import fault, slurm_training_cluster

pytestmark = pytest.mark.scenario


def test_the_recommendation_is_in_history_and_the_ladder_still_starts_at_reboot(world: LocalWorld) -> None:
    cluster = slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpus=4)
    node = cluster.in_group("gpu-a")[0]
    fault(world, cluster, node.instance_id)  # hyperpod_local's event carries AWS's example HealthSummary

    world.remediate()

    assert [c.action for c in world.calls()] == ["BatchRebootClusterNodes"]  # not a replace
    states = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    record = states.node_record(cluster.name, node.logical_id)
    (attempt,) = record.attempts
    assert attempt.recommendation == "Please Replace the Faulty Node."
    assert attempt_json(attempt)["recommendation"] == "Please Replace the Faulty Node."
    assert any(
        line.strip().startswith("recommendation with the reboot at ")
        and line.endswith(": Please Replace the Faulty Node.")
        for line in record_lines(record)
    )
