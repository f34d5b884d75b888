"""normalise(): one behaviour per rule, driven by the sample events in events/."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoheal.faults import FaultSource, NodeFault, RepairAction, Severity
from autoheal.intake import ROUTES, IgnoreReason, Intake, normalise
from autoheal.intake.rules.health import instance_id_of
from autoheal.intake.wiring import rule_config
from autoheal.settings import Settings
from hyperpod_local.stack.template import INTAKE_FUNCTION, load_template, template_properties
from tests.fixtures import REPLAY_ONLY_ROUTES

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = Settings()
CLUSTER_ARN = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345"
NODE_A = "i-0a1b2c3d4e5f60718"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def run(event: dict[str, Any], settings: Settings = SETTINGS) -> Intake:
    return normalise(event, rule_config(settings))


def only_fault(intake: Intake) -> NodeFault:
    assert intake.rejected is None, intake.rejected
    assert len(intake.faults) == 1, intake
    return intake.faults[0]


def reasons(intake: Intake) -> list[str]:
    return [str(i.reason) for i in intake.ignored]


# ---------------------------------------------------------------- every sample event


@dataclass(frozen=True)
class Expect:
    signals: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    rejected: str | None = None


EXPECTED = {
    "node-health-unhealthy.json": Expect(signals=["NvidiaErrorTerminate"]),
    "node-health-healthy.json": Expect(ignored=["healthy_transition"]),
    "cluster-event-replacement-failed.json": Expect(signals=["ReplacementFailed"]),
    "cluster-event-insufficient-capacity.json": Expect(signals=["InsufficientCapacity"]),
    "cluster-event-info.json": Expect(ignored=["info_level"]),
    "cluster-event-null-instance-metadata.json": Expect(signals=["RebootFailed"]),
    "cluster-event-lost-orchestration-ready.json": Expect(ignored=["noise_lost_orchestration_ready"]),
    "cluster-event-hma-node-health.json": Expect(signals=["NvidiaErrorReboot"]),
    "cluster-state-change.json": Expect(ignored=["state_change"]),
    "health-ec2-retirement-arn.json": Expect(signals=["AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"]),
    "health-ec2-instance-store-two-entities.json": Expect(
        signals=["AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"] * 2
    ),
    "health-backup-copy.json": Expect(ignored=["health_backup_copy"]),
    "alarm-alarm-instance-dimension.json": Expect(signals=["autoheal:gpu-xid-errors-ml-cluster-node-a"]),
    "alarm-ok-transition.json": Expect(ignored=["alarm_not_alarm_state"]),
    "alarm-name-convention.json": Expect(signals=["autoheal:ml-cluster:i-0d4c2b1a0f9e8d7c6"]),
    "alarm-contributor-hma-stream.json": Expect(signals=["autoheal:hma-detections-hyperpod-autoheal"]),
    "malformed-node-health.json": Expect(rejected="malformed:SageMaker HyperPod Cluster Node Health Event"),
    # the documented nested metadata shape, and real shapes issue 16 found rejected
    "cluster-event-replacement-failed-nested.json": Expect(signals=["ReplacementFailed"]),
    "cluster-event-insufficient-capacity-nested.json": Expect(signals=["InsufficientCapacity"]),
    "cluster-event-info-nested.json": Expect(ignored=["info_level"]),
    "cluster-event-null-instance-metadata-nested.json": Expect(signals=["RebootFailed"]),
    "cluster-event-lost-orchestration-ready-nested.json": Expect(ignored=["noise_lost_orchestration_ready"]),
    "cluster-event-hma-node-health-nested.json": Expect(signals=["NvidiaErrorReboot"]),
    "cluster-event-insufficient-capacity-documented.json": Expect(signals=["InsufficientCapacity"]),
    "cluster-event-no-level.json": Expect(signals=["InsufficientCapacity"]),
    "health-no-status-code.json": Expect(signals=["AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"] * 2),
    "health-retirement-no-resources.json": Expect(signals=["AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"]),
    "node-health-placeholder-arn.json": Expect(signals=["NvidiaErrorTerminate"]),
}


def test_every_sample_event_has_an_expectation_and_a_readme_entry() -> None:
    files = {p.name for p in EVENTS.glob("*.json")}
    assert files == set(EXPECTED)
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    assert [name for name in sorted(files) if f"`{name}`" not in readme] == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_event_normalises_as_documented(name: str) -> None:
    intake = run(load_event(name))
    expect = EXPECTED[name]
    assert [f.signal for f in intake.faults] == expect.signals
    assert reasons(intake) == expect.ignored
    assert (intake.rejected.reason if intake.rejected else None) == expect.rejected
    assert intake.event_id == load_event(name)["id"]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.signals))
def test_faults_are_utc_and_round_trip_through_json(name: str) -> None:
    for fault in run(load_event(name)).faults:
        assert fault.observed_at.tzinfo is UTC
        assert NodeFault.model_validate_json(fault.model_dump_json()) == fault


def test_routes_cover_exactly_what_the_template_subscribes_intake_to_and_health_for_replay() -> None:
    events = template_properties(load_template(), INTAKE_FUNCTION)["Events"]
    subscribed = {
        (source, detail_type)
        for rule in events.values()
        if rule["Type"] == "EventBridgeRule"
        for branch in rule["Properties"]["Pattern"].get("$or", [rule["Properties"]["Pattern"]])
        for source in branch["source"]
        for detail_type in branch["detail-type"]
    }
    assert subscribed == set(ROUTES) - REPLAY_ONLY_ROUTES
    assert set(ROUTES) >= REPLAY_ONLY_ROUTES  # still parsed: `autoheal replay` of a Health event


# ---------------------------------------------------------------- node health event


def test_unhealthy_node_is_one_error_fault_with_the_hma_fault_type() -> None:
    fault = only_fault(run(load_event("node-health-unhealthy.json")))
    assert fault.signal == "NvidiaErrorTerminate"
    assert fault.severity is Severity.ERROR
    assert fault.source is FaultSource.NODE_HEALTH
    assert fault.repair_action is RepairAction.NONE
    assert (fault.cluster_name, fault.cluster_arn, fault.instance_id) == ("ml-cluster", CLUSTER_ARN, NODE_A)
    assert fault.source_event_id == "0b1c5d2e-7f3a-4a9b-8c6d-1e2f3a4b5c6d"
    assert fault.observed_at == datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC)
    assert "Please Replace the Faulty Node." in fault.reason


def test_unhealthy_node_without_a_fault_type_in_its_reason_signals_node_unhealthy() -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"]["HealthSummary"]["HealthStatusReason"] = "The node failed a basic health check."
    assert only_fault(run(event)).signal == "NodeUnhealthy"


@pytest.mark.parametrize("status", ["Unhealthy", "unhealthy", "UNHEALTHY", " Unhealthy "])
def test_health_status_is_read_case_insensitively(status: str) -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"]["HealthSummary"]["HealthStatus"] = status
    assert only_fault(run(event)).instance_id == NODE_A


@pytest.mark.parametrize("status", ["Healthy", "healthy", "HEALTHY"])
def test_node_back_to_healthy_is_ignored(status: str) -> None:
    event = load_event("node-health-healthy.json")
    event["detail"]["HealthSummary"]["HealthStatus"] = status
    intake = run(event)
    assert intake.faults == [] and reasons(intake) == ["healthy_transition"]


def test_unknown_health_status_is_ignored_and_named() -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"]["HealthSummary"]["HealthStatus"] = "Degraded"
    intake = run(event)
    assert intake.faults == []
    assert [(str(i.reason), i.subject) for i in intake.ignored] == [("unknown_health_status", "Degraded")]


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("None", RepairAction.NONE),
        ("Replace", RepairAction.REPLACE),
        ("replace", RepairAction.REPLACE),
        ("REBOOT", RepairAction.REBOOT),
        ("Terminate", RepairAction.UNKNOWN),
        ("", RepairAction.UNKNOWN),
    ],
)
def test_repair_action_is_lenient_and_unknown_spellings_are_unknown(
    spelling: str, expected: RepairAction
) -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"]["HealthSummary"]["RepairAction"] = spelling
    assert only_fault(run(event)).repair_action is expected


def test_missing_repair_action_is_none() -> None:
    event = load_event("node-health-unhealthy.json")
    del event["detail"]["HealthSummary"]["RepairAction"]
    assert only_fault(run(event)).repair_action is None


def test_node_health_cluster_falls_back_to_the_arn_in_resources() -> None:
    event = load_event("node-health-unhealthy.json")
    del event["detail"]["ClusterName"], event["detail"]["ClusterArn"]
    fault = only_fault(run(event))
    assert (fault.cluster_name, fault.cluster_arn) == (None, CLUSTER_ARN)


def test_node_health_naming_no_cluster_at_all_is_rejected() -> None:
    event = load_event("node-health-unhealthy.json")
    del event["detail"]["ClusterName"], event["detail"]["ClusterArn"]
    event["resources"] = []
    intake = run(event)
    assert intake.rejected is not None and "ClusterArn" in intake.rejected.message


def test_node_health_instance_group_is_kept_when_present() -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"]["InstanceGroupName"] = "worker-group-1"
    assert only_fault(run(event)).instance_group == "worker-group-1"


def test_naive_envelope_time_is_taken_as_utc() -> None:
    event = load_event("node-health-unhealthy.json")
    event["time"] = "2025-06-01T16:20:25"
    assert only_fault(run(event)).observed_at == datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC)


# ---------------------------------------------------------------- cluster event


def cluster_event(**details: Any) -> dict[str, Any]:
    event = load_event("cluster-event-replacement-failed.json")
    event["detail"]["EventDetails"].update(details)
    return event


def test_cluster_event_error_on_an_instance_is_a_fault_keyed_by_its_event_id() -> None:
    fault = only_fault(run(load_event("cluster-event-replacement-failed.json")))
    assert fault.source is FaultSource.CLUSTER_EVENT
    assert fault.signal == "ReplacementFailed"
    assert fault.severity is Severity.ERROR
    assert fault.instance_id == "i-0f9e8d7c6b5a43210"
    assert fault.node_logical_id == "worker-group-1-3f2a9c1e7b4d"
    assert fault.instance_group == "worker-group-1"
    assert fault.source_event_id == "4e1c7a52-93b8-4d0f-a6e2-5b9c8d7f1a30"


def test_cluster_event_time_is_epoch_milliseconds_in_utc() -> None:
    fault = only_fault(run(load_event("cluster-event-replacement-failed.json")))
    assert fault.observed_at == datetime(2025, 6, 1, 16, 20, 25, 350000, tzinfo=UTC)


def test_cluster_event_time_may_also_be_an_iso_string() -> None:
    fault = only_fault(run(cluster_event(EventTime="2025-06-01T16:20:25Z")))
    assert fault.observed_at == datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC)


def test_cluster_event_without_event_id_falls_back_to_the_envelope_id() -> None:
    event = load_event("cluster-event-replacement-failed.json")
    del event["detail"]["EventDetails"]["EventId"]
    assert only_fault(run(event)).source_event_id == event["id"]


@pytest.mark.parametrize("level", ["Warn", "warn", "WARN"])
def test_cluster_event_warn_is_a_warning_fault(level: str) -> None:
    assert only_fault(run(cluster_event(EventLevel=level))).severity is Severity.WARNING


@pytest.mark.parametrize("level", ["Info", "INFO"])
def test_cluster_event_info_is_ignored(level: str) -> None:
    assert reasons(run(cluster_event(EventLevel=level))) == ["info_level"]


@pytest.mark.parametrize("resource_type", ["Cluster", "InstanceGroup"])
def test_cluster_event_not_about_an_instance_is_ignored(resource_type: str) -> None:
    assert reasons(run(cluster_event(ResourceType=resource_type))) == ["not_instance_scope"]


def test_lost_orchestration_ready_warning_is_ignored_as_noise() -> None:
    intake = run(load_event("cluster-event-lost-orchestration-ready.json"))
    assert intake.faults == [] and reasons(intake) == ["noise_lost_orchestration_ready"]


def test_lost_orchestration_ready_at_error_level_is_still_a_fault() -> None:
    event = load_event("cluster-event-lost-orchestration-ready.json")
    event["detail"]["EventDetails"]["EventLevel"] = "Error"
    assert only_fault(run(event)).signal == "ClusterEventError"


def test_cluster_event_naming_no_node_is_ignored() -> None:
    event = cluster_event(InstanceId="")
    event["detail"]["EventDetails"]["EventMetadata"] = {"Instance": {"FailureMessage": "boom"}}
    assert reasons(run(event)) == ["no_node"]


def test_cluster_event_with_only_a_logical_id_is_a_fault_on_that_node() -> None:
    fault = only_fault(run(load_event("cluster-event-insufficient-capacity.json")))
    assert (fault.instance_id, fault.node_logical_id) == (None, "p5Inst-7c1e4b2a9d3f")


@pytest.mark.parametrize("metadata", [{"Instance": None}, None, "absent"])
def test_cluster_event_tolerates_null_or_missing_metadata(metadata: Any) -> None:
    event = load_event("cluster-event-null-instance-metadata.json")
    if metadata == "absent":
        del event["detail"]["EventDetails"]["EventMetadata"]
    else:
        event["detail"]["EventDetails"]["EventMetadata"] = metadata
    fault = only_fault(run(event))
    assert (fault.signal, fault.node_logical_id) == ("RebootFailed", None)


@pytest.mark.parametrize(
    ("description", "signal"),
    [
        (
            "Instance i-0f9e8d7c6b5a43210 failed as part of instance replacement in Cluster c.",
            "ReplacementFailed",
        ),
        ("Failed to submit reboot request for EC2 Instance i-0f9e8d7c6b5a43210.", "RebootFailed"),
        ("Failed to terminate EC2 Instance i-0f9e8d7c6b5a43210 in Cluster c.", "TerminationFailed"),
        ("Failed to provision EC2 Instance in Cluster c and InstanceGroup g.", "ProvisioningFailed"),
        ("Instance creation in Cluster c and InstanceGroup g failed", "ProvisioningFailed"),
        (
            "Lifecycle script on i-0f9e8d7c6b5a43210 has Failed. To view lifecycle script logs ...",
            "LifecycleScriptFailed",
        ),
        # Only a failed script is of the lifecycle-script failure family (AWS's own example "has Started").
        (
            "Instance lifecycle script execution for EC2InstanceId i-0f9e8d7c6b5a43210 has Started",
            "ClusterEventError",
        ),
        ("Something new and unexpected happened.", "ClusterEventError"),
        ("", "ClusterEventError"),
    ],
)
def test_cluster_event_signal_comes_from_the_description_family(description: str, signal: str) -> None:
    event = cluster_event(Description=description)
    event["detail"]["EventDetails"]["EventMetadata"] = {"Instance": {"NodeLogicalId": "n-1"}}
    assert only_fault(run(event)).signal == signal


@pytest.mark.parametrize(
    "message",
    [
        "We currently do not have sufficient capacity to launch new ml.p5.48xlarge instances. Please try again.",
        "InsufficientInstanceCapacity: Insufficient capacity.",
    ],
)
def test_capacity_failure_message_wins_over_the_description_family(message: str) -> None:
    event = cluster_event()
    event["detail"]["EventDetails"]["EventMetadata"]["Instance"]["FailureMessage"] = message
    assert only_fault(run(event)).signal == "InsufficientCapacity"


def test_hma_node_health_info_in_a_cluster_event_gives_signal_and_repair_action() -> None:
    fault = only_fault(run(load_event("cluster-event-hma-node-health.json")))
    assert (fault.signal, fault.repair_action, fault.severity) == (
        "NvidiaErrorReboot",
        RepairAction.REBOOT,
        Severity.WARNING,
    )


def test_hma_node_health_info_reporting_healthy_is_ignored() -> None:
    event = load_event("cluster-event-hma-node-health.json")
    event["detail"]["EventDetails"]["EventMetadata"]["Instance"]["NodeHealthInfo"]["HealthStatus"] = "Healthy"
    assert reasons(run(event)) == ["healthy_transition"]


@pytest.mark.parametrize("level", ["Critical", None, "absent"])
def test_cluster_event_with_unknown_level_describing_a_failure_is_a_warning_fault(level: Any) -> None:
    """Issue 16 changed this (an unknown level was rejected): a missing or unknown level is classified."""
    event = cluster_event(EventLevel=level)
    if level == "absent":
        del event["detail"]["EventDetails"]["EventLevel"]
    fault = only_fault(run(event))
    assert (fault.signal, fault.severity) == ("ReplacementFailed", Severity.WARNING)


@pytest.mark.parametrize(
    ("description", "failure_message"),
    [
        ("Something new and unexpected failed on EC2 Instance i-0f9e8d7c6b5a43210.", None),
        ("Instance update in Cluster c.", "Instance failed health checks after launch."),
        ("Something new happened.", "We currently do not have sufficient capacity. Please try again."),
    ],
)
def test_cluster_event_without_level_is_a_fault_when_anything_says_it_failed(
    description: str, failure_message: str | None
) -> None:
    event = cluster_event(Description=description)
    del event["detail"]["EventDetails"]["EventLevel"]
    event["detail"]["EventDetails"]["EventMetadata"]["Instance"]["FailureMessage"] = failure_message
    assert len(run(event).faults) == 1


@pytest.mark.parametrize(
    "description",
    [
        "EC2 Instance i-0f9e8d7c6b5a43210 successfully provisioned in Cluster c and InstanceGroup g.",
        "Instance i-0f9e8d7c6b5a43210 is starting as part of instance replacement in Cluster c.",
        "Instance i-0f9e8d7c6b5a43210 in Cluster c lost orchestration-ready status.",
    ],
)
def test_cluster_event_without_level_that_describes_no_failure_is_ignored(description: str) -> None:
    event = cluster_event(Description=description)
    del event["detail"]["EventDetails"]["EventLevel"]
    event["detail"]["EventDetails"]["EventMetadata"] = None
    assert reasons(run(event)) == ["unknown_level_not_a_failure"]


def test_cluster_event_without_level_with_unhealthy_hma_info_is_a_fault() -> None:
    event = load_event("cluster-event-hma-node-health-nested.json")
    del event["detail"]["EventDetails"]["EventLevel"]
    assert only_fault(run(event)).signal == "NvidiaErrorReboot"


def test_documented_capacity_example_is_insufficient_capacity_on_its_node_in_its_named_cluster() -> None:
    intake = run(load_event("cluster-event-insufficient-capacity-documented.json"))
    fault = only_fault(intake)
    assert (fault.signal, fault.instance_id, fault.node_logical_id, fault.instance_group) == (
        "InsufficientCapacity",
        "i-0391f86fa0fe0d465",
        "df268d19-f035-4f28-9b80-b956b92ae21e",
        "p5Inst",
    )
    # its ARN (`cluster/sample-cluster`) is a placeholder, in the detail and in resources: dropped
    assert (fault.cluster_name, fault.cluster_arn) == ("sample-cluster", None)
    assert [(d.field, d.path) for d in intake.dropped] == [("ClusterArn", "detail.EventDetails.ClusterArn")]
    assert fault.source_event_id == "83ea0bb5-be77-45e8-a458-0a87f778a205"


def test_cluster_state_change_is_never_a_fault() -> None:
    event = load_event("cluster-state-change.json")
    event["detail"]["ClusterStatus"] = "Failed"
    intake = run(event)
    assert intake.faults == [] and reasons(intake) == ["state_change"]


# ---------------------------------------------------------------- AWS Health


def health(**detail: Any) -> dict[str, Any]:
    event = load_event("health-ec2-instance-store-two-entities.json")
    event["detail"].update(detail)
    return event


def test_health_event_is_one_fault_per_instance_entity_with_unknown_cluster() -> None:
    intake = run(load_event("health-ec2-instance-store-two-entities.json"))
    assert [f.instance_id for f in intake.faults] == ["i-07c3e1b9a5d2f4086", "i-0d4c2b1a0f9e8d7c6"]
    for fault in intake.faults:
        assert fault.cluster_ref is None
        assert fault.source is FaultSource.AWS_HEALTH
        assert fault.severity is Severity.ERROR  # eventTypeCategory "issue"
        assert "instance store volumes" in fault.reason
    assert len({f.source_event_id for f in intake.faults}) == 2
    assert len({f.dedupe_key for f in intake.faults}) == 2


def test_health_entity_given_as_an_instance_arn_yields_its_instance_id() -> None:
    fault = only_fault(run(load_event("health-ec2-retirement-arn.json")))
    assert fault.instance_id == "i-0f9e8d7c6b5a43210"
    assert fault.severity is Severity.WARNING  # scheduledChange
    assert fault.source_event_id.endswith("/i-0f9e8d7c6b5a43210")


@pytest.mark.parametrize("service", ["S3", "SAGEMAKER", ""])
def test_health_event_for_another_service_is_ignored(service: str) -> None:
    assert reasons(run(health(service=service))) == ["health_not_ec2"]


@pytest.mark.parametrize("backup", ["true", True, "True"])
def test_health_backup_copy_is_ignored(backup: Any) -> None:
    assert reasons(run(health(backupEvent=backup))) == ["health_backup_copy"]


@pytest.mark.parametrize("status", ["closed", "resolved-ish"])
def test_health_event_not_open_or_upcoming_is_ignored(status: str) -> None:
    assert reasons(run(health(statusCode=status))) == ["closed_health_event"]


@pytest.mark.parametrize("status", ["open", "upcoming", "OPEN"])
def test_health_event_open_or_upcoming_is_a_fault(status: str) -> None:
    assert len(run(health(statusCode=status)).faults) == 2


def test_health_entities_that_are_not_instances_are_ignored_beside_the_faults() -> None:
    event = health(
        affectedEntities=[
            {"entityValue": "vol-0123456789abcdef0"},
            {"entityValue": "i-07c3e1b9a5d2f4086", "status": "IMPAIRED"},
        ]
    )
    intake = run(event)
    assert [f.instance_id for f in intake.faults] == ["i-07c3e1b9a5d2f4086"]
    assert [(str(i.reason), i.subject) for i in intake.ignored] == [("no_node", "vol-0123456789abcdef0")]


@pytest.mark.parametrize("status", ["RESOLVED", "UNIMPAIRED", "resolved"])
def test_health_entity_already_resolved_is_ignored(status: str) -> None:
    event = health(affectedEntities=[{"entityValue": "i-07c3e1b9a5d2f4086", "status": status}])
    assert reasons(run(event)) == ["health_entity_resolved"]


def test_health_event_without_entities_is_ignored() -> None:
    assert reasons(run(health(affectedEntities=[]))) == ["no_node"]


def test_the_same_instance_listed_twice_is_one_fault() -> None:
    event = health(
        affectedEntities=[
            {"entityValue": "i-07c3e1b9a5d2f4086"},
            {"entityValue": "arn:aws:ec2:us-east-1:123456789012:instance/i-07c3e1b9a5d2f4086"},
        ]
    )
    intake = run(event)
    assert len(intake.faults) == 1 and reasons(intake) == ["duplicate_in_event"]


def test_health_pages_and_strings_are_accepted_per_page() -> None:
    intake = run(health(page="2", totalPages="3", startTime="Sun, 1 Jun 2025 15:51:00 GMT"))
    assert len(intake.faults) == 2


def test_health_start_time_that_is_not_a_date_is_dropped_not_fatal() -> None:
    """Issue 16 changed this (it was rejected): nothing acts on startTime."""
    intake = run(health(startTime="sometime soon"))
    assert len(intake.faults) == 2
    assert [(d.field, d.path) for d in intake.dropped] == [("startTime", "detail.startTime")]


@pytest.mark.parametrize("category", ["issue", "scheduledChange", "ISSUE"])
def test_health_event_without_status_code_is_open_for_issues_and_scheduled_changes(category: str) -> None:
    event = health(eventTypeCategory=category)
    del event["detail"]["statusCode"]
    assert len(run(event).faults) == 2


@pytest.mark.parametrize("category", ["accountNotification", "investigation", "absent"])
def test_health_event_without_status_code_of_another_category_is_ignored(category: str) -> None:
    event = health(eventTypeCategory=category)
    del event["detail"]["statusCode"]
    if category == "absent":
        del event["detail"]["eventTypeCategory"]
    assert reasons(run(event)) == ["health_status_unknown"]


@pytest.mark.parametrize(
    ("entity", "instance_id"),
    [
        ("i-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60718"),
        ("i-abcd1111", "i-abcd1111"),
        ("arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60718"),
        ("arn:aws-cn:ec2:cn-north-1:123456789012:instance/i-0a1b2c3d4e5f60718", "i-0a1b2c3d4e5f60718"),
        ("arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0", None),
        ("vol-0123456789abcdef0", None),
        ("i-XYZ", None),
        ("i-0a1b2c3d4e5f6071", None),  # 16 hex digits
        ("i-abcd1111\n", None),
        ("", None),
    ],
)
def test_instance_id_of_accepts_bare_ids_and_instance_arns_only(entity: str, instance_id: str | None) -> None:
    assert instance_id_of(entity) == instance_id


# ---------------------------------------------------------------- CloudWatch alarms


def alarm(name: str = "alarm-alarm-instance-dimension.json") -> dict[str, Any]:
    return load_event(name)


def set_dimensions(event: dict[str, Any], *dimension_sets: dict[str, str]) -> dict[str, Any]:
    template = event["detail"]["configuration"]["metrics"][0]
    metrics = []
    for i, dims in enumerate(dimension_sets):
        metric = copy.deepcopy(template)
        metric["id"] = f"m{i}"
        metric["metricStat"]["metric"]["dimensions"] = dims
        metrics.append(metric)
    event["detail"]["configuration"]["metrics"] = metrics
    return event


def test_alarm_entering_alarm_is_a_fault_on_the_instance_dimension() -> None:
    fault = only_fault(run(alarm()))
    assert fault.source is FaultSource.CLOUDWATCH_ALARM
    assert (fault.instance_id, fault.cluster_name) == (NODE_A, "ml-cluster")
    assert fault.signal == "autoheal:gpu-xid-errors-ml-cluster-node-a"
    assert fault.reason.startswith("Threshold Crossed")


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_alarm_not_in_alarm_state_is_ignored(state: str) -> None:
    event = alarm()
    event["detail"]["state"]["value"] = state
    assert reasons(run(event)) == ["alarm_not_alarm_state"]


def test_alarm_staying_in_alarm_is_ignored() -> None:
    event = alarm()
    event["detail"]["previousState"]["value"] = "ALARM"
    assert reasons(run(event)) == ["alarm_already_in_alarm"]


def test_alarm_without_previous_state_is_a_fault() -> None:
    event = alarm()
    del event["detail"]["previousState"]
    assert only_fault(run(event)).instance_id == NODE_A


def test_alarm_name_convention_names_cluster_and_instance() -> None:
    fault = only_fault(run(alarm("alarm-name-convention.json")))
    assert (fault.cluster_name, fault.instance_id) == ("ml-cluster", "i-0d4c2b1a0f9e8d7c6")


def test_alarm_name_convention_accepts_a_cluster_arn_or_no_cluster() -> None:
    event = alarm("alarm-name-convention.json")
    event["detail"]["alarmName"] = f"autoheal:{CLUSTER_ARN}:i-0d4c2b1a0f9e8d7c6"
    fault = only_fault(run(event))
    assert (fault.cluster_name, fault.cluster_arn) == (None, CLUSTER_ARN)
    event["detail"]["alarmName"] = "autoheal:i-0d4c2b1a0f9e8d7c6"
    assert only_fault(run(event)).cluster_ref is None


def test_alarm_name_convention_wins_over_dimensions() -> None:
    event = alarm()
    event["detail"]["alarmName"] = "autoheal:ml-cluster:i-0d4c2b1a0f9e8d7c6"
    assert only_fault(run(event)).instance_id == "i-0d4c2b1a0f9e8d7c6"


def test_alarm_dimension_names_come_from_settings() -> None:
    event = set_dimensions(alarm(), {"Host": NODE_A, "HyperPodCluster": CLUSTER_ARN})
    settings = Settings(alarm_node_dimension="Host", alarm_cluster_dimension="HyperPodCluster")
    fault = only_fault(run(event, settings))
    assert (fault.instance_id, fault.cluster_arn) == (NODE_A, CLUSTER_ARN)
    assert reasons(run(event)) == ["no_node"]  # default dimension names find nothing


def test_alarm_over_several_instances_is_ambiguous_and_ignored() -> None:
    event = set_dimensions(alarm(), {"InstanceId": NODE_A}, {"InstanceId": "i-0d4c2b1a0f9e8d7c6"})
    assert reasons(run(event)) == ["ambiguous_node"]


def test_alarm_metrics_repeating_one_instance_name_one_node() -> None:
    event = set_dimensions(alarm(), {"InstanceId": NODE_A}, {"InstanceId": NODE_A, "GPU": "0"})
    assert only_fault(run(event)).instance_id == NODE_A


def test_alarm_on_an_expression_without_metric_stat_names_no_node() -> None:
    event = alarm()
    event["detail"]["configuration"]["metrics"] = [{"id": "e1", "expression": "SUM(METRICS())"}]
    assert reasons(run(event)) == ["no_node"]


@pytest.mark.parametrize("value", ["host-17", "i-XYZ", "i-0a1b2c3d4e5f60718 "])
def test_alarm_dimension_that_is_not_an_instance_id_is_rejected(value: str) -> None:
    event = set_dimensions(alarm(), {"InstanceId": value})
    intake = run(event)
    assert intake.rejected is not None
    assert intake.rejected.reason == "malformed:CloudWatch Alarm State Change"
    assert "instance_id" in intake.rejected.message


def test_long_alarm_name_is_clipped_to_a_valid_signal() -> None:
    event = alarm()
    event["detail"]["alarmName"] = "autoheal:" + "x" * 246
    assert len(only_fault(run(event)).signal) == 128


# ---------------------------------------------------------------- alarm contributor (Metrics Insights)


def contributor(attributes: dict[str, str] | None = None, state: str = "ALARM") -> dict[str, Any]:
    event = load_event("alarm-contributor-hma-stream.json")
    if attributes is not None:
        event["detail"]["alarmContributor"]["attributes"] = attributes
    event["detail"]["state"]["value"] = state
    return event


def test_contributor_in_alarm_names_the_node_of_its_hma_stream() -> None:
    fault = only_fault(run(contributor()))
    assert (fault.cluster_name, fault.instance_id, fault.instance_group) == (
        "ml-cluster",
        NODE_A,
        "worker-group-1",
    )
    assert (fault.source, fault.signal) == (
        FaultSource.CLOUDWATCH_ALARM,
        "autoheal:hma-detections-hyperpod-autoheal",
    )
    assert fault.observed_at == datetime(2025, 6, 1, 16, 22, 4, tzinfo=UTC)


def test_contributor_instance_dimension_wins_and_names_from_settings() -> None:
    event = contributor(
        {"InstanceId": "i-0d4c2b1a0f9e8d7c6", "HmaLogStream": "SagemakerHealthMonitoringAgent/g/" + NODE_A}
    )
    assert only_fault(run(event)).instance_id == "i-0d4c2b1a0f9e8d7c6"
    event = contributor({"Host": NODE_A, "HyperPodCluster": CLUSTER_ARN})
    settings = Settings(alarm_node_dimension="Host", alarm_cluster_dimension="HyperPodCluster")
    fault = only_fault(run(event, settings))
    assert (fault.instance_id, fault.cluster_arn, fault.cluster_name) == (NODE_A, CLUSTER_ARN, None)


@pytest.mark.parametrize(
    ("attributes", "state", "reason"),
    [
        (None, "OK", "alarm_not_alarm_state"),
        ({"ClusterName": "ml-cluster"}, "ALARM", "no_node"),
        ({"HmaLogStream": "LifecycleConfig/g/i-0a1b2c3d4e5f60718"}, "ALARM", "no_node"),
    ],
)
def test_contributor_without_a_node_or_not_in_alarm_is_ignored(
    attributes: dict[str, str] | None, state: str, reason: str
) -> None:
    assert reasons(run(contributor(attributes, state))) == [reason]


def test_contributor_with_a_bad_instance_id_is_rejected() -> None:
    intake = run(contributor({"InstanceId": "host-17"}))
    assert intake.rejected is not None
    assert intake.rejected.reason == "malformed:CloudWatch Alarm Contributor State Change"


def test_contributor_event_without_its_contributor_is_rejected() -> None:
    event = contributor()
    del event["detail"]["alarmContributor"]
    intake = run(event)
    assert intake.rejected is not None and "alarmContributor" in intake.rejected.message


# ---------------------------------------------------------------- dispatch


@pytest.mark.parametrize(
    ("source", "detail_type"),
    [
        ("aws.sagemaker", "SageMaker Training Job State Change"),
        ("aws.health", "AWS Health Abuse Event"),
        ("aws.cloudwatch", "CloudWatch Alarm Configuration Change"),
        ("my.app", "SageMaker HyperPod Cluster Node Health Event"),
    ],
)
def test_unsupported_source_and_detail_type_is_acknowledged_not_rejected(
    source: str, detail_type: str
) -> None:
    event = load_event("node-health-unhealthy.json")
    event["source"], event["detail-type"] = source, detail_type
    intake = run(event)
    assert intake.rejected is None and intake.faults == []
    assert reasons(intake) == ["unsupported_detail_type"]


def test_every_ignore_reason_is_snake_case() -> None:
    assert all(r.value == r.value.lower() and " " not in r.value for r in IgnoreReason)
