"""The intake Lambda handler: thin, lazy SQS client, drops malformed input, fails on queue errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from autoheal import clients
from autoheal.adapters.queue import QueueNotFoundError
from autoheal.observability import metrics
from autoheal.settings import SettingsError
from functions.intake import app
from hyperpod_local.stack.events import FakeContext

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

EVENTS = Path(__file__).resolve().parents[2] / "events"
URL = "https://sqs.us-east-1.amazonaws.com/123456789012/autoheal-faults"


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    monkeypatch.setenv("AUTOHEAL_QUEUE_URL", URL)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hyperpod-autoheal")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "HyperPodAutohealTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setattr(metrics, "namespace", "HyperPodAutohealTest")
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    requested: list[str] = []

    def client_for(service: str, region: str | None = None) -> Any:
        requested.append(service)
        return client

    monkeypatch.setattr(clients, "client", client_for)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    assert set(requested) <= {"sqs"}


def test_fault_event_is_enqueued(sqs: Stubber) -> None:
    sqs.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m0", "MessageId": "a", "MD5OfMessageBody": "0" * 32}], "Failed": []},
    )
    result = app.lambda_handler(load_event("node-health-unhealthy.json"), FakeContext())
    assert (result["received"], result["enqueued"]) == (1, 1)


def test_malformed_event_returns_normally_and_is_dropped(sqs: Stubber) -> None:
    result = app.lambda_handler(load_event("malformed-node-health.json"), FakeContext())
    assert result["rejected"] == {"malformed:SageMaker HyperPod Cluster Node Health Event": 1}
    assert result["enqueued"] == 0


def test_ignored_event_makes_no_sqs_call(sqs: Stubber) -> None:
    result = app.lambda_handler(load_event("cluster-state-change.json"), FakeContext())
    assert result["ignored"] == {"state_change": 1}


def test_queue_failure_fails_the_invocation(sqs: Stubber) -> None:
    sqs.add_client_error("send_message_batch", service_error_code="AWS.SimpleQueueService.NonExistentQueue")
    with pytest.raises(QueueNotFoundError):
        app.lambda_handler(load_event("node-health-unhealthy.json"), FakeContext())


def test_missing_queue_url_fails_at_the_first_invocation(
    sqs: Stubber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTOHEAL_QUEUE_URL")
    with pytest.raises(SettingsError, match="AUTOHEAL_QUEUE_URL"):
        app.lambda_handler(load_event("node-health-unhealthy.json"), FakeContext())


def emf_metrics(stdout: str) -> dict[str, dict[str, Any]]:
    """Metric name -> the EMF blob that carries it, from the handler's stdout."""
    found: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = blob
    return found


def test_counts_are_published_as_emf_with_reason_dimensions(
    sqs: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    app.lambda_handler(load_event("health-backup-copy.json"), FakeContext())
    published = emf_metrics(capsys.readouterr().out)
    assert published["FaultsIgnored"]["Reason"] == "health_backup_copy"
    assert published["FaultsIgnored"]["FaultsIgnored"] == [1.0]


def test_hma_log_delivery_is_enqueued_through_the_same_handler(sqs: Stubber) -> None:
    sqs.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m0", "MessageId": "a", "MD5OfMessageBody": "0" * 32}], "Failed": []},
    )
    result = app.lambda_handler(load_event("hma/slurm-dcgm-xid79.invoke.json"), FakeContext())
    assert (result["received"], result["enqueued"]) == (1, 1)
    assert result["ignored"] == {"duplicate_in_event": 2}


# ---------------------------------------------------------------- real shapes (issue 16): accepted, not rejected


class Sent:
    """Matches any SQS `Entries` in a Stubber expectation and keeps the faults they carry."""

    def __init__(self) -> None:
        self.faults: list[dict[str, Any]] = []

    def __eq__(self, entries: object) -> bool:
        assert isinstance(entries, list)
        self.faults.extend(json.loads(entry["MessageBody"]) for entry in entries)
        return True

    __hash__ = None  # type: ignore[assignment]


def expect_sent(sqs: Stubber, n: int) -> Sent:
    sent = Sent()
    ok = [{"Id": f"m{i}", "MessageId": f"x{i}", "MD5OfMessageBody": "0" * 32} for i in range(n)]
    sqs.add_response(
        "send_message_batch", {"Successful": ok, "Failed": []}, {"QueueUrl": URL, "Entries": sent}
    )
    return sent


