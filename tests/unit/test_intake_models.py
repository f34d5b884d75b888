"""The parser models: lenient where AWS is vague, strict about ids, UTC everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ValidationError

from autoheal.faults import RepairAction
from autoheal.intake.models import (
    AlarmStateChange,
    ClusterEvent,
    EventLevel,
    HealthEvent,
    HealthStatus,
    HealthSummary,
    NodeHealthEvent,
    ResourceType,
)

EVENTS = Path(__file__).resolve().parents[2] / "events"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def cluster_event(**details: Any) -> dict[str, Any]:
    event = load_event("cluster-event-replacement-failed.json")
    event["detail"]["EventDetails"].update(details)
    return event


@pytest.mark.parametrize("model", [NodeHealthEvent, ClusterEvent, HealthEvent, AlarmStateChange])
def test_models_are_powertools_eventbridge_models(model: type[EventBridgeModel]) -> None:
    assert issubclass(model, EventBridgeModel)


def test_node_health_event_parses_the_documented_shape() -> None:
    event = NodeHealthEvent.model_validate(load_event("node-health-unhealthy.json"))
    assert event.detail_type == "SageMaker HyperPod Cluster Node Health Event"
    assert event.detail.health_summary.status is HealthStatus.UNHEALTHY
    assert event.detail.health_summary.repair_action is RepairAction.NONE
    assert event.time.tzinfo is UTC


def test_extra_fields_anywhere_are_accepted() -> None:
    raw = load_event("node-health-unhealthy.json")
    raw["detail"]["SomethingNew"] = {"x": 1}
    raw["detail"]["HealthSummary"]["Confidence"] = 0.9
    raw["brand-new-envelope-field"] = True
    assert NodeHealthEvent.model_validate(raw).detail.instance_id == "i-0a1b2c3d4e5f60718"


@pytest.mark.parametrize(
    ("spelling", "status"),
    [
        ("Unhealthy", HealthStatus.UNHEALTHY),
        ("uNhEaLtHy", HealthStatus.UNHEALTHY),
        ("Healthy", HealthStatus.HEALTHY),
        (" healthy\t", HealthStatus.HEALTHY),
        ("Recovering", HealthStatus.UNKNOWN),
        ("", HealthStatus.UNKNOWN),
    ],
)
def test_health_status_is_case_insensitive_and_unknown_spellings_are_unknown(
    spelling: str, status: HealthStatus
) -> None:
    assert HealthSummary.model_validate({"HealthStatus": spelling}).status is status


def test_health_status_of_the_wrong_type_is_an_error() -> None:
    with pytest.raises(ValidationError):
        HealthSummary.model_validate({"HealthStatus": 1})


@pytest.mark.parametrize(
    "instance_id", ["i-XYZ", "i-0A1B2C3D4E5F60718", "0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f6071", "i-"]
)
def test_bad_instance_ids_are_rejected(instance_id: str) -> None:
    raw = load_event("node-health-unhealthy.json")
    raw["detail"]["InstanceId"] = instance_id
    with pytest.raises(ValidationError, match="InstanceId"):
        NodeHealthEvent.model_validate(raw)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ClusterArn", "arn:aws:sagemaker:us-east-1:123456789012:cluster/NOT-VALID"),
        ("ClusterName", "-starts-with-a-dash"),
        ("ClusterName", "x" * 64),
    ],
)
def test_bad_cluster_names_and_arns_are_rejected(field: str, value: str) -> None:
    raw = load_event("node-health-unhealthy.json")
    raw["detail"][field] = value
    with pytest.raises(ValidationError, match=field):
        NodeHealthEvent.model_validate(raw)


def test_bad_node_logical_id_is_rejected() -> None:
    raw = cluster_event()
    raw["detail"]["EventDetails"]["EventMetadata"]["Instance"]["NodeLogicalId"] = "-bad-"
    with pytest.raises(ValidationError, match="NodeLogicalId"):
        ClusterEvent.model_validate(raw)


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_optional_ids_mean_absent(blank: str) -> None:
    raw = cluster_event(InstanceId=blank)
    raw["detail"]["EventDetails"]["EventMetadata"]["Instance"]["NodeLogicalId"] = blank
    details = ClusterEvent.model_validate(raw).detail.event_details
    assert details.instance_id is None
    assert details.instance is not None and details.instance.node_logical_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1748794825350, datetime(2025, 6, 1, 16, 20, 25, 350000, tzinfo=UTC)),
        ("1748794825350", datetime(2025, 6, 1, 16, 20, 25, 350000, tzinfo=UTC)),
        (1748794825350.0, datetime(2025, 6, 1, 16, 20, 25, 350000, tzinfo=UTC)),
        ("2025-06-01T18:20:25+02:00", datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC)),
        ("2025-06-01T16:20:25", datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC)),
    ],
)
def test_cluster_event_time_is_epoch_milliseconds_and_always_utc(value: Any, expected: datetime) -> None:
    event_time = ClusterEvent.model_validate(cluster_event(EventTime=value)).detail.event_details.event_time
    assert event_time == expected and event_time.tzinfo is UTC


@pytest.mark.parametrize("value", [True, 10**30, float("inf"), float("nan"), "yesterday", None, [1]])
def test_cluster_event_time_out_of_range_or_wrong_type_is_an_error(value: Any) -> None:
    with pytest.raises(ValidationError, match="EventTime"):
        ClusterEvent.model_validate(cluster_event(EventTime=value))


def test_cluster_event_enums_are_case_insensitive() -> None:
    details = ClusterEvent.model_validate(
        cluster_event(EventLevel="error", ResourceType="INSTANCE")
    ).detail.event_details
    assert (details.event_level, details.resource_type) == (EventLevel.ERROR, ResourceType.INSTANCE)


def test_health_event_strings_become_typed_values() -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    raw["detail"].update(page="2", totalPages="3")
    detail = HealthEvent.model_validate(raw).detail
    assert (detail.page, detail.total_pages, detail.backup_event) == (2, 3, False)
    assert detail.start_time == datetime(2025, 6, 15, 8, 0, tzinfo=UTC)
    assert detail.description.startswith("EC2 has detected degradation")


def test_health_start_time_may_be_iso_and_is_utc() -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    raw["detail"]["startTime"] = "2025-06-15T10:00:00+02:00"
    assert HealthEvent.model_validate(raw).detail.start_time == datetime(2025, 6, 15, 8, 0, tzinfo=UTC)


def test_health_description_prefers_english() -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    raw["detail"]["eventDescription"] = [
        {"language": "ja_JP", "latestDescription": "インスタンスの廃止"},
        {"language": "en_US", "latestDescription": "Instance retirement"},
    ]
    assert HealthEvent.model_validate(raw).detail.description == "Instance retirement"


def test_alarm_reason_data_json_string_is_decoded() -> None:
    detail = AlarmStateChange.model_validate(load_event("alarm-alarm-instance-dimension.json")).detail
    assert detail.state.reason_data is not None
    assert detail.state.reason_data["recentDatapoints"] == [3.0]


@pytest.mark.parametrize("reason_data", ["{not json", "[1, 2]", '"a string"'])
def test_alarm_reason_data_that_is_not_a_json_object_is_dropped_not_fatal(reason_data: str) -> None:
    raw = load_event("alarm-alarm-instance-dimension.json")
    raw["detail"]["state"]["reasonData"] = reason_data
    assert AlarmStateChange.model_validate(raw).detail.state.reason_data is None


def test_alarm_dimension_values_are_distinct_and_ordered() -> None:
    raw = load_event("alarm-alarm-instance-dimension.json")
    metric = raw["detail"]["configuration"]["metrics"][0]
    raw["detail"]["configuration"]["metrics"] = [metric, metric, {"id": "e1", "expression": "m1*2"}]
    detail = AlarmStateChange.model_validate(raw).detail
    assert detail.dimension_values("InstanceId") == ["i-0a1b2c3d4e5f60718"]
    assert detail.dimension_values("Nope") == []
