"""Intake -> SQS round trip against moto (in-process `mock_aws`), queues built from template.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from autoheal.adapters.queue import FaultQueue
from autoheal.faults import FaultSource, NodeFault
from autoheal.intake import normalise
from autoheal.intake.service import ingest
from autoheal.intake.wiring import build_deps
from autoheal.settings import load_settings
from hyperpod_local.stack.resources import StackResources, create_stack_resources
from hyperpod_local.stack.template import INTAKE_FUNCTION

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
REGION = "us-east-1"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[StackResources]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        yield create_stack_resources(
            lambda service: boto3.client(service, region_name=REGION), suffix="intake"
        )


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], WaitTimeSeconds=0
    ).get("Messages", []):
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


#: When intake receives the sample events (after every one of them: nothing is clamped).
RECEIVED = datetime(2030, 1, 1, tzinfo=UTC)


def test_every_sample_event_round_trips_into_node_faults(stack: StackResources) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    settings = load_settings(stack.env(INTAKE_FUNCTION)).require("queue_url")
    assert settings.queue_url == stack.queue_url
    deps = build_deps(settings, lambda service: {"sqs": sqs}[service], clock=lambda: RECEIVED)

    expected: list[NodeFault] = []
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        report = ingest(event, deps)
        faults = normalise(event, deps.rules).faults
        assert report.enqueued == len(faults)
        expected.extend(f.received(RECEIVED)[0] for f in faults)  # stamped as received

    messages = drain(sqs, stack.queue_url)
    received = [NodeFault.model_validate_json(m["Body"]) for m in messages]
    assert sorted(received, key=lambda f: f.dedupe_key) == sorted(expected, key=lambda f: f.dedupe_key)
    assert len(received) == 21  # issue 16 added 10 faults: nested and real-shape samples
    for message, fault in zip(messages, received, strict=True):
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert attributes["source"] == fault.source and attributes["node"] == fault.node_ref
        assert attributes.get("cluster") == fault.cluster_ref


def test_a_storm_of_faults_is_sent_ten_per_call_and_all_arrive(stack: StackResources) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    faults = [
        NodeFault(
            instance_id=f"i-{n:017x}",
            signal="AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED",
            reason="ノード " + "r" * 1500,
            source=FaultSource.AWS_HEALTH,
            source_event_id=f"storm/{n}",
            observed_at=datetime(2025, 6, 1, tzinfo=UTC),
        )
        for n in range(37)
    ]
    report = FaultQueue(sqs, stack.queue_url).send(faults)
    assert (report.sent, report.calls, report.retried) == (37, 4, 0)
    received = {NodeFault.model_validate_json(m["Body"]) for m in drain(sqs, stack.queue_url)}
    assert received == set(faults)


def test_hma_log_deliveries_reach_the_queue_as_the_faults_they_normalise_into(stack: StackResources) -> None:
    """CloudWatch Logs subscription payloads (events/hma/) through the intake service into SQS."""
    sqs = boto3.client("sqs", region_name=REGION)
    settings = load_settings(stack.env(INTAKE_FUNCTION)).require("queue_url")
    deps = build_deps(settings, lambda service: {"sqs": sqs}[service], clock=lambda: RECEIVED)
    expected: list[NodeFault] = []
    for path in sorted((EVENTS / "hma").glob("*.invoke.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        report = ingest(event, deps)
        expected.extend(f.received(RECEIVED)[0] for f in normalise(event, deps.rules).faults)
        assert report.enqueued == report.received
    messages = drain(sqs, stack.queue_url)
    received = [NodeFault.model_validate_json(m["Body"]) for m in messages]
    assert sorted(received, key=lambda f: f.dedupe_key) == sorted(expected, key=lambda f: f.dedupe_key)
    assert sorted((f.signal, f.source) for f in received) == [
        ("NvidiaGPUUnhealthy", FaultSource.HMA_LOG),
        ("XidError:48", FaultSource.HMA_LOG),
        ("XidError:79", FaultSource.HMA_LOG),
    ]
    for message, fault in zip(messages, received, strict=True):
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert (attributes["source"], attributes["node"]) == ("hyperpod.hma_log", fault.instance_id)