def test_health_event_without_status_code_is_a_fault_per_entity(sqs: Stubber) -> None:
    """AWS's published Health test events carry no `statusCode`; an `issue` is open until it says so."""
    sent = expect_sent(sqs, 2)
    result = app.lambda_handler(load_event("health-no-status-code.json"), FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, 2)
    assert [f["signal"] for f in sent.faults] == ["AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"] * 2


def test_event_without_a_resources_key_is_accepted(sqs: Stubber) -> None:
    """AWS's own Health retirement example has no `resources`: the envelope does not require it."""
    sent = expect_sent(sqs, 1)
    result = app.lambda_handler(load_event("health-retirement-no-resources.json"), FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, 1)
    assert sent.faults[0]["instance_id"] == "i-0f9e8d7c6b5a43210"


def test_cluster_event_without_event_level_is_classified(sqs: Stubber) -> None:
    """The SageMaker EventBridge page's Cluster Event example has no `EventLevel`."""
    sent = expect_sent(sqs, 1)
    result = app.lambda_handler(load_event("cluster-event-no-level.json"), FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, 1)
    assert sent.faults[0]["signal"] == "InsufficientCapacity"


def test_documented_cluster_event_with_nested_metadata_is_an_insufficient_capacity_fault(
    sqs: Stubber, capsys: pytest.CaptureFixture[str]
) -> None:
    """AWS's documented example as printed: metadata at `detail.EventDetails.EventDetails.EventMetadata`,
    and a placeholder cluster ARN (`cluster/sample-cluster`) beside a usable cluster name."""
    sent = expect_sent(sqs, 1)
    result = app.lambda_handler(
        load_event("cluster-event-insufficient-capacity-documented.json"), FakeContext()
    )
    assert (result["rejected"], result["enqueued"]) == ({}, 1)
    (fault,) = sent.faults
    assert fault["signal"] == "InsufficientCapacity"
    assert (fault["instance_id"], fault["node_logical_id"], fault["instance_group"]) == (
        "i-0391f86fa0fe0d465",
        "df268d19-f035-4f28-9b80-b956b92ae21e",
        "p5Inst",
    )
    assert (fault["cluster_name"], fault["cluster_arn"]) == ("sample-cluster", None)
    assert "sufficient capacity" in fault["reason"]
    assert emf_metrics(capsys.readouterr().out)["DroppedFields"]["Field"] == "ClusterArn"


def test_nested_metadata_alone_keeps_the_failure_message_and_logical_id(sqs: Stubber) -> None:
    """The documented nesting with nothing else unusual: the capacity message and the NodeLogicalId
    (the only id of the node here) were lost, and the fault with them."""
    sent = expect_sent(sqs, 1)
    result = app.lambda_handler(load_event("cluster-event-insufficient-capacity-nested.json"), FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, 1)
    assert (sent.faults[0]["signal"], sent.faults[0]["node_logical_id"]) == (
        "InsufficientCapacity",
        "p5Inst-7c1e4b2a9d3f",
    )


@pytest.mark.parametrize(
    "placeholder", ["<cluster-arn>", "arn:aws:sagemaker:us-west-2:123456789012:cluster/placeholder"]
)
def test_unusable_optional_cluster_arn_is_dropped_logged_and_counted_not_fatal(
    sqs: Stubber, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, placeholder: str
) -> None:
    event = load_event("node-health-placeholder-arn.json")
    event["detail"]["ClusterArn"] = placeholder
    sent = expect_sent(sqs, 1)
    result = app.lambda_handler(event, FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, 1)
    # the envelope's own `resources` ARN is the fallback for the detail's unusable one
    assert (sent.faults[0]["cluster_name"], sent.faults[0]["cluster_arn"]) == (
        "ml-cluster",
        "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345",
    )
    blob = emf_metrics(capsys.readouterr().out)["DroppedFields"]
    assert (blob["Field"], blob["DroppedFields"]) == ("ClusterArn", [1.0])
    dropped = [r.__dict__ for r in caplog.records if r.getMessage() == "optional field dropped"]
    assert [(d["field"], d["path"]) for d in dropped] == [("ClusterArn", "detail.ClusterArn")]
    assert "not a HyperPod cluster ARN" in dropped[0]["error"]


