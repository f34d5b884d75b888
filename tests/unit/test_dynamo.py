"""The DynamoDB plumbing against a fake client: chunk sizes, the bounded retry of unprocessed keys and
items (its bound, backoff growth and jitter range), error translation, paginated reads, item conversion."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import (
    BATCH_GET_MAX,
    BATCH_WRITE_MAX,
    ConditionFailed,
    LedgerError,
    Retry,
    TableNotFound,
    Throttled,
    UnprocessedLeft,
)

TABLE = "t"


class FakeBatchClient:
    """Answers BatchGetItem / BatchWriteItem; the first `unprocessed_rounds` requests of each kind leave
    everything (or, with `leave_one`, only the last key / item) unprocessed."""

    def __init__(self, unprocessed_rounds: int = 0, leave_one: bool = False) -> None:
        self.unprocessed_rounds = unprocessed_rounds
        self.leave_one = leave_one
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def _leave(self, entries: list[Any]) -> tuple[list[Any], list[Any]]:
        if len(self.requests) > self.unprocessed_rounds:
            return entries, []
        if self.leave_one:
            return entries[:-1], entries[-1:]
        return [], entries

    def batch_get_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(("get", RequestItems))
        done, left = self._leave(RequestItems[TABLE]["Keys"])
        unprocessed = {TABLE: {**RequestItems[TABLE], "Keys": left}} if left else {}
        return {"Responses": {TABLE: [{**k, "v": {"N": "1"}} for k in done]}, "UnprocessedKeys": unprocessed}

    def batch_write_item(self, *, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(("write", RequestItems))
        _, left = self._leave(RequestItems[TABLE])
        return {"UnprocessedItems": {TABLE: left} if left else {}}

    def sizes(self) -> list[int]:
        return [len(body[TABLE]["Keys"] if kind == "get" else body[TABLE]) for kind, body in self.requests]


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def keys(n: int) -> list[dict[str, str]]:
    return [{"pk": f"NODE#c#{i}", "sk": "STATE"} for i in range(n)]


def no_sleep() -> Retry:
    return Retry(sleep=Sleeps())


# ---------------------------------------------------------------- chunking


@pytest.mark.parametrize(
    ("n", "sizes"), [(0, []), (1, [1]), (25, [25]), (26, [26]), (100, [100]), (101, [100, 1])]
)
def test_batch_get_sends_at_most_100_keys_a_request(n: int, sizes: list[int]) -> None:
    client = FakeBatchClient()
    found = dynamo.batch_get(client, TABLE, keys(n), no_sleep())  # type: ignore[arg-type]
    assert client.sizes() == sizes
    assert len(found) == n
    assert all(r[1][TABLE]["ConsistentRead"] is True for r in client.requests)


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(0, []), (1, [1]), (25, [25]), (26, [25, 1]), (100, [25, 25, 25, 25]), (101, [25, 25, 25, 25, 1])],
)
def test_batch_write_sends_at_most_25_items_a_request(n: int, sizes: list[int]) -> None:
    client = FakeBatchClient()
    dynamo.batch_write(client, TABLE, keys(n), no_sleep())  # type: ignore[arg-type]
    assert client.sizes() == sizes
    assert BATCH_GET_MAX == 100 and BATCH_WRITE_MAX == 25


@pytest.mark.parametrize("n", [0, 1, 26, 101])
def test_batch_write_side_by_side_sends_the_same_requests(n: int) -> None:
    client = FakeBatchClient()
    dynamo.batch_write(client, TABLE, keys(n), no_sleep(), workers=4)  # type: ignore[arg-type]
    sent = sorted(i["PutRequest"]["Item"]["pk"]["S"] for _, body in client.requests for i in body[TABLE])
    assert sent == sorted(k["pk"] for k in keys(n))
    assert sorted(client.sizes()) == sorted(len(c) for c in [keys(n)[i : i + 25] for i in range(0, n, 25)])


@pytest.mark.parametrize("n", [0, 1, 100, 101, 450])
def test_batch_get_side_by_side_reads_the_same_keys_and_returns_every_item(n: int) -> None:
    client = FakeBatchClient()
    found = dynamo.batch_get(client, TABLE, keys(n), no_sleep(), workers=4)  # type: ignore[arg-type]
    assert sorted(i["pk"] for i in found) == sorted(k["pk"] for k in keys(n))
    assert sorted(client.sizes()) == sorted(len(c) for c in [keys(n)[i : i + 100] for i in range(0, n, 100)])


# ---------------------------------------------------------------- the bounded retry


def test_unprocessed_keys_are_resent_until_done_and_every_item_comes_back() -> None:
    client = FakeBatchClient(unprocessed_rounds=2, leave_one=True)
    sleeps = Sleeps()
    found = dynamo.batch_get(client, TABLE, keys(3), Retry(sleep=sleeps))  # type: ignore[arg-type]
    assert client.sizes() == [3, 1, 1]  # only the unprocessed key is sent again
    assert sorted(i["pk"] for i in found) == sorted(k["pk"] for k in keys(3))
    assert found[0]["v"] == Decimal(1)  # unmarshalled
    assert len(sleeps.slept) == 2


def test_unprocessed_items_are_resent_alone() -> None:
    client = FakeBatchClient(unprocessed_rounds=1, leave_one=True)
    dynamo.batch_write(client, TABLE, keys(26), no_sleep())  # type: ignore[arg-type]
    # first chunk: 25, its last item again; second chunk: 1 (answered in full)
    assert client.sizes() == [25, 1, 1]
    resent = client.requests[1][1][TABLE][0]["PutRequest"]["Item"]
    assert resent["pk"] == {"S": "NODE#c#24"}


@pytest.mark.parametrize("operation", ["get", "write"])
def test_the_retry_is_bounded_and_ends_in_a_typed_error(operation: str) -> None:
    client = FakeBatchClient(unprocessed_rounds=100)
    sleeps = Sleeps()
    retry = Retry(attempts=5, sleep=sleeps)
    with pytest.raises(UnprocessedLeft) as raised:
        if operation == "get":
            dynamo.batch_get(client, TABLE, keys(2), retry)  # type: ignore[arg-type]
        else:
            dynamo.batch_write(client, TABLE, keys(2), retry)  # type: ignore[arg-type]
    assert len(client.requests) == 5  # attempts, not one more
    assert len(sleeps.slept) == 4  # a sleep between requests, none after the last
    assert isinstance(raised.value, LedgerError) and raised.value.code == "Unprocessed"


def test_one_attempt_means_no_resend_and_no_sleep() -> None:
    client = FakeBatchClient(unprocessed_rounds=1)
    sleeps = Sleeps()
    with pytest.raises(UnprocessedLeft):
        dynamo.batch_get(client, TABLE, keys(1), Retry(attempts=1, sleep=sleeps))  # type: ignore[arg-type]
    assert (len(client.requests), sleeps.slept) == (1, [])


def test_a_retry_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        Retry(attempts=0)


def test_backoff_doubles_up_to_the_cap() -> None:
    client = FakeBatchClient(unprocessed_rounds=100)
    sleeps = Sleeps()
    retry = Retry(attempts=8, base=0.05, cap=2.0, sleep=sleeps, rng=lambda: 1.0)  # the upper bound
    with pytest.raises(UnprocessedLeft):
        dynamo.batch_write(client, TABLE, keys(1), retry)  # type: ignore[arg-type]
    assert sleeps.slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0])


def test_full_jitter_stays_within_zero_and_the_backoff() -> None:
    rng = random.Random(14)
    retry = Retry(base=0.05, cap=2.0, rng=rng.random)
    for resend in range(10):
        ceiling = min(2.0, 0.05 * 2**resend)
        delays = [retry.delay(resend) for _ in range(200)]
        assert all(0 <= d < ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread, not fixed
    assert Retry(rng=lambda: 0.0).delay(3) == 0.0


# ---------------------------------------------------------------- errors


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "ignored text"}}, "PutItem")


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("ConditionalCheckFailedException", ConditionFailed),
        ("ProvisionedThroughputExceededException", Throttled),
        ("ThrottlingException", Throttled),
        ("RequestLimitExceeded", Throttled),
        ("ResourceNotFoundException", TableNotFound),
        ("ValidationException", LedgerError),
    ],
)
def test_client_errors_become_domain_errors_by_code(code: str, kind: type[LedgerError]) -> None:
    class Failing:
        def put_item(self, **_: Any) -> dict[str, Any]:
            raise client_error(code)

    with pytest.raises(kind) as raised:
        dynamo.call(Failing(), "put_item", TableName=TABLE)  # type: ignore[arg-type]
    assert type(raised.value) is kind
    assert (raised.value.operation, raised.value.code) == ("put_item", code)
    assert isinstance(raised.value.__cause__, ClientError)


def test_a_failing_batch_request_is_translated_too() -> None:
    class Failing(FakeBatchClient):
        def batch_write_item(self, **_: Any) -> dict[str, Any]:
            raise client_error("ProvisionedThroughputExceededException")

    with pytest.raises(Throttled):
        dynamo.batch_write(Failing(), TABLE, keys(1), no_sleep())  # type: ignore[arg-type]


# ---------------------------------------------------------------- paginated reads (boto3's paginators)


def stubbed() -> tuple[Any, Stubber]:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return client, Stubber(client)


def test_items_follow_every_page_and_come_back_unmarshalled() -> None:
    client, stub = stubbed()
    query = {
        "TableName": TABLE,
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "p"}},
    }
    last = {"pk": {"S": "p"}, "sk": {"S": "a"}}
    stub.add_response(
        "query", {"Items": [{"pk": {"S": "p"}, "n": {"N": "2"}}], "LastEvaluatedKey": last}, query
    )
    stub.add_response("query", {"Items": []}, {**query, "ExclusiveStartKey": last})
    with stub:
        assert list(dynamo.items(client, "query", **query)) == [{"pk": "p", "n": Decimal(2)}]
        stub.assert_no_pending_responses()


def test_count_sums_the_pages() -> None:
    client, stub = stubbed()
    last = {"pk": {"S": "p"}, "sk": {"S": "a"}}
    stub.add_response("query", {"Count": 2, "Items": [], "LastEvaluatedKey": last})
    stub.add_response("query", {"Count": 1, "Items": []})
    with stub:
        assert dynamo.count(client, TableName=TABLE, KeyConditionExpression="pk = :pk") == 3


def test_a_failing_page_is_translated() -> None:
    client, stub = stubbed()
    stub.add_client_error("scan", service_error_code="ResourceNotFoundException")
    with stub, pytest.raises(TableNotFound):
        list(dynamo.items(client, "scan", TableName=TABLE))


# ---------------------------------------------------------------- item conversion


def test_marshal_and_unmarshal_round_trip() -> None:
    item = {"pk": "NODE#c#n", "version": 3, "ids": ["a", "b"], "times": {"reboot": ["x"]}, "empty": ""}
    marshalled = dynamo.marshal(item)
    assert marshalled["pk"] == {"S": "NODE#c#n"} and marshalled["version"] == {"N": "3"}
    assert dynamo.unmarshal(marshalled) == {**item, "version": Decimal(3)}


def test_timestamps_are_stored_in_utc_iso_and_read_back() -> None:
    at = datetime(2026, 11, 25, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert dynamo.iso(at) == "2026-11-25T12:00:00+00:00"
    assert dynamo.from_iso(dynamo.iso(at)) == at.astimezone(UTC)
    assert dynamo.iso(None) is None and dynamo.from_iso(None) is None and dynamo.from_iso("") is None
