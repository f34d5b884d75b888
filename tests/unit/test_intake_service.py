"""ingest(): counts, logs every dropped event with its reason, enqueues faults, fails loudly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from autoheal.adapters.queue import FailedEntry, QueueSendError, SendReport
from autoheal.faults import NodeFault
from autoheal.intake import service
from autoheal.intake.service import IntakeDeps, IntakeReport, ingest
from autoheal.intake.wiring import rule_config
from autoheal.observability import Metric
from autoheal.settings import Settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
SETTINGS = Settings(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/faults")


def handle_event(event: Any, settings: Settings, queue: FakeQueue) -> IntakeReport:
    return ingest(event, IntakeDeps(rule_config(settings), queue))


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


class FakeQueue:
    def __init__(self, error: Exception | None = None) -> None:
        self.sent: list[NodeFault] = []
        self.calls = 0
        self.error = error

    def send(self, faults: Sequence[NodeFault]) -> SendReport:
        self.calls += 1
        if self.error:
            raise self.error
        self.sent.extend(faults)
        return SendReport(sent=len(faults), calls=1, retried=0)


class RecordingLogger:
    def __init__(self) -> None:
        self.records: list[tuple[str, str, dict[str, Any]]] = []

    def info(self, msg: str, *, extra: dict[str, Any]) -> None:
        self.records.append(("info", msg, extra))

    def warning(self, msg: str, *, extra: dict[str, Any]) -> None:
        self.records.append(("warning", msg, extra))


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> RecordingLogger:
    recorder = RecordingLogger()
    monkeypatch.setattr(service, "logger", recorder)
    return recorder


def test_faults_are_enqueued_and_counted(logs: RecordingLogger) -> None:
    queue = FakeQueue()
    report = handle_event(load_event("health-ec2-instance-store-two-entities.json"), SETTINGS, queue)
    assert [f.instance_id for f in queue.sent] == ["i-07c3e1b9a5d2f4086", "i-0d4c2b1a0f9e8d7c6"]
    assert (report.received, report.enqueued, report.ignored, report.rejected) == (2, 2, {}, {})
    assert report.counts.total(Metric.FAULTS_RECEIVED) == 2
    assert report.counts.total(Metric.FAULTS_ENQUEUED) == 2
    assert [r[1] for r in logs.records] == ["faults enqueued"]


def test_ignored_event_is_logged_with_its_reason_and_counted_by_reason(logs: RecordingLogger) -> None:
    queue = FakeQueue()
    event = load_event("node-health-healthy.json")
    report = handle_event(event, SETTINGS, queue)
    assert queue.calls == 0
    assert report.ignored == {"healthy_transition": 1}
    assert report.counts.total(Metric.FAULTS_IGNORED, Reason="healthy_transition") == 1
    assert report.counts.total(Metric.FAULTS_ENQUEUED) == 0
    [(level, message, extra)] = logs.records
    assert (level, message) == ("info", "ignored")
    assert extra == {
        "event_id": event["id"],
        "source": "aws.sagemaker",
        "detail_type": "SageMaker HyperPod Cluster Node Health Event",
        "reason": "healthy_transition",
        "subject": "i-0a1b2c3d4e5f60718",
    }


def test_rejected_event_is_logged_as_a_warning_without_the_event_and_counted(logs: RecordingLogger) -> None:
    event = load_event("malformed-node-health.json")
    report = handle_event(event, SETTINGS, FakeQueue())
    reason = "malformed:SageMaker HyperPod Cluster Node Health Event"
    assert report.rejected == {reason: 1} and report.received == 0
    assert report.counts.total(Metric.EVENTS_REJECTED, Reason=reason) == 1
    [(level, message, extra)] = logs.records
    assert (level, message, extra["reason"]) == ("warning", "event rejected", reason)
    assert "InstanceId" in extra["error"]
    assert "detail" not in extra and "HealthStatusReason" not in json.dumps(extra)


def test_faults_and_ignored_entities_of_one_event_are_both_reported(logs: RecordingLogger) -> None:
    event = load_event("health-ec2-instance-store-two-entities.json")
    event["detail"]["affectedEntities"].append({"entityValue": "vol-0123456789abcdef0"})
    report = handle_event(event, SETTINGS, FakeQueue())
    assert (report.enqueued, report.ignored) == (2, {"no_node": 1})
    assert report.summary() == {
        "event_id": event["id"],
        "received": 2,
        "enqueued": 2,
        "ignored": {"no_node": 1},
        "rejected": {},
    }


def test_queue_failure_propagates_so_the_event_is_retried(logs: RecordingLogger) -> None:
    error = QueueSendError([FailedEntry("i-0a1b2c3d4e5f60718", "e", "InternalError", False)], sent=0)
    with pytest.raises(QueueSendError):
        handle_event(load_event("node-health-unhealthy.json"), SETTINGS, FakeQueue(error))


def test_non_object_input_is_rejected_not_raised(logs: RecordingLogger) -> None:
    report = handle_event([], SETTINGS, FakeQueue())  # type: ignore[arg-type]
    assert report.rejected == {"malformed:envelope": 1}


def test_hma_delivery_counts_each_record_and_keeps_the_good_ones(logs: RecordingLogger) -> None:
    queue = FakeQueue()
    event = load_event("hma/malformed-records.invoke.json")
    report = handle_event(event, SETTINGS, queue)
    assert [(f.signal, f.instance_id) for f in queue.sent] == [("XidError:48", "i-0b2c3d4e5f6071829")]
    assert report.rejected == {"malformed:hma_record": 3}
    assert report.ignored == {"not_hma_detection": 1}
    assert report.counts.total(Metric.EVENTS_REJECTED, Reason="malformed:hma_record") == 3
    assert report.counts.total(Metric.FAULTS_ENQUEUED) == 1
    warnings = [extra for level, message, extra in logs.records if message == "record rejected"]
    assert len(warnings) == 3 and {w["source"] for w in warnings} == {"aws.logs"}
    stream = "SagemakerHealthMonitoringAgent/worker-group-1/i-0b2c3d4e5f6071829"
    assert all(w["subject"].endswith(stream) and "log event" in w["error"] for w in warnings)
    assert all("DCGM" not in w["error"] for w in warnings)  # the record itself is never logged


def test_undecodable_hma_delivery_is_one_rejection(logs: RecordingLogger) -> None:
    report = handle_event(load_event("hma/malformed-not-gzip.invoke.json"), SETTINGS, FakeQueue())
    assert report.rejected == {"malformed:awslogs": 1} and report.received == 0
