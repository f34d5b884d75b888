"""The parser models: lenient where AWS is vague, strict about ids, UTC everywhere."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from aws_lambda_powertools.utilities.parser.models import (
    CloudWatchLogsDecode,
    CloudWatchLogsLogEvent,
    EventBridgeModel,
)
from pydantic import BaseModel, ValidationError

from autoheal.faults import RepairAction
from autoheal.intake import ROUTES, hma_records, logs
from autoheal.intake.alarm_models import AlarmStateChange
from autoheal.intake.lenient import dropped_fields
from autoheal.intake.models import (
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


def _shape(model: type[BaseModel]) -> list[tuple[str, str | None]]:
    return [(name, info.alias) for name, info in model.model_fields.items()]


@pytest.mark.parametrize("model", [NodeHealthEvent, ClusterEvent, HealthEvent, AlarmStateChange])
def test_models_have_the_powertools_eventbridge_envelope(model: type[BaseModel]) -> None:
    """Declared here (Powertools' parser models cost a cold start), with the same fields and aliases."""
    assert _shape(model) == _shape(EventBridgeModel)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (logs.CloudWatchLogsDecode, CloudWatchLogsDecode),
        (logs.CloudWatchLogsLogEvent, CloudWatchLogsLogEvent),
    ],
)
def test_logs_models_have_the_powertools_shape(ours: type[BaseModel], theirs: type[BaseModel]) -> None:
    def shape(model: type[BaseModel]) -> dict[str, tuple[str, bool]]:
        unqualified = (
            re.sub(r"[\w.]+\.(\w+)", r"\1", str(f.annotation)) for f in model.model_fields.values()
        )
        required = (f.is_required() for f in model.model_fields.values())
        return dict(zip(model.model_fields, zip(unqualified, required, strict=True), strict=True))

    assert shape(ours) == shape(theirs)


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
def test_a_bad_cluster_name_or_arn_beside_a_usable_identity_is_dropped_and_recorded(
    field: str, value: str
) -> None:
    """Issue 16 changed this: an unusable optional cluster id no longer rejects the event when another
    identity is usable; the drop is recorded on the model (and logged and counted by intake)."""
    raw = load_event("node-health-unhealthy.json")
    raw["detail"][field] = value
    event = NodeHealthEvent.model_validate(raw)
    assert getattr(event.detail, "cluster_arn" if field == "ClusterArn" else "cluster_name") is None
    assert list(event.detail.dropped) == [field]
    assert [(d.field, d.path) for d in dropped_fields(event)] == [(field, f"detail.{field}")]


def test_no_usable_cluster_identity_at_all_is_rejected_and_says_what_was_dropped() -> None:
    raw = load_event("node-health-unhealthy.json")
    raw["detail"].update(ClusterName="-bad-", ClusterArn="<cluster-arn>")
    raw["resources"] = ["arn:aws:sagemaker:us-west-2:111122223333:cluster/sample-cluster"]
    with pytest.raises(
        ValidationError, match=r"no usable ClusterName.*ClusterName dropped.*ClusterArn dropped"
    ):
        NodeHealthEvent.model_validate(raw)


def test_an_unusable_detail_arn_falls_back_to_the_one_in_resources() -> None:
    raw = load_event("cluster-event-replacement-failed.json")
    raw["detail"]["EventDetails"].update(ClusterName="-bad-", ClusterArn="<cluster-arn>")
    event = ClusterEvent.model_validate(raw)
    assert event.cluster() == (None, "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345")


def test_bad_node_logical_id_beside_an_instance_id_is_dropped() -> None:
    """Issue 16 changed this: the instance id names the node, so the logical id is optional here."""
    raw = cluster_event()
    raw["detail"]["EventDetails"]["EventMetadata"]["Instance"]["NodeLogicalId"] = "-bad-"
    details = ClusterEvent.model_validate(raw).detail.event_details
    assert details.instance is not None and details.instance.node_logical_id is None
    assert details.instance.dropped.keys() == {"NodeLogicalId"}


def test_bad_node_logical_id_that_is_the_only_id_of_the_node_is_rejected() -> None:
    raw = cluster_event(InstanceId=None)
    raw["detail"]["EventDetails"]["EventMetadata"]["Instance"]["NodeLogicalId"] = "-bad-"
    with pytest.raises(ValidationError, match="NodeLogicalId"):
        ClusterEvent.model_validate(raw)