def with_unknown_fields(node: Any) -> Any:
    """The same JSON with a new key in every object, at every depth."""
    if isinstance(node, dict):
        return {**{k: with_unknown_fields(v) for k, v in node.items()}, "SomethingNew": {"x": [1, "y"]}}
    if isinstance(node, list):
        return [with_unknown_fields(v) for v in node]
    return node


@pytest.mark.parametrize(
    ("name", "enqueued"),
    [
        ("cluster-event-insufficient-capacity-documented.json", 1),
        ("cluster-event-hma-node-health-nested.json", 1),
        ("node-health-unhealthy.json", 1),
        ("health-ec2-instance-store-two-entities.json", 2),
        ("alarm-contributor-hma-stream.json", 1),
    ],
)
def test_unknown_fields_anywhere_are_tolerated(sqs: Stubber, name: str, enqueued: int) -> None:
    expect_sent(sqs, enqueued)
    result = app.lambda_handler(with_unknown_fields(load_event(name)), FakeContext())
    assert (result["rejected"], result["enqueued"]) == ({}, enqueued)


def selftest_event(cluster_name: str) -> dict[str, Any]:
    """`autoheal selftest`'s event (its source, a Node Health Event) naming `cluster_name`, with the
    ARN of some cluster as well: only the name counts."""
    event = load_event("node-health-unhealthy.json")
    event["source"] = "autoheal.selftest"
    event["detail"]["ClusterName"] = cluster_name
    return event


def test_a_selftest_event_for_a_reserved_cluster_is_a_fault_named_by_the_reserved_name_only(
    sqs: Stubber,
) -> None:
    sent: list[dict[str, Any]] = []
    sqs.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m0", "MessageId": "a", "MD5OfMessageBody": "0" * 32}], "Failed": []},
    )
    sqs.client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.append(params)
    )
    result = app.lambda_handler(selftest_event("autoheal-selftest-0a1b2c3d"), FakeContext())
    assert (result["received"], result["enqueued"]) == (1, 1)
    (fault,) = [json.loads(entry["MessageBody"]) for entry in sent[0]["Entries"]]
    assert fault["cluster_name"] == "autoheal-selftest-0a1b2c3d"
    assert fault.get("cluster_arn") is None  # a real cluster's ARN in the event is never what is looked up


@pytest.mark.parametrize("name", ["train", "x-autoheal-selftest-1", ""])
def test_a_selftest_event_naming_any_other_cluster_is_ignored_and_counted(sqs: Stubber, name: str) -> None:
    event = selftest_event(name)
    if not name:
        del event["detail"]["ClusterName"]
    result = app.lambda_handler(event, FakeContext())
    assert result["ignored"] == {"selftest_not_reserved": 1}
    assert result["enqueued"] == 0  # no SQS call: the stubber has no response queued


def test_aws_example_recommendation_is_kept_on_the_fault_as_information_not_a_verdict(sqs: Stubber) -> None:
    """AWS's documented Node Health Event pairs `RepairAction: None` with the Recommendation "Please
    Replace the Faulty Node." and documents neither field's values: the text rides on the fault (for
    `history`), the repair action stays `None`, so the ladder's own first rung decides."""
    sent: list[dict[str, Any]] = []
    client = clients.client("sqs")
    client.meta.events.register(
        "provide-client-params.sqs.SendMessageBatch", lambda params, **_: sent.append(params)
    )
    sqs.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m0", "MessageId": "a", "MD5OfMessageBody": "0" * 32}], "Failed": []},
    )
    event = load_event("node-health-unhealthy.json")
    assert event["detail"]["HealthSummary"]["Recommendation"] == "Please Replace the Faulty Node."

    result = app.lambda_handler(event, FakeContext())

    assert result["enqueued"] == 1
    (fault,) = [json.loads(e["MessageBody"]) for e in sent[0]["Entries"]]
    assert fault["recommendation"] == "Please Replace the Faulty Node."
    assert fault["repair_action"] == "None" and fault["signal"] == "NvidiaErrorTerminate"  # not Replace
