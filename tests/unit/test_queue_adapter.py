"""FaultQueue against a stubbed SQS client (botocore Stubber, no network)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from autoheal.adapters.queue import (
    IAM_ACTIONS,
    MAX_BATCH_BYTES,
    FaultQueue,
    QueueAccessDeniedError,
    QueueError,
    QueueNotFoundError,
    QueueRequestError,
    QueueSendError,
    QueueThrottledError,
    QueueUnavailableError,
    plan_batches,
)
from autoheal.faults import FaultSource, NodeFault

URL = "https://sqs.us-east-1.amazonaws.com/123456789012/autoheal-faults"


def fault(n: int, reason: str = "") -> NodeFault:
    return NodeFault(
        cluster_name="ml-cluster",
        instance_id=f"i-{n:017x}",
        signal="NvidiaErrorTerminate",
        reason=reason,
        source=FaultSource.NODE_HEALTH,
        source_event_id=f"event-{n}",
        observed_at=datetime(2025, 6, 1, 16, 20, 25, tzinfo=UTC),
    )


class StubbedSqs:
    """A real boto3 SQS client with a Stubber; records each SendMessageBatch's entries."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "sqs", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self.stubber = Stubber(self.client)
        self.batches: list[list[dict[str, Any]]] = []
        self.client.meta.events.register("provide-client-params.sqs.SendMessageBatch", self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        self.batches.append(list(params["Entries"]))

    def ok(self, count: int, failed: dict[int, tuple[str, bool]] | None = None) -> None:
        """Queue one response for a batch of `count` entries; `failed` maps position -> (code, sender)."""
        failed = failed or {}
        self.stubber.add_response("send_message_batch", _Response(count, failed))

    def error(self, code: str, status: int = 400) -> None:
        self.stubber.add_client_error("send_message_batch", service_error_code=code, http_status_code=status)


class _Response(dict[str, Any]):
    """A response filled in from the request's entry ids once they are known (ids are ours)."""

    def __init__(self, count: int, failed: dict[int, tuple[str, bool]]) -> None:
        ids = [f"m{i}" for i in range(count)]
        super().__init__(
            Successful=[
                {"Id": i, "MessageId": f"msg-{i}", "MD5OfMessageBody": "0" * 32}
                for n, i in enumerate(ids)
                if n not in failed
            ],
            Failed=[
                {"Id": ids[n], "Code": code, "SenderFault": sender, "Message": "no"}
                for n, (code, sender) in failed.items()
            ],
        )


@pytest.fixture
def sqs() -> Iterator[StubbedSqs]:
    stub = StubbedSqs()
    with stub.stubber:
        yield stub
    stub.stubber.assert_no_pending_responses()


# ---------------------------------------------------------------- batching (pure)


@pytest.mark.parametrize(
    ("count", "shape"),
    [
        (0, []),
        (1, [1]),
        (10, [10]),
        (11, [10, 1]),
        (25, [10, 10, 5]),
        (26, [10, 10, 6]),
        (51, [10] * 5 + [1]),
    ],
)
def test_plan_batches_never_exceeds_ten_entries(count: int, shape: list[int]) -> None:
    assert [len(b) for b in plan_batches([100] * count)] == shape


def test_plan_batches_keeps_each_batch_within_the_byte_limit_in_order() -> None:
    sizes = [100_000, 100_000, 100_000, 200_000, 10, 62_144]
    batches = plan_batches(sizes)
    assert batches == [[0, 1], [2], [3, 4], [5]]
    assert all(sum(sizes[i] for i in b) <= MAX_BATCH_BYTES for b in batches)


def test_plan_batches_allows_exactly_the_limit() -> None:
    assert plan_batches([MAX_BATCH_BYTES // 2, MAX_BATCH_BYTES // 2]) == [[0, 1]]


def test_a_single_message_over_the_limit_is_refused() -> None:
    with pytest.raises(QueueRequestError):
        plan_batches([MAX_BATCH_BYTES + 1])


# ---------------------------------------------------------------- sending


def test_send_nothing_makes_no_call(sqs: StubbedSqs) -> None:
    report = FaultQueue(sqs.client, URL).send([])
    assert (report.sent, report.calls, report.retried) == (0, 0, 0)


def test_send_splits_into_calls_of_ten(sqs: StubbedSqs) -> None:
    for count in (10, 10, 5):
        sqs.ok(count)
    report = FaultQueue(sqs.client, URL).send([fault(n) for n in range(25)])
    assert (report.sent, report.calls, report.retried) == (25, 3, 0)
    assert [len(b) for b in sqs.batches] == [10, 10, 5]


def test_message_body_is_the_fault_json_and_attributes_name_cluster_source_and_node(sqs: StubbedSqs) -> None:
    sqs.ok(1)
    FaultQueue(sqs.client, URL).send([fault(1, reason="ノード 💥")])
    [[entry]] = sqs.batches
    assert NodeFault.model_validate_json(entry["MessageBody"]) == fault(1, reason="ノード 💥")
    assert entry["MessageBody"].isascii()
    assert entry["MessageAttributes"] == {
        "source": {"DataType": "String", "StringValue": "hyperpod.node_health"},
        "node": {"DataType": "String", "StringValue": "i-00000000000000001"},
        "cluster": {"DataType": "String", "StringValue": "ml-cluster"},
    }


def test_fault_without_a_cluster_has_no_cluster_attribute(sqs: StubbedSqs) -> None:
    sqs.ok(1)
    no_cluster = fault(1).model_copy(update={"cluster_name": None})
    FaultQueue(sqs.client, URL).send([no_cluster])
    assert "cluster" not in sqs.batches[0][0]["MessageAttributes"]


def test_send_respects_the_batch_byte_limit(sqs: StubbedSqs) -> None:
    big = [fault(n, reason="r" * 2000) for n in range(4)]
    for count in (2, 2):
        sqs.ok(count)
    report = FaultQueue(sqs.client, URL, max_bytes=6000).send(big)
    assert report.calls == 2 and [len(b) for b in sqs.batches] == [2, 2]


def test_failed_entries_are_retried_once_and_then_succeed(sqs: StubbedSqs) -> None:
    sqs.ok(10, failed={3: ("InternalError", False), 7: ("ServiceUnavailable", False)})
    sqs.ok(1)
    sqs.ok(2)  # the retry pass: both failed entries, one call
    report = FaultQueue(sqs.client, URL).send([fault(n) for n in range(11)])
    assert (report.sent, report.calls, report.retried) == (11, 3, 2)
    retried = [e["MessageBody"] for e in sqs.batches[2]]
    assert [NodeFault.model_validate_json(b).source_event_id for b in retried] == ["event-3", "event-7"]


def test_entries_failing_again_raise_with_failures_aggregated_from_every_batch(sqs: StubbedSqs) -> None:
    sqs.ok(10, failed={0: ("InternalError", False)})
    sqs.ok(2, failed={1: ("InternalError", False)})
    sqs.ok(2, failed={0: ("InternalError", False), 1: ("KmsThrottled", False)})
    with pytest.raises(QueueSendError) as raised:
        FaultQueue(sqs.client, URL).send([fault(n) for n in range(12)])
    error = raised.value
    assert [f.source_event_id for f in error.failures] == ["event-0", "event-11"]
    assert [f.code for f in error.failures] == ["InternalError", "KmsThrottled"]
    assert error.sent == 10 and error.retryable


def test_sender_fault_entries_are_not_retried(sqs: StubbedSqs) -> None:
    sqs.ok(3, failed={1: ("InvalidMessageContents", True)})
    with pytest.raises(QueueSendError) as raised:
        FaultQueue(sqs.client, URL).send([fault(n) for n in range(3)])
    assert len(sqs.batches) == 1
    [failure] = raised.value.failures
    assert (failure.code, failure.sender_fault, failure.node_ref) == (
        "InvalidMessageContents",
        True,
        "i-00000000000000001",
    )
    assert raised.value.sent == 2 and not raised.value.retryable


def test_entry_missing_from_the_response_counts_as_failed_and_is_retried(sqs: StubbedSqs) -> None:
    sqs.stubber.add_response(
        "send_message_batch",
        {"Successful": [{"Id": "m0", "MessageId": "a", "MD5OfMessageBody": "0" * 32}], "Failed": []},
    )
    sqs.ok(1)
    report = FaultQueue(sqs.client, URL).send([fault(0), fault(1)])
    assert (report.sent, report.retried) == (2, 1)


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("AWS.SimpleQueueService.NonExistentQueue", QueueNotFoundError),
        ("QueueDoesNotExist", QueueNotFoundError),
        ("AccessDenied", QueueAccessDeniedError),
        ("KmsAccessDenied", QueueAccessDeniedError),
        ("RequestThrottled", QueueThrottledError),
        ("KmsThrottled", QueueThrottledError),
        ("ServiceUnavailable", QueueUnavailableError),
        ("AWS.SimpleQueueService.BatchRequestTooLong", QueueRequestError),
        ("TooManyEntriesInBatchRequest", QueueRequestError),
        ("SomethingNew", QueueError),
    ],
)
def test_client_errors_become_domain_errors_by_code(
    sqs: StubbedSqs, code: str, error: type[QueueError]
) -> None:
    sqs.error(code)
    with pytest.raises(error) as raised:
        FaultQueue(sqs.client, URL).send([fault(1)])
    assert type(raised.value) is error and raised.value.code == code


def test_throttling_and_unavailability_are_retryable_misconfiguration_is_not() -> None:
    assert QueueThrottledError("x").retryable and QueueUnavailableError("x").retryable
    assert not QueueNotFoundError("x").retryable and not QueueAccessDeniedError("x").retryable


def test_a_failure_after_earlier_batches_reports_what_was_already_sent(sqs: StubbedSqs) -> None:
    sqs.ok(10)
    sqs.error("RequestThrottled")
    with pytest.raises(QueueThrottledError) as raised:
        FaultQueue(sqs.client, URL).send([fault(n) for n in range(15)])
    assert raised.value.sent == 10


class _Unreachable:
    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> Any:
        raise EndpointConnectionError(endpoint_url=QueueUrl)


def test_connection_errors_become_queue_unavailable() -> None:
    with pytest.raises(QueueUnavailableError):
        FaultQueue(_Unreachable(), URL).send([fault(1)])


def test_batch_size_above_the_sqs_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        FaultQueue(_Unreachable(), URL, max_entries=11)


def test_declared_iam_actions_cover_send_message_batch() -> None:
    # SendMessageBatch has no IAM action of its own: sqs:SendMessage authorises it.
    assert dict(IAM_ACTIONS) == {
        "FaultQueue.send": frozenset({"sqs:SendMessage"}),
        "FaultQueue.requeue": frozenset({"sqs:SendMessage"}),
    }


def test_requeue_delays_every_entry(sqs: StubbedSqs) -> None:
    sqs.ok(10)
    sqs.ok(2)
    FaultQueue(sqs.client, URL).requeue([fault(n) for n in range(12)], delay_seconds=300)
    assert {e["DelaySeconds"] for batch in sqs.batches for e in batch} == {300}


def test_send_without_delay_sets_no_delay(sqs: StubbedSqs) -> None:
    sqs.ok(1)
    FaultQueue(sqs.client, URL).send([fault(1)])
    assert "DelaySeconds" not in sqs.batches[0][0]


@pytest.mark.parametrize("delay", [-1, 901])
def test_delay_outside_what_sqs_allows_is_refused(delay: int) -> None:
    with pytest.raises(ValueError, match="delay_seconds"):
        FaultQueue(_Unreachable(), URL).requeue([fault(1)], delay_seconds=delay)
