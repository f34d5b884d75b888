"""Issue 17 §1, the signal-aware first rung, through the real handlers on the local stack: HMA log
records -> intake -> queue -> remediate -> Batch* calls, the rule that chose the rung in the ledger."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from autoheal.adapters.attempts import LedgerAttempts
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.hma_logs import dcgm_record, node_delivery, npd_event_record
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import slurm_training_cluster
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


def setup(aws, monkeypatch: pytest.MonkeyPatch, env: Mapping[str, str]) -> tuple[LocalWorld, ClusterFixture]:  # type: ignore[no-untyped-def]
    world = LocalWorld(aws, monkeypatch.setenv, env=env)
    cluster = slurm_training_cluster(
        world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=8
    )
    return world, cluster


def fault_xid(world: LocalWorld, cluster: ClusterFixture, node: str, xid: int) -> None:
    """One HMA DCGM record with this Xid, a second ago, through intake onto the queue."""
    record = (world.now() - timedelta(seconds=1), dcgm_record(xid))
    world.deliver([node_delivery(cluster.name, cluster.arn, GPU_GROUP, node, [record])])


def called(world: LocalWorld, operation: str) -> list[str]:
    return [i for c in world.calls(operation) for i in c.node_ids]


def attempt_rules(world: LocalWorld, cluster: ClusterFixture, node: str) -> list[str | None]:
    """The rules recorded on the node's attempts (the ledger keys a node by its NodeLogicalId)."""
    [key] = {r.node_key for report in world.reports for r in report.nodes if r.instance_id == node}
    ledger = LedgerAttempts(world.aws.client("dynamodb"), world.stack.table_name)
    return [a.rule for a in ledger.attempts(cluster.name, key)]


def test_xid_79_starts_at_replace_without_a_reboot(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {})
    node = cluster.instance_ids(GPU_GROUP)[0]
    fault_xid(world, cluster, node, 79)
    report = world.remediate()
    assert called(world, REPLACE) == [node]
    assert called(world, REBOOT) == []
    [row] = report.nodes
    assert (row.decision, row.reason, row.action, row.step) == ("act", "first_fault", "replace", 1)
    [rule] = attempt_rules(world, cluster, node)
    assert rule is not None and rule.startswith("table: XidError:79 → replace (")
    assert "RESTART_BM" in rule


def test_an_application_xid_reaching_remediate_is_ignored_with_its_reason(  # type: ignore[no-untyped-def]
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With intake's own Xid filter emptied (HmaIgnoredXids ""), the fault reaches remediate: the
    table's `none` rung ignores it there, counted, with no call and no ledger write."""
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_HMA_IGNORED_XIDS": ""})
    node = cluster.instance_ids(GPU_GROUP)[1]
    fault_xid(world, cluster, node, 13)
    report = world.remediate()
    assert world.calls() == []
    [row] = report.nodes
    assert (row.decision, row.reason, row.action) == ("ignore", "application_fault", None)
    assert report.metrics.total("FaultsIgnored", Reason="application_fault") == 1
    assert attempt_rules(world, cluster, node) == []


def test_an_operator_override_flips_the_first_rung(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(
        aws, monkeypatch, {"AUTOHEAL_SIGNAL_FIRST_RUNG": "XidError:79=reboot,XidError:48=replace"}
    )
    reboot_node, replace_node = cluster.instance_ids(GPU_GROUP)[2:4]
    fault_xid(world, cluster, reboot_node, 79)
    fault_xid(world, cluster, replace_node, 48)
    world.remediate()
    assert called(world, REBOOT) == [reboot_node]
    assert called(world, REPLACE) == [replace_node]
    assert attempt_rules(world, cluster, reboot_node) == ["override: XidError:79=reboot"]
    assert attempt_rules(world, cluster, replace_node) == ["override: XidError:48=replace"]


def test_replace_first_with_the_replace_budget_spent_needs_a_human(
    aws, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    world, cluster = setup(aws, monkeypatch, {"AUTOHEAL_REPLACE_BUDGET": "0"})
    node = cluster.instance_ids(GPU_GROUP)[4]
    fault_xid(world, cluster, node, 79)
    report = world.remediate()
    assert world.calls() == []
    [row] = report.nodes
    assert (row.decision, row.reason) == ("needs_human", "budget_exhausted")


def test_an_eks_npd_record_without_an_action_starts_on_its_xid(aws, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The Xid is in the record's message, not in its signal (`NvidiaGPUUnhealthy`): intake keeps it."""
    world, cluster = setup(aws, monkeypatch, {})
    node = cluster.instance_ids(GPU_GROUP)[5]
    record = npd_event_record("", "NvidiaGPUUnhealthy", "NvidiaGpuXidError", 79)
    world.deliver([node_delivery(cluster.name, cluster.arn, GPU_GROUP, node, [(world.now(), record)])])
    world.remediate()
    assert called(world, REPLACE) == [node] and called(world, REBOOT) == []
    [rule] = attempt_rules(world, cluster, node)
    assert rule is not None and rule.startswith("table: XidError:79 → replace")
