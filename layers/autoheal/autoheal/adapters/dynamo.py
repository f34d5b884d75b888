"""DynamoDB plumbing shared by every ledger-table adapter; the only module here that talks to the client.

- **Errors**: `call` and `pages` turn a botocore `ClientError` into a `LedgerError` subclass chosen by
  the AWS error code (`ConditionFailed`, `Throttled`, `TableNotFound`), with the original as
  `__cause__`; nothing upstream reads message text.
- **Pagination**: Query and Scan go through boto3's paginators (`pages`, `items`, `count`).
- **Batches**: `batch_get` (BatchGetItem, at most 100 keys a request) and `batch_write`
  (BatchWriteItem, at most 25 puts a request) resend whatever comes back in `UnprocessedKeys` /
  `UnprocessedItems`, at most `Retry.attempts` requests per chunk with exponential backoff and full
  jitter between them, then raise `UnprocessedLeft`.
- **Items**: `marshal` / `unmarshal` are the one conversion between Python values and DynamoDB's
  typed attribute values (boto3's TypeSerializer / TypeDeserializer, built on first use: see
  `_codec`); `iso` / `from_iso` write and read the timestamps stored as ISO 8601 strings.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from autoheal.core.batching import chunked

BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25

_THROTTLED = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)


class DynamoClient(Protocol):
    """The part of a boto3 DynamoDB client the ledger adapters use."""

    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def transact_write_items(self, **kwargs: Any) -> dict[str, Any]: ...
    def update_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def delete_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...
    def get_paginator(self, operation_name: str) -> Any: ...


# --- errors ---------------------------------------------------------------------------------------------


class LedgerError(RuntimeError):
    """The ledger table could not be read or written; the batch must be retried. `code` is DynamoDB's
    error code (or `Unprocessed`), `operation` the client method."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"DynamoDB {operation} failed: {code}")
        self.operation = operation
        self.code = code


class ConditionFailed(LedgerError):
    """A conditional write found the item changed (ConditionalCheckFailedException)."""


class Throttled(LedgerError):
    """DynamoDB throttled the request after the SDK's own retries."""


class TableNotFound(LedgerError):
    """The table does not exist (ResourceNotFoundException)."""


class UnprocessedLeft(LedgerError):
    """A batch still had unprocessed keys or items after `Retry.attempts` requests."""


def error_for(exc: ClientError, operation: str) -> LedgerError:
    """The domain error for a botocore ClientError, by its error code."""
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    if code == "ConditionalCheckFailedException":
        return ConditionFailed(operation, code)
    if code in _THROTTLED:
        return Throttled(operation, code)
    if code == "ResourceNotFoundException":
        return TableNotFound(operation, code)
    return LedgerError(operation, code)


def call(client: DynamoClient, operation: str, **kwargs: Any) -> dict[str, Any]:
    """One request, its ClientError translated."""
    try:
        result: dict[str, Any] = getattr(client, operation)(**kwargs)
    except ClientError as exc:
        raise error_for(exc, operation) from exc
    return result


