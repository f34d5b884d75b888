"""The remediation ledger in DynamoDB: one state item per node, one item per attempt.

Table layout (template.yaml `LedgerTable`):

| item | pk | sk | notes |
|---|---|---|---|
| node state | `NODE#<cluster>#<node key>` | `STATE` | version for optimistic concurrency; `open_cluster` set while open (sparse GSI `open-index`) |
| attempt | `NODE#<cluster>#<node key>` | `ATTEMPT#<iso time>#<attempt id>` | `expires_at` (epoch s) is the table's TTL |

The node key is the NodeLogicalId when known (it survives replacement), else the instance id.
A node is claimed with a conditional put (`version` unchanged since we read it) before any mutating
call; outcomes are written afterwards in batches of 25 items.

Read-only queries for operators (the `autoheal` CLI): `open_nodes` (the open index), `node_record`
(a node's state and attempts), `find_nodes` (by node key, NodeLogicalId or any instance id it had) and
`attempt_count`. The functions never call them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from botocore.exceptions import ClientError

from autoheal.core.batching import chunked
from autoheal.core.history import OPEN_STATUSES, LastOutcome, NodeHistory, NodeStatus
from autoheal.policy import Action

STATE_SK = "STATE"
ATTEMPT_PREFIX = "ATTEMPT#"
OPEN_INDEX = "open-index"
BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
MAX_UNPROCESSED_ROUNDS = 8

#: The IAM actions behind each public method of `Ledger` (c7n style; see tests/integration/test_iam.py).
#: `open_nodes` queries the open index for one cluster and scans it for all of them.
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "Ledger.load": frozenset({"dynamodb:BatchGetItem"}),
    "Ledger.put_if_unchanged": frozenset({"dynamodb:PutItem"}),
    "Ledger.commit": frozenset({"dynamodb:BatchWriteItem"}),
    "Ledger.attempts": frozenset({"dynamodb:Query"}),
    "Ledger.open_nodes": frozenset({"dynamodb:Query", "dynamodb:Scan"}),
    "Ledger.node_record": frozenset({"dynamodb:Query"}),
    "Ledger.attempt_count": frozenset({"dynamodb:Query"}),
    "Ledger.find_nodes": frozenset({"dynamodb:Query", "dynamodb:Scan"}),
}


@functools.cache
def _codec() -> tuple[Any, Any]:
    """boto3's DynamoDB (de)serializers, imported on first use: `boto3.dynamodb.types` imports all of
    boto3 (~100 ms), which a handler should not pay at import (bench/README.md, cold start)."""
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


NodeRef = tuple[str, str]  # (cluster, node key)


class DynamoClient(Protocol):
    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_write_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...


class LedgerError(RuntimeError):
    """The ledger could not be read or written; the batch must be retried."""


def node_pk(cluster: str, node_key: str) -> str:
    return f"NODE#{cluster}#{node_key}"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class AttemptRecord:
    """One remediation attempt: what we asked for and what came of it."""

    cluster: str
    node_key: str
    attempt_id: str
    action: Action
    step: int
    at: datetime
    outcome: str
    error_code: str | None = None
    message: str = ""
    request_id: str | None = None
    instance_id: str | None = None
    node_logical_id: str | None = None
    signal: str | None = None
    source_event_ids: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class NodeRecord:
    """Everything the ledger holds for one node: its state item (None if it has none) and its
    attempts, oldest first."""

    cluster: str
    node_key: str
    state: NodeHistory | None
    attempts: tuple[AttemptRecord, ...]


# --- explicit mapping between items and domain objects --------------------------------------------------


def history_to_item(h: NodeHistory, now: datetime) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": node_pk(h.cluster, h.node_key),
        "sk": STATE_SK,
        "cluster": h.cluster,
        "node_key": h.node_key,
        "version": h.version,
        "status": h.status.value,
        "step": h.step,
        "transient_retries": h.transient_retries,
        "seen_event_ids": list(h.seen_event_ids),
        "action_times": {a.value: [_iso(t) for t in ts] for a, ts in h.action_times.items()},
        "updated_at": _iso(now),
    }
    optional = {
        "last_action": h.last_action.value if h.last_action else None,
        "last_action_at": _iso(h.last_action_at),
        "last_attempt_at": _iso(h.last_attempt_at),
        "last_outcome": h.last_outcome.value if h.last_outcome else None,
        "last_error_code": h.last_error_code,
        "claim_expires_at": _iso(h.claim_expires_at),
        "instance_id": h.instance_id,
        "node_logical_id": h.node_logical_id,
        "instance_group": h.instance_group,
        "open_cluster": h.cluster if h.status in OPEN_STATUSES else None,
        "intent_action": h.intent_action.value if h.intent_action else None,
        "intent_at": _iso(h.intent_at),
        "intent_instance_id": h.intent_instance_id,
        "pending_fault": h.pending_fault,
        "retry_at": _iso(h.retry_at),
    }
    if h.intent_action is not None:
        item["intent_step"] = h.intent_step
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def item_to_history(item: Mapping[str, Any]) -> NodeHistory:
    action_times = {
        Action(a): tuple(t for t in (_dt(x) for x in ts) if t is not None)
        for a, ts in (item.get("action_times") or {}).items()
    }
    return NodeHistory(
        cluster=str(item["cluster"]),
        node_key=str(item["node_key"]),
        version=int(item.get("version", 0)),
        status=NodeStatus(item.get("status", NodeStatus.IDLE.value)),
        step=int(item.get("step", -1)),
        last_action=Action(item["last_action"]) if item.get("last_action") else None,
        last_action_at=_dt(item.get("last_action_at")),
        last_attempt_at=_dt(item.get("last_attempt_at")),
        last_outcome=LastOutcome(item["last_outcome"]) if item.get("last_outcome") else None,
        last_error_code=item.get("last_error_code"),
        transient_retries=int(item.get("transient_retries", 0)),
        action_times=action_times,
        seen_event_ids=tuple(item.get("seen_event_ids") or ()),
        claim_expires_at=_dt(item.get("claim_expires_at")),
        instance_id=item.get("instance_id"),
        node_logical_id=item.get("node_logical_id"),
        instance_group=item.get("instance_group"),
        intent_action=Action(item["intent_action"]) if item.get("intent_action") else None,
        intent_step=int(item.get("intent_step", -1)),
        intent_at=_dt(item.get("intent_at")),
        intent_instance_id=item.get("intent_instance_id"),
        pending_fault=item.get("pending_fault"),
        retry_at=_dt(item.get("retry_at")),
    )


def attempt_to_item(a: AttemptRecord, ttl: timedelta) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": node_pk(a.cluster, a.node_key),
        "sk": f"{ATTEMPT_PREFIX}{_iso(a.at)}#{a.attempt_id}",
        "cluster": a.cluster,
        "node_key": a.node_key,
        "attempt_id": a.attempt_id,
        "action": a.action.value,
        "step": a.step,
        "at": _iso(a.at),
        "outcome": a.outcome,
        "message": a.message[:1024],
        "source_event_ids": list(a.source_event_ids),
        "expires_at": int((a.at + ttl).timestamp()),
    }
    optional = {
        "error_code": a.error_code,
        "request_id": a.request_id,
        "instance_id": a.instance_id,
        "node_logical_id": a.node_logical_id,
        "signal": a.signal,
    }
    item.update({k: v for k, v in optional.items() if v is not None})
    return item


def item_to_attempt(item: Mapping[str, Any]) -> AttemptRecord:
    return AttemptRecord(
        cluster=str(item["cluster"]),
        node_key=str(item["node_key"]),
        attempt_id=str(item["attempt_id"]),
        action=Action(item["action"]),
        step=int(item.get("step", 0)),
        at=_dt(item["at"]) or datetime.now(UTC),
        outcome=str(item["outcome"]),
        error_code=item.get("error_code"),
        message=str(item.get("message", "")),
        request_id=item.get("request_id"),
        instance_id=item.get("instance_id"),
        node_logical_id=item.get("node_logical_id"),
        signal=item.get("signal"),
        source_event_ids=tuple(item.get("source_event_ids") or ()),
    )


def _marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    serializer = _codec()[0]
    return {k: serializer.serialize(v) for k, v in item.items()}


def _unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    deserializer = _codec()[1]
    return {k: deserializer.deserialize(v) for k, v in item.items()}


# --- the adapter ----------------------------------------------------------------------------------------


class Ledger:
    """Reads and writes node state and attempts. All writes of a batch go out in as few requests as
    DynamoDB allows (BatchGetItem 100 keys, BatchWriteItem 25 items), except claims, which are
    conditional and so one request each."""

    def __init__(
        self,
        client: DynamoClient,
        table_name: str,
        attempt_ttl: timedelta = timedelta(days=30),
        sleep: Any = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._attempt_ttl = attempt_ttl
        self._sleep = sleep

    def load(self, refs: Iterable[NodeRef]) -> dict[NodeRef, NodeHistory]:
        """Histories for the nodes, fresh ones for nodes never seen."""
        wanted = list(dict.fromkeys(refs))
        found: dict[NodeRef, NodeHistory] = {}
        for chunk in chunked(wanted, BATCH_GET_MAX):
            keys: list[dict[str, Any]] = [
                {"pk": {"S": node_pk(c, n)}, "sk": {"S": STATE_SK}} for c, n in chunk
            ]
            request: dict[str, Any] = {self._table: {"Keys": keys, "ConsistentRead": True}}
            for _ in range(MAX_UNPROCESSED_ROUNDS):
                response = self._call("batch_get_item", RequestItems=request)
                for raw in response.get("Responses", {}).get(self._table, []):
                    h = item_to_history(_unmarshal(raw))
                    found[(h.cluster, h.node_key)] = h
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._backoff()
            else:
                raise LedgerError("BatchGetItem left keys unprocessed after retries")
        return {ref: found.get(ref) or NodeHistory(cluster=ref[0], node_key=ref[1]) for ref in wanted}

    def put_if_unchanged(self, new: NodeHistory, expected_version: int, now: datetime) -> bool:
        """Write `new` (whose version must be expected_version + 1) only if nobody wrote since we read.

        This is the claim: exactly one concurrent writer wins; the others get False.
        """
        if new.version != expected_version + 1:
            raise ValueError("a conditional write must bump the version by one")
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :v"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": _marshal(history_to_item(new, now)),
            "ConditionExpression": condition,
        }
        if expected_version:
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            self._client.put_item(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise LedgerError(f"PutItem failed: {exc.response.get('Error', {}).get('Code')}") from exc
        return True

    def commit(self, states: Sequence[NodeHistory], attempts: Sequence[AttemptRecord], now: datetime) -> None:
        """Write outcomes: state items (held under our claim) and attempt items, 25 per request."""
        items = [history_to_item(h, now) for h in states] + [
            attempt_to_item(a, self._attempt_ttl) for a in attempts
        ]
        for chunk in chunked(items, BATCH_WRITE_MAX):
            request: dict[str, Any] = {self._table: [{"PutRequest": {"Item": _marshal(i)}} for i in chunk]}
            for _ in range(MAX_UNPROCESSED_ROUNDS):
                response = self._call("batch_write_item", RequestItems=request)
                request = response.get("UnprocessedItems") or {}
                if not request:
                    break
                self._backoff()
            else:
                raise LedgerError("BatchWriteItem left items unprocessed after retries")

    def attempts(self, cluster: str, node_key: str) -> list[AttemptRecord]:
        """Every attempt recorded for a node, oldest first."""
        return [item_to_attempt(i) for i in self._items("query", **self._attempts_query(cluster, node_key))]

    # --- read-only queries for operators (never called by the functions) --------------------------------

    def open_nodes(self, cluster: str | None = None) -> list[NodeHistory]:
        """Nodes with an open fault, from the sparse `open-index` (eventually consistent, like every
        index read): one cluster's by Query, every cluster's by a Scan of the index, which holds open
        nodes only. Sorted by cluster, then node key."""
        if cluster is None:
            items = self._items("scan", TableName=self._table, IndexName=OPEN_INDEX)
        else:
            items = self._items(
                "query",
                TableName=self._table,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_cluster = :c",
                ExpressionAttributeValues={":c": {"S": cluster}},
            )
        return sorted((item_to_history(i) for i in items), key=lambda h: (h.cluster, h.node_key))

    def node_record(self, cluster: str, node_key: str) -> NodeRecord:
        """A node's state item and all its attempts, in one (paginated) Query of its partition."""
        state: NodeHistory | None = None
        attempts: list[AttemptRecord] = []
        for item in self._items(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": node_pk(cluster, node_key)}},
            ConsistentRead=True,
        ):
            if item["sk"] == STATE_SK:
                state = item_to_history(item)
            elif str(item["sk"]).startswith(ATTEMPT_PREFIX):
                attempts.append(item_to_attempt(item))
        return NodeRecord(cluster, node_key, state, tuple(attempts))

    def attempt_count(self, cluster: str, node_key: str) -> int:
        """How many attempts the ledger holds for a node (attempts expire with the table's TTL)."""
        kwargs: dict[str, Any] = {**self._attempts_query(cluster, node_key), "Select": "COUNT"}
        count = 0
        while True:
            response = self._call("query", **kwargs)
            count += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return count
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def find_nodes(self, ref: str, cluster: str | None = None) -> list[NodeRef]:
        """The nodes whose ledger items name `ref` as node key or NodeLogicalId, or as an instance id:
        the current one (state item) or one an attempt acted on, so an instance that has been replaced
        still finds its node. Instance ids are not keys, so this is a filtered Scan (an operator's
        lookup, not a hot path); with `cluster`, a node key is tried first with one Query."""
        if cluster is not None and self._has_partition(cluster, ref):
            return [(cluster, ref)]
        names = {
            "#pk": "pk",
            "#cluster": "cluster",
            "#key": "node_key",
            "#lid": "node_logical_id",
            "#iid": "instance_id",
        }
        values: dict[str, Any] = {":node": {"S": "NODE#"}, ":ref": {"S": ref}}
        condition = "begins_with(#pk, :node) AND (#key = :ref OR #lid = :ref OR #iid = :ref)"
        if cluster is not None:
            values[":cluster"] = {"S": cluster}
            condition += " AND #cluster = :cluster"
        found = self._items(
            "scan",
            TableName=self._table,
            FilterExpression=condition,
            ProjectionExpression="#cluster, #key",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        return sorted({(str(i["cluster"]), str(i["node_key"])) for i in found})

    def _has_partition(self, cluster: str, node_key: str) -> bool:
        response = self._call(
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": node_pk(cluster, node_key)}},
            Select="COUNT",
            Limit=1,
            ConsistentRead=True,
        )
        return int(response.get("Count", 0)) > 0

    def _attempts_query(self, cluster: str, node_key: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": node_pk(cluster, node_key)},
                ":prefix": {"S": ATTEMPT_PREFIX},
            },
        }

    def _items(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated Query or Scan, unmarshalled (filtered pages may be empty)."""
        while True:
            response = self._call(operation, **kwargs)
            yield from (_unmarshal(i) for i in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise LedgerError(f"{operation} failed: {exc.response.get('Error', {}).get('Code')}") from exc
        return result

    def _backoff(self) -> None:
        self._sleep(0.05)
