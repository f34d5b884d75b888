"""HMA log records (CloudWatch Logs subscription): the decoder, the record parser and the rule.

Driven by the samples in events/hma/ (decoded `X.json` and the Lambda event `X.invoke.json`).
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from autoheal.faults import FaultSource, NodeFault, RepairAction, Severity
from autoheal.intake import hma_records, normalise
from autoheal.intake.logs import MAX_DECODED_BYTES, LogsPayloadError, decode, encode
from autoheal.intake.result import MALFORMED_HMA_RECORD, MALFORMED_LOGS
from autoheal.intake.wiring import rule_config
from autoheal.settings import Settings
from hyperpod_local.stack.hma_logs import dcgm_record, log_group, log_stream, npd_event_record, payload

SAMPLES = Path(__file__).resolve().parents[2] / "events" / "hma"
RULES = rule_config(Settings())
NODE = "i-0a1b2c3d4e5f60718"
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
GROUP = log_group("ml-cluster")
STREAM = log_stream("worker-group-1", NODE)


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return loaded


def npd_record(condition: str, status: str, reason: str, xid: int, key: str = "details") -> str:
    message = f'Node condition {condition} is now: {status}, reason: {reason}, message: "NVRM: Xid (PCI:0000:b9:00): {xid}, pid=1"'
    return json.dumps(
        {
            "msg": "NPD caught event: %v",
            key: {"severity": "warn", "reason": reason, "message": message},
            "HealthMonitoringAgentDetectionEvent": "HealthEvent",
        }
    )


def deliver(*records: tuple[timedelta, str], stream: str = STREAM, group: str = GROUP) -> dict[str, Any]:
    return encode(payload(group, stream, [(T0 + at, text) for at, text in records]))


# ---------------------------------------------------------------- samples


EXPECTED: dict[str, tuple[list[tuple[str, RepairAction]], list[str], list[str]]] = {
    # file: (faults as (signal, HMA intent), ignored reasons, rejected reasons)
    "slurm-dcgm-xid79": ([("XidError:79", RepairAction.UNKNOWN)], ["duplicate_in_event"] * 2, []),
    "eks-npd-replace": ([("NvidiaGPUUnhealthy", RepairAction.REPLACE)], ["duplicate_in_event"], []),
    "npd-condition-recovered": ([], ["healthy_transition"], []),
    "application-xids": ([], ["hma_application_fault"] * 3, []),
    "malformed-records": (
        [("XidError:48", RepairAction.UNKNOWN)],
        ["not_hma_detection"],
        [MALFORMED_HMA_RECORD] * 3,
    ),
    "control-message": ([], ["logs_control_message"], []),
    "not-an-hma-stream": ([], ["no_node"], []),
    "malformed-not-gzip": ([], [], [MALFORMED_LOGS]),
}


def test_every_sample_has_an_expectation_and_a_readme_entry() -> None:
    names = {p.name.removesuffix(".invoke.json") for p in SAMPLES.glob("*.invoke.json")}
    assert names == set(EXPECTED)
    readme = (SAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert [n for n in sorted(names) if f"`hma/{n}.invoke.json`" not in readme] == []


@pytest.mark.parametrize(
    "name", sorted(p.name for p in SAMPLES.glob("*.json") if not p.name.endswith(".invoke.json"))
)
def test_each_invoke_sample_is_its_decoded_sample_encoded(name: str) -> None:
    """`python -m hyperpod_local.stack.hma_logs` rewrites them; they must not drift apart."""
    invoke = sample(name.removesuffix(".json") + ".invoke.json")
    assert json.loads(gzip.decompress(base64.b64decode(invoke["awslogs"]["data"]))) == sample(name)
    assert decode(invoke).logStream == sample(name)["logStream"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_normalises_as_documented(name: str) -> None:
    intake = normalise(sample(f"{name}.invoke.json"), RULES)
    faults, ignored, rejected = EXPECTED[name]
    assert [(f.signal, f.repair_action) for f in intake.faults] == faults
    assert [str(i.reason) for i in intake.ignored] == ignored
    whole = [intake.rejected.reason] if intake.rejected else []
    assert whole + [r.reason for r in intake.rejected_parts] == rejected
    assert (intake.source, intake.detail_type) == ("aws.logs", "HMA log records")


def test_slurm_sample_fault_names_node_group_cluster_time_and_log_event() -> None:
    decoded = sample("slurm-dcgm-xid79.json")
    fault = normalise(sample("slurm-dcgm-xid79.invoke.json"), RULES).faults[0]
    first = decoded["logEvents"][0]
    assert fault.model_dump(exclude={"reason"}) == {
        "cluster_name": "ml-cluster",
        "cluster_arn": None,
        "instance_id": NODE,
        "node_logical_id": None,
        "instance_group": "worker-group-1",
        "signal": "XidError:79",
        "severity": Severity.ERROR,
        "repair_action": RepairAction.UNKNOWN,
        "recommendation": None,  # a Node Health Event field only
        "xid": 79,  # issue 17: the signal table keys its Xid rules on it
        "source": FaultSource.HMA_LOG,
        "source_event_id": first["id"],
        "observed_at": datetime.fromtimestamp(first["timestamp"] / 1000, UTC),
        "received_at": None,  # stamped by intake's service, not by normalise
    }
    assert fault.reason.startswith("DCGM Policy Violation found | XID Error (ErrNum 79)")
    assert fault.reason.endswith("(+2 more HMA records)")
    assert NodeFault.model_validate_json(fault.model_dump_json()) == fault


# ---------------------------------------------------------------- the decoder


def test_decoder_round_trips_a_subscription_payload() -> None:
    decoded = payload(GROUP, STREAM, [(T0, dcgm_record(79))])
    parsed = decode(encode(decoded))
    assert (parsed.logGroup, parsed.logStream, parsed.messageType) == (GROUP, STREAM, "DATA_MESSAGE")
    assert parsed.logEvents[0].timestamp == T0 and parsed.logEvents[0].message == dcgm_record(79)


def test_decoder_accepts_zlib_as_well_as_gzip() -> None:
    blob = zlib.compress(json.dumps(payload(GROUP, STREAM, [(T0, dcgm_record(79))])).encode())
    assert decode({"awslogs": {"data": base64.b64encode(blob).decode()}}).logStream == STREAM


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"awslogs": {}}, "awslogs.data must be a non-empty string"),
        ({"awslogs": "H4sI"}, "awslogs.data must be a non-empty string"),
        ({"awslogs": {"data": 42}}, "awslogs.data must be a non-empty string"),
        ({"awslogs": {"data": "not base64 !"}}, "awslogs.data is not base64"),
        ({"awslogs": {"data": base64.b64encode(b"plain text").decode()}}, "awslogs.data is not gzip"),
        (
            {"awslogs": {"data": base64.b64encode(gzip.compress(b'{"messageType":')[:-12]).decode()}},
            "awslogs.data is truncated gzip",
        ),
    ],
)
def test_undecodable_deliveries_are_rejected_with_the_reason(event: dict[str, Any], message: str) -> None:
    with pytest.raises(LogsPayloadError, match=message):
        decode(event)
    intake = normalise(event, RULES)
    assert intake.rejected is not None
    assert (intake.rejected.reason, intake.rejected.message) == (MALFORMED_LOGS, message)
    assert intake.faults == []


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"[" + b" " * (MAX_DECODED_BYTES + 1024) + b"]")
    assert len(bomb) < 64 * 1024
    intake = normalise({"awslogs": {"data": base64.b64encode(bomb).decode()}}, RULES)
    assert intake.rejected is not None and "inflates past" in intake.rejected.message


def test_a_payload_missing_fields_is_rejected_naming_them() -> None:
    broken = payload(GROUP, STREAM, [(T0, dcgm_record(79))])
    del broken["logStream"]
    with pytest.raises(ValidationError):
        decode(encode(broken))
    intake = normalise(encode(broken), RULES)
    assert intake.rejected is not None and intake.rejected.reason == MALFORMED_LOGS
    assert "awslogs.data.logStream" in intake.rejected.message


# ---------------------------------------------------------------- the record parser


def test_slurm_dcgm_record_with_hma_key_spelling() -> None:
    detection = hma_records.parse_record(dcgm_record(79))
    assert (detection.shape, detection.signal, detection.xid) == ("dcgm", "XidError:79", 79)
    assert detection.repair_action is RepairAction.UNKNOWN


def test_dcgm_conditions_become_camel_case_signals() -> None:
    record = json.dumps(
        {
            "msg": "DCGM Policy Violation found",
            "condition": "NVLink Error",
            "HealthMonitoringAgentDetectionEvent": "HealthEvent",
        }
    )
    detection = hma_records.parse_record(record)
    assert (detection.signal, detection.xid) == ("NvlinkError", None)


@pytest.mark.parametrize(
    ("condition", "action"),
    [
        ("NvidiaErrorReboot", RepairAction.REBOOT),
        ("NvidiaErrorTerminate", RepairAction.REPLACE),
        ("EfaError", RepairAction.UNKNOWN),
    ],
)
def test_npd_record_reads_the_node_condition_and_hma_intent(condition: str, action: RepairAction) -> None:
    detection = hma_records.parse_record(npd_record(condition, "True", "XidHardwareFailure", 71))
    assert (detection.shape, detection.signal, detection.repair_action, detection.xid) == (
        "npd",
        condition,
        action,
        71,
    )
    assert not detection.recovered and not detection.application_reason


def test_npd_record_under_the_colon_spelled_key_and_back_to_false() -> None:
    detection = hma_records.parse_record(
        npd_record("NvidiaErrorReboot", "False", "XidHardwareFailure", 71, key="details: ")
    )
    assert detection.recovered


def test_npd_record_without_a_condition_uses_the_reason() -> None:
    record = json.dumps(
        {
            "details": {"reason": "XidHardwareFailure", "message": "NVRM: Xid (PCI:0000:b9:00): 94"},
            "HealthMonitoringAgentDetectionEvent": "HealthEvent",
        }
    )
    detection = hma_records.parse_record(record)
    assert (detection.signal, detection.xid, detection.repair_action) == (
        "XidHardwareFailure",
        94,
        RepairAction.UNKNOWN,
    )


@pytest.mark.parametrize(
    ("action", "reason", "expected"),
    [
        ("replace", "NvidiaGpuXidErrorPendingReplacement", RepairAction.REPLACE),
        ("Reboot", "NvidiaGpuXidErrorPendingReboot", RepairAction.REBOOT),
        ("none", "NvidiaGpuXidErrorPendingReboot", RepairAction.NONE),
        ("", "NvidiaGpuXidErrorPendingReplacement", RepairAction.REPLACE),
        ("", "SomethingElse", RepairAction.UNKNOWN),
    ],
)
def test_eks_event_detail_record_keeps_hma_action_as_a_signal(
    action: str, reason: str, expected: RepairAction
) -> None:
    detection = hma_records.parse_record(npd_event_record(action, "NvidiaGPUUnhealthy", reason, 74))
    assert (detection.shape, detection.signal, detection.repair_action, detection.xid) == (
        "npd_event",
        "NvidiaGPUUnhealthy",
        expected,
        74,
    )


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ('{"msg":"DCGM","HealthMonitoringAgentDetectionEvent":"HealthEvent"', "record is not JSON"),
        ('["HealthMonitoringAgentDetectionEvent"]', "record is not a JSON object"),
        ('{"HealthMonitoringAgentDetectionEvent":"HealthEvent","msg":"new"}', "unknown HMA detection shape"),
        (
            '{"condition: ":7,"HealthMonitoringAgentDetectionEvent":"HealthEvent"}',
            "condition: Input should be a valid string",
        ),
        (
            '{"details":"flat","HealthMonitoringAgentDetectionEvent":"HealthEvent"}',
            "details: Input should be a valid dictionary",
        ),
        (
            '{"condition":"XID Error","data":{"ErrNum":"many"}}',
            "data.ErrNum: Input should be a valid integer",
        ),
    ],
)
def test_unreadable_detections_raise_record_error(message: str, error: str) -> None:
    with pytest.raises(hma_records.RecordError, match=error):
        hma_records.parse_record(message)


@pytest.mark.parametrize(
    "message", ["I0601 health_monitor.go:88] checking", '{"level":"info","msg":"started"}', "[1, 2]"]
)
def test_ordinary_log_lines_are_not_detections(message: str) -> None:
    with pytest.raises(hma_records.NotADetection):
        hma_records.parse_record(message)


def test_an_oversized_record_is_refused() -> None:
    with pytest.raises(hma_records.RecordError, match="longer than"):
        hma_records.parse_record('{"condition":"XID Error","pad":"' + "x" * 300_000 + '"}')


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (STREAM, hma_records.StreamNode("worker-group-1", NODE)),
        ("SagemakerHealthMonitoringAgent/g/i-0123abcd", hma_records.StreamNode("g", "i-0123abcd")),
        ("SagemakerHealthMonitoringAgent/worker-group-1/i-0A1B2C3D4E5F60718", None),
        ("SagemakerHealthMonitoringAgent/worker-group-1", None),
        ("LifecycleConfig/worker-group-1/" + NODE, None),
        ("SagemakerHealthMonitoringAgent/-bad/" + NODE, None),
    ],
)
def test_stream_names_give_the_node(stream: str, expected: hma_records.StreamNode | None) -> None:
    assert hma_records.parse_stream(stream) == expected


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (
            "/aws/sagemaker/Clusters/ml-cluster/abcdef012345",
            hma_records.ClusterLogGroup("ml-cluster", "abcdef012345"),
        ),
        ("/aws/sagemaker/Clusters/ml-cluster/abcdef01234", None),
        ("/aws/sagemaker/Clusters/ml_cluster/abcdef012345", None),
        ("/custom/hma", None),
    ],
)
def test_log_group_names_give_the_cluster(group: str, expected: hma_records.ClusterLogGroup | None) -> None:
    assert hma_records.parse_log_group(group) == expected


# ---------------------------------------------------------------- the rule


def test_records_of_one_delivery_collapse_into_the_strongest_intent_earliest_first() -> None:
    reboot = npd_record("NvidiaErrorReboot", "True", "XidHardwareFailure", 48)
    replace = npd_event_record("replace", "NvidiaGPUUnhealthy", "NvidiaGpuXidErrorPendingReplacement", 79)
    intake = normalise(
        deliver(
            (timedelta(seconds=0), dcgm_record(79)),
            (timedelta(seconds=1), reboot),
            (timedelta(seconds=2), replace),
            (timedelta(seconds=3), replace),
        ),
        RULES,
    )
    (fault,) = intake.faults
    assert (fault.signal, fault.repair_action, fault.observed_at) == (
        "NvidiaGPUUnhealthy",
        RepairAction.REPLACE,
        T0 + timedelta(seconds=2),
    )
    assert [str(i.reason) for i in intake.ignored] == ["duplicate_in_event"] * 3
    assert fault.reason.endswith("(+3 more HMA records)")


def test_the_same_delivery_twice_gives_the_same_fault() -> None:
    event = deliver((timedelta(0), dcgm_record(79)))
    assert normalise(event, RULES).faults == normalise(event, RULES).faults


def test_a_custom_log_group_leaves_the_cluster_for_remediate_to_find() -> None:
    (fault,) = normalise(deliver((timedelta(0), dcgm_record(79)), group="/custom/hma"), RULES).faults
    assert (fault.cluster_ref, fault.instance_id) == (None, NODE)


def test_ignored_xids_are_a_setting() -> None:
    app_xid = deliver((timedelta(0), dcgm_record(13)))
    assert normalise(app_xid, RULES).faults == []
    (fault,) = normalise(app_xid, rule_config(Settings(hma_ignored_xids=""))).faults
    assert fault.signal == "XidError:13"
    assert Settings(hma_ignored_xids="48, 79".replace(" ", "")).ignored_xids == {48, 79}
    with pytest.raises(ValidationError):
        Settings(hma_ignored_xids="13;31")


def test_an_ignored_xid_with_a_node_action_from_hma_is_still_a_node_fault() -> None:
    record = npd_record("NvidiaErrorReboot", "True", "XidHardwareFailure", 13)
    (fault,) = normalise(deliver((timedelta(0), record)), RULES).faults
    assert fault.repair_action is RepairAction.REBOOT


def test_a_record_with_an_unusable_event_id_is_rejected_alone() -> None:
    decoded = payload(GROUP, STREAM, [(T0, dcgm_record(79)), (T0, dcgm_record(48))])
    decoded["logEvents"][0]["id"] = "9" * 300
    intake = normalise(encode(decoded), RULES)
    assert [f.signal for f in intake.faults] == ["XidError:48"]
    assert [r.reason for r in intake.rejected_parts] == [MALFORMED_HMA_RECORD]


def test_an_empty_delivery_yields_nothing() -> None:
    intake = normalise(encode(payload(GROUP, STREAM, [])), RULES)
    assert (intake.faults, intake.ignored, intake.rejected, intake.rejected_parts) == ([], [], None, [])
