"""The local stack's EventBridge: PutEvents reaches the real handlers through the template's own rules
(`hyperpod_local.stack.bus`, `LocalWorld.pump`), and TestEventPattern answers with the same matcher."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.template import INTAKE_FUNCTION, load_template
from hyperpod_local.stack.world import LocalWorld

pytestmark = pytest.mark.scenario


@pytest.fixture(autouse=True)
def rules(world: LocalWorld) -> None:
    """The rules exist before anything is put on the bus."""
    assert world.bus.rules


NODE_HEALTH = "SageMaker HyperPod Cluster Node Health Event"


def put(world: LocalWorld, source: str, detail: dict[str, Any], resources: list[str] | None = None) -> str:
    entry = {"Source": source, "DetailType": NODE_HEALTH, "Detail": json.dumps(detail)}
    if resources:
        entry["Resources"] = resources
    answer = world.aws.client("events").put_events(Entries=[entry])
    assert answer["FailedEntryCount"] == 0
    return str(answer["Entries"][0]["EventId"])


def unhealthy(cluster: str, instance_id: str) -> dict[str, Any]:
    return {
        "ClusterName": cluster,
        "InstanceId": instance_id,
        "HealthSummary": {
            "HealthStatus": "Unhealthy",
            "HealthStatusReason": "HMA has detected fault type NvidiaErrorTerminate on this node",
            "RepairAction": "None",
        },
    }


def test_an_event_put_on_the_bus_is_remediated_through_the_rules(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]
    event_id = put(world, "aws.sagemaker", unhealthy(cluster.name, node.instance_id), [cluster.arn])
    assert world.pump() == 1
    assert [r.event_id for r in world.intake_reports] == [event_id]
    assert sum(c.size for c in world.calls("BatchRebootClusterNodes")) == 1
    logs = world.aws.client("logs").filter_log_events(
        logGroupName=world.bus.log_groups[INTAKE_FUNCTION], filterPattern=f'"{event_id}"'
    )["events"]
    assert "faults enqueued" in [json.loads(e["message"]).get("message") for e in logs]


def test_a_disabled_rule_delivers_nothing(world: LocalWorld, cluster: ClusterFixture) -> None:
    rule = world.bus.rule_for(INTAKE_FUNCTION, "HyperPodEvents")
    world.aws.client("events").disable_rule(Name=rule.name)
    put(
        world,
        "aws.sagemaker",
        unhealthy(cluster.name, cluster.in_group("gpu-a")[0].instance_id),
        [cluster.arn],
    )
    assert world.pump() == 0
    assert not world.intake_reports and not world.calls()


def test_a_custom_source_naming_a_real_cluster_matches_no_rule(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]
    put(world, "autoheal.selftest", unhealthy(cluster.name, node.instance_id))
    put(world, "custom.hyperpod", unhealthy(cluster.name, node.instance_id), [cluster.arn])
    assert world.pump() == 0
    assert not world.calls()


def test_test_event_pattern_answers_with_the_rule_matcher(world: LocalWorld) -> None:
    events = world.aws.client("events")
    pattern = events.describe_rule(Name=world.bus.rule_for(INTAKE_FUNCTION, "HyperPodEvents").name)[
        "EventPattern"
    ]
    event = {
        "version": "0",
        "id": "1",
        "detail-type": NODE_HEALTH,
        "source": "autoheal.selftest",
        "account": "123456789012",
        "time": "2026-12-06T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": unhealthy("autoheal-selftest-0a1b2c3d", "i-0123456789abcdef0"),
    }
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"] is True
    event["detail"] = unhealthy("train", "i-0123456789abcdef0")
    assert events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"] is False


def test_the_local_stack_names_what_the_template_outputs_name(world: LocalWorld) -> None:
    assert set(world.bus.outputs()) <= set(load_template()["Outputs"])
    assert set(world.bus.rules) == {
        "IntakeFunctionHyperPodEvents",
        "IntakeFunctionAlarmEvents",
        "ReconcileFunctionClusterEvents",
    }
