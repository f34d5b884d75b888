"""Dropped-fault verdicts in the ledger table: what remediate decided about a fault that named no node
it could act on (its cluster does not exist, its node is not in the cluster, its instance was already
replaced), keyed by the event the fault came from.

Without them such a fault leaves only a log line: an operator (or `autoheal selftest`) asking "what
became of the fault from event X?" could not tell a dropped fault from a lost one. Each is one small
item (`FAULT#<event id>` / `DROPPED#<node>`, under 1 KB: one write unit), written with the batch's
other writes in BatchWriteItem requests of 25, so a batch adds at most ceil(dropped / 25) requests, and
it expires with the table's TTL (`expires_at`) after `DROPPED_TTL`: deletion by TTL costs nothing. A
redelivered fault rewrites the same key (idempotent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import DynamoClient, Retry, from_iso, iso

FAULT_PREFIX = "FAULT#"
DROPPED_PREFIX = "DROPPED#"
#: How long a dropped fault's verdict is kept: long enough to look a week's faults up, short enough
#: that a storm of faults for a deleted cluster does not stay in the table.
DROPPED_TTL = timedelta(days=7)

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerVerdicts.record_dropped": frozenset({"dynamodb:BatchWriteItem"}),
    "LedgerVerdicts.dropped": frozenset({"dynamodb:Query"}),
    "LedgerVerdicts.forget": frozenset({"dynamodb:Query", "dynamodb:DeleteItem"}),
}


@dataclass(frozen=True)
class DroppedFault:
    """One fault remediate dropped, and why (`reason`: cluster_not_found, node_not_in_cluster, ...)."""

    event_id: str  # the fault's source event
    cluster: str  # as the fault named it ("?" when it named none)
    node: str  # as the fault named it: NodeLogicalId or instance id
    reason: str
    at: datetime  # when remediate dropped it
    instance_id: str | None = None
    signal: str | None = None


def fault_pk(event_id: str) -> str:
    return f"{FAULT_PREFIX}{event_id}"


def dropped_to_item(d: DroppedFault, ttl: timedelta = DROPPED_TTL) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": fault_pk(d.event_id),
        "sk": f"{DROPPED_PREFIX}{d.cluster}#{d.node}",
        "event_id": d.event_id,
        "cluster": d.cluster,
        "node": d.node,
        "reason": d.reason,
        "at": iso(d.at),
        "expires_at": int((d.at + ttl).timestamp()),
    }
    item.update({k: v for k, v in {"instance_id": d.instance_id, "signal": d.signal}.items() if v})
    return item


def item_to_dropped(item: Mapping[str, Any]) -> DroppedFault:
    return DroppedFault(
        event_id=str(item["event_id"]),
        cluster=str(item["cluster"]),
        node=str(item["node"]),
        reason=str(item["reason"]),
        at=from_iso(item.get("at")) or datetime.now(UTC),
        instance_id=item.get("instance_id"),
        signal=item.get("signal"),
    )


class LedgerVerdicts:
    """Writes remediate's dropped-fault verdicts; reads and deletes them for the `autoheal` CLI."""

    def __init__(
        self, client: DynamoClient, table_name: str, ttl: timedelta = DROPPED_TTL, retry: Retry | None = None
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl = ttl
        self._retry = retry or Retry()

    def record_dropped(self, dropped: Sequence[DroppedFault]) -> None:
        """One item per dropped fault, 25 per BatchWriteItem request (nothing sent for none)."""
        items = {(i["pk"], i["sk"]): i for i in (dropped_to_item(d, self._ttl) for d in dropped)}
        dynamo.batch_write(self._client, self._table, list(items.values()), self._retry)

    def dropped(self, event_id: str) -> list[DroppedFault]:
        """The verdicts recorded for the faults of one event (strongly consistent)."""
        return [item_to_dropped(i) for i in self._items(event_id)]

    def forget(self, event_id: str) -> int:
        """Delete the verdicts of one event; how many there were."""
        keys = [{"pk": i["pk"], "sk": i["sk"]} for i in self._items(event_id)]
        for key in keys:
            dynamo.call(self._client, "delete_item", TableName=self._table, Key=dynamo.marshal(key))
        return len(keys)

    def _items(self, event_id: str) -> list[dict[str, Any]]:
        return list(
            dynamo.items(
                self._client,
                "query",
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": fault_pk(event_id)},
                    ":prefix": {"S": DROPPED_PREFIX},
                },
                ConsistentRead=True,
            )
        )