def transact_write(client: DynamoClient, items: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """One TransactWriteItems: None when it was written; when it was cancelled (nothing written), each
    item's cancellation reason code, in order ("None" for an item that was not the cause)."""
    try:
        client.transact_write_items(TransactItems=list(items))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise error_for(exc, "transact_write_items") from exc
        reasons = exc.response.get("CancellationReasons") or [{} for _ in items]
        return [str(r.get("Code") or "None") for r in reasons]
    return None


# --- pagination -----------------------------------------------------------------------------------------


def pages(client: DynamoClient, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a Query or Scan (boto3's paginator; a filtered page may hold no items)."""
    try:
        yield from client.get_paginator(operation).paginate(**kwargs)
    except ClientError as exc:
        raise error_for(exc, operation) from exc


def items(client: DynamoClient, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, unmarshalled."""
    for page in pages(client, operation, **kwargs):
        yield from (unmarshal(i) for i in page.get("Items", []))


def count(client: DynamoClient, **query: Any) -> int:
    """How many items a Query matches (`Select=COUNT`, summed over its pages)."""
    return sum(int(page.get("Count", 0)) for page in pages(client, "query", Select="COUNT", **query))


# --- batches with a bounded retry of unprocessed keys / items -------------------------------------------


@dataclass(frozen=True)
class Retry:
    """How often and how patiently a batch's unprocessed part is resent: at most `attempts` requests
    per chunk; before the n-th resend (n = 0, 1, ...) a sleep drawn uniformly from
    [0, min(cap, base * 2**n)) ("full jitter"). `sleep` and `rng` are injectable for tests."""

    attempts: int = 8
    base: float = 0.05
    cap: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    rng: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a batch needs at least one attempt, got {self.attempts}")

    def delay(self, resend: int) -> float:
        return self.rng() * min(self.cap, self.base * 2.0**resend)


def _until_processed(
    client: DynamoClient, operation: str, request: dict[str, Any], unprocessed: str, retry: Retry
) -> Iterator[dict[str, Any]]:
    """Send `request`, then what each response leaves in `unprocessed`, at most `retry.attempts`
    requests in all; yields every response."""
    for resend in range(retry.attempts):
        if resend:
            retry.sleep(retry.delay(resend - 1))
        response = call(client, operation, RequestItems=request)
        yield response
        request = response.get(unprocessed) or {}
        if not request:
            return
    raise UnprocessedLeft(operation, "Unprocessed")


def batch_get(
    client: DynamoClient, table: str, keys: Sequence[Mapping[str, Any]], retry: Retry, workers: int = 1
) -> list[dict[str, Any]]:
    """The items at `keys` (plain values; missing ones are left out, in no particular order), strongly
    consistent, unmarshalled; with `workers` > 1, that many requests side by side (a failed one raises
    once the others are done)."""
    requests = [
        {table: {"Keys": [marshal(k) for k in chunk], "ConsistentRead": True}}
        for chunk in chunked(keys, BATCH_GET_MAX)
    ]

    def fetch(request: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            unmarshal(i)
            for response in _until_processed(client, "batch_get_item", request, "UnprocessedKeys", retry)
            for i in response.get("Responses", {}).get(table, [])
        ]

    if workers <= 1 or len(requests) <= 1:
        return [item for request in requests for item in fetch(request)]
    with ThreadPoolExecutor(max_workers=min(workers, len(requests)), thread_name_prefix="read") as pool:
        return [item for done in [pool.submit(fetch, r) for r in requests] for item in done.result()]


def batch_write(
    client: DynamoClient, table: str, puts: Sequence[Mapping[str, Any]], retry: Retry, workers: int = 1
) -> None:
    """Put the items (plain values), in as few requests as BatchWriteItem allows; with `workers` > 1,
    that many requests side by side (a failed one raises once the others are done)."""
    requests = [
        {table: [{"PutRequest": {"Item": marshal(i)}} for i in chunk]}
        for chunk in chunked(puts, BATCH_WRITE_MAX)
    ]

    def send(request: dict[str, Any]) -> None:
        for _ in _until_processed(client, "batch_write_item", request, "UnprocessedItems", retry):
            pass

    if workers <= 1 or len(requests) <= 1:
        for request in requests:
            send(request)
        return
    with ThreadPoolExecutor(max_workers=min(workers, len(requests)), thread_name_prefix="write") as pool:
        for done in [pool.submit(send, r) for r in requests]:
            done.result()


# --- items ----------------------------------------------------------------------------------------------


@functools.cache
def _codec() -> tuple[Any, Any]:
    """boto3's DynamoDB (de)serializers, imported on first use: `boto3.dynamodb.types` imports all of
    boto3 (~100 ms), which a handler should not pay at import (bench/README.md, cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values -> DynamoDB attribute values ({"S": ...}, {"N": ...}, ...)."""
    serializer = _codec()[0]
    return {k: serializer.serialize(v) for k, v in item.items()}


def unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB attribute values -> plain values (numbers come back as Decimal)."""
    deserializer = _codec()[1]
    return {k: deserializer.deserialize(v) for k, v in item.items()}


def iso(value: datetime | None) -> str | None:
    """A timestamp as stored: ISO 8601 in UTC (None stays None)."""
    return value.astimezone(UTC).isoformat() if value else None


def from_iso(value: Any) -> datetime | None:
    """A stored ISO 8601 timestamp back (None or empty -> None)."""
    return datetime.fromisoformat(str(value)) if value else None