@pytest.mark.parametrize("shape", ["flat", "nested", "both"])
def test_cluster_event_metadata_is_read_flat_or_nested_and_the_documented_nested_one_wins(shape: str) -> None:
    raw = cluster_event()
    details = raw["detail"]["EventDetails"]
    flat = details.pop("EventMetadata")
    nested = {"Instance": {**flat["Instance"], "NodeLogicalId": "nested-logical-id"}}
    if shape in ("flat", "both"):
        details["EventMetadata"] = flat
    if shape in ("nested", "both"):
        details["EventDetails"] = {"EventMetadata": nested}
    instance = ClusterEvent.model_validate(raw).detail.event_details.instance
    assert instance is not None
    expected = "worker-group-1-3f2a9c1e7b4d" if shape == "flat" else "nested-logical-id"
    assert instance.node_logical_id == expected


def test_nested_metadata_that_is_null_falls_back_to_the_flat_one() -> None:
    raw = cluster_event()
    raw["detail"]["EventDetails"]["EventDetails"] = {"EventMetadata": None}
    instance = ClusterEvent.model_validate(raw).detail.event_details.instance
    assert instance is not None and instance.node_logical_id == "worker-group-1-3f2a9c1e7b4d"


@pytest.mark.parametrize("level", [None, "Critical", "", 3])
def test_missing_or_unknown_event_level_is_unknown_not_an_error(level: Any) -> None:
    raw = cluster_event()
    if level is None:
        del raw["detail"]["EventDetails"]["EventLevel"]
    else:
        raw["detail"]["EventDetails"]["EventLevel"] = level
    assert ClusterEvent.model_validate(raw).detail.event_details.event_level is EventLevel.UNKNOWN


@pytest.mark.parametrize("key", ["resources", "version", "account", "region"])
def test_envelope_fields_intake_does_not_use_may_be_missing(key: str) -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    del raw[key]
    assert HealthEvent.model_validate(raw).resources == ([] if key == "resources" else raw["resources"])


@pytest.mark.parametrize("key", ["id", "time", "source", "detail-type", "detail"])
def test_envelope_fields_intake_uses_are_required(key: str) -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    del raw[key]
    with pytest.raises(ValidationError):
        HealthEvent.model_validate(raw)


def test_health_detail_needs_only_service_event_type_code_and_entities() -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    raw["detail"] = {
        "service": "EC2",
        "eventTypeCode": "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
        "affectedEntities": [{"entityValue": "i-0f9e8d7c6b5a43210"}],
    }
    detail = HealthEvent.model_validate(raw).detail
    assert (detail.status_code, detail.event_type_category, detail.page, detail.backup_event) == (
        None,
        "",
        1,
        False,
    )


@pytest.mark.parametrize(
    ("field", "value", "default"),
    [
        ("startTime", "sometime soon", None),
        ("page", "first", 1),
        ("totalPages", 0, 1),
        ("statusCode", 7, None),
    ],
)
def test_unusable_optional_health_fields_are_dropped(field: str, value: Any, default: Any) -> None:
    raw = load_event("health-ec2-retirement-arn.json")
    raw["detail"][field] = value
    event = HealthEvent.model_validate(raw)
    assert [d.field for d in dropped_fields(event)] == [field]
    assert (
        getattr(
            event.detail,
            {"startTime": "start_time", "page": "page", "totalPages": "total_pages"}.get(
                field, "status_code"
            ),
        )
        == default
    )


def every_intake_model() -> set[type[BaseModel]]:
    """Every model a route parses with, and every model nested in one, and the HMA record models."""
    seen: set[type[BaseModel]] = set()
    todo: list[Any] = [route.model for route in ROUTES.values()]
    todo += [m for m in vars(hma_records).values() if isinstance(m, type) and issubclass(m, BaseModel)]
    while todo:
        item = todo.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.add(item)
            todo.extend(f.annotation for f in item.model_fields.values())
        todo.extend(get_args(item))
    return seen


def test_every_intake_model_ignores_unknown_fields() -> None:
    models = every_intake_model()
    assert {m.__name__ for m in models} >= {
        "EventMetadata",
        "InstanceMetadata",
        "NestedEventDetails",
        "_NpdRecord",
    }
    # "ignore" drops unknown fields, "allow" keeps them (MuteDetail: any block is a mute); none refuses them.
    assert [m.__name__ for m in models if m.model_config.get("extra", "ignore") == "forbid"] == []


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
