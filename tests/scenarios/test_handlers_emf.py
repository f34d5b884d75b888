"""The deployed entry points: the real remediate handler answers SQS with batch item failures and
writes EMF metrics, including one FailedEntries count per failed entry with Action and ErrorCode."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from autoheal.reconcile import wiring
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import FakeContext, node_health_event
from hyperpod_local.stack.world import LocalWorld, load_handler
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario


def emf_metrics(stdout: str) -> list[tuple[str, dict[str, str], float]]:
    """(metric name, dimensions, value) for every EMF blob printed."""
    out: list[tuple[str, dict[str, str], float]] = []
    for line in stdout.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob: dict[str, Any] = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            dims = {d: blob[d] for group in directive["Dimensions"] for d in group}
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                out.append((metric["Name"], dims, sum(value) if isinstance(value, list) else value))
    return out


def test_the_remediate_handler_emits_failed_entries_by_code(
    world: LocalWorld, cluster: ClusterFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = cluster.instance_ids(GPU_GROUP)[:5]
    world.control.inject_entry_error(nodes[0], "InstanceIdInUse")
    world.control.inject_entry_error(nodes[1], "InstanceIdInUse")
    world.control.inject_entry_error(nodes[2], "InstanceIdNotFound")
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now()) for i in nodes])
    records = world.drain()
    capsys.readouterr()

    remediate = load_handler("remediate")
    response = remediate.lambda_handler({"Records": records}, FakeContext())

    assert response == {"batchItemFailures": []}  # transient entries were re-queued with a delay
    metrics = emf_metrics(capsys.readouterr().out)
    failed = {(d["Action"], d["ErrorCode"]): v for name, d, v in metrics if name == "FailedEntries"}
    assert failed == {("reboot", "InstanceIdInUse"): 2, ("reboot", "InstanceIdNotFound"): 1}
    assert [(d["Action"], v) for n, d, v in metrics if n == "BatchCalls"] == [("reboot", 1)]
    assert sum(v for n, _, v in metrics if n == "RebootRequests") == 2
    assert sum(v for n, _, v in metrics if n == "RetriesScheduled") == 2


def test_the_intake_handler_counts_and_drops_a_malformed_event(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    (summary,) = world.deliver(
        [{"detail-type": "SageMaker HyperPod Cluster Node Health Event", "source": "aws.sagemaker"}]
    )
    assert summary["enqueued"] == 0 and sum(summary["rejected"].values()) == 1
    metrics = emf_metrics(capsys.readouterr().out)
    assert any(n == "EventsRejected" and v == 1 for n, _, v in metrics)
    assert world.drain() == []


def test_the_reconcile_handler_runs_a_scheduled_round(
    world: LocalWorld, cluster: ClusterFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    node = cluster.instance_ids(GPU_GROUP)[0]
    world.deliver([node_health_event(cluster.name, cluster.arn, node, world.now())])
    world.remediate()

    reconcile = load_handler("reconcile")
    scheduled = {"detail-type": "Scheduled Event", "source": "aws.events", "id": "tick-1", "detail": {}}
    summary = reconcile.lambda_handler(scheduled, FakeContext())

    assert summary["open_nodes"] == 1
    assert sum(summary["verdicts"].values()) == 1
    assert world.calls("BatchReplaceClusterNodes") == []  # reconcile never acts itself


def alarm_event(name: str, at: str, dimensions: dict[str, str] | None = None) -> dict[str, Any]:
    """A CloudWatch alarm going into ALARM, its name as the operator chose it (the node in the name,
    or in its metric's `dimensions`)."""
    metric = {"namespace": "HyperPod/GPU", "name": "XidErrors", "dimensions": dimensions or {}}
    return {
        "version": "0",
        "id": f"alarm-{abs(hash(name))}",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": "123456789012",
        "time": at,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "alarmName": name,
            "state": {"value": "ALARM", "reason": "Threshold Crossed", "timestamp": at},
            "previousState": {"value": "OK", "reason": "ok", "timestamp": at},
            "configuration": {"metrics": [{"id": "m1", "metricStat": {"metric": metric}}]},
        },
    }


def test_the_signal_dimension_is_bounded_whatever_the_alarms_are_named(
    world: LocalWorld,
    cluster: ClusterFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alarm names are free text: one per node with the `autoheal:<cluster>:<instance>` convention, and
    after the `autoheal:` prefix any characters at all. Through intake, remediate and reconcile, the
    `Signal` dimension of every EMF blob stays one clean class (`CloudWatchAlarm`); the names stay in
    the ledger."""
    nodes = cluster.instance_ids(GPU_GROUP)[:3]
    at = world.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    names = [f"autoheal:{cluster.name}:{nodes[0]}", f"autoheal:{cluster.name}:{nodes[1]}"]
    odd = "autoheal:Xid \x1b[31m\u00e9rror\t\u2603 on " + nodes[2]  # the prefix, then anything
    events = [alarm_event(n, at) for n in names]
    events.append(alarm_event(odd, at, {"InstanceId": nodes[2], "ClusterName": cluster.name}))
    names.append(odd)
    assert [s["enqueued"] for s in world.deliver(events)] == [1, 1, 1]
    world.remediate()
    world.advance(60)
    assert world.reconcile().summary()["verdicts"] == {"wait": 3}  # rebooting
    world.advance(5 * 60)
    capsys.readouterr()

    reconcile = load_handler("reconcile")
    # the handler as deployed, on the control plane's clock (the world's)
    monkeypatch.setattr(wiring, "build_deps", functools.partial(wiring.build_deps, clock=world.now))
    summary = reconcile.lambda_handler(
        {"detail-type": "Scheduled Event", "id": "t", "detail": {}}, FakeContext()
    )
    assert summary["verdicts"] == {"healed": 3}

    metrics = emf_metrics(capsys.readouterr().out)
    results = [
        ({k: d[k] for k in ("Action", "Signal", "Result")}, v) for n, d, v in metrics if n == "ActionResults"
    ]
    assert results == [({"Action": "reboot", "Signal": "CloudWatchAlarm", "Result": "healed"}, 3)]
    for _, dims, _ in metrics:
        for value in dims.values():
            assert value.isascii() and value.isprintable() and len(value) <= 64
    ddb = world.aws.client("dynamodb")
    items = ddb.scan(TableName=world.stack.table_name, ConsistentRead=True)["Items"]
    assert {i["signal"]["S"] for i in items if "signal" in i and i["signal"]["S"] in names} == set(names)
