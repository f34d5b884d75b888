"""Approval records in the ledger table: one item per node, in one partition of their own.

| key | value |
|---|---|
| `pk` | `APPROVAL` (every approval: one Query lists them; IAM's `dynamodb:LeadingKeys` can name it) |
| `sk` | `<cluster>#<node key>`: remediate reads a batch's nodes with one BatchGetItem |

A node's next request replaces its previous record (conditional on the ID it read, so two invocations
never both ask); a decision is an UpdateItem conditional on the record still pending under its ID, so a
person and the deadline never both decide. The record keeps who decided, when and why, and expires
(`expires_at`, the table's TTL) `KEEP` after its deadline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import ConditionFailed, DynamoClient, Retry
from autoheal.adapters.ledger import NodeRef
from autoheal.core.approvals import Approval, ApprovalStatus

APPROVAL_PK = "APPROVAL"
#: How long a record is kept after its deadline (DynamoDB TTL).
KEEP = timedelta(days=30)
_TIMES = ("created", "deadline", "decided_at")

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerApprovals.for_nodes": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerApprovals.request": frozenset({"dynamodb:PutItem"}),
    "LedgerApprovals.decide": frozenset({"dynamodb:UpdateItem"}),
    "LedgerApprovals.all": frozenset({"dynamodb:Query"}),
}


def approval_key(cluster: str, node_key: str) -> dict[str, str]:
    return {"pk": APPROVAL_PK, "sk": f"{cluster}#{node_key}"}


class LedgerApprovals:
    def __init__(self, client: DynamoClient, table_name: str, retry: Retry | None = None) -> None:
        self._client = client
        self._table = table_name
        self._retry = retry or Retry()

    def for_nodes(self, refs: Iterable[NodeRef]) -> dict[NodeRef, Approval]:
        """The approval record of each node that has one (one BatchGetItem per 100 nodes)."""
        keys = [approval_key(c, k) for c, k in sorted(set(refs))]
        found = (_approval(item) for item in dynamo.batch_get(self._client, self._table, keys, self._retry))
        return {(a.cluster, a.node_key): a for a in found}

    def all(self, cluster: str | None = None) -> list[Approval]:
        """Every approval record (of one cluster), oldest first (one Query of the partition)."""
        condition, values = "pk = :pk", {":pk": {"S": APPROVAL_PK}}
        if cluster is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": f"{cluster}#"}
        items = dynamo.items(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        return sorted((_approval(i) for i in items), key=lambda a: (a.created, a.id))

    def request(self, approval: Approval, replaces: str | None) -> bool:
        """Write a new pending approval; False when the node's record changed since it was read (another
        invocation asked first): nothing is written."""
        condition = "attribute_not_exists(pk)" if replaces is None else "#id = :replaces"
        kwargs: dict[str, Any] = {"ConditionExpression": condition}
        if replaces is not None:
            kwargs["ExpressionAttributeNames"] = {"#id": "id"}
            kwargs["ExpressionAttributeValues"] = dynamo.marshal({":replaces": replaces})
        try:
            dynamo.call(
                self._client,
                "put_item",
                TableName=self._table,
                Item=dynamo.marshal(_item(approval)),
                **kwargs,
            )
        except ConditionFailed:
            return False
        return True

    def decide(self, approval: Approval) -> bool:
        """Record `approval`'s decision (status, who, when, why) if its record is still pending under
        its ID; False otherwise (decided already, or replaced by a newer request)."""
        assert approval.status is not ApprovalStatus.PENDING and approval.decided_at is not None
        try:
            dynamo.call(
                self._client,
                "update_item",
                TableName=self._table,
                Key=dynamo.marshal(approval_key(approval.cluster, approval.node_key)),
                UpdateExpression="SET #status = :status, decided_by = :by, decided_at = :at, decision_reason = :why",
                ConditionExpression="#id = :id AND #status = :pending",
                ExpressionAttributeNames={"#status": "status", "#id": "id"},
                ExpressionAttributeValues=dynamo.marshal(
                    {
                        ":status": approval.status.value,
                        ":by": approval.decided_by or "",
                        ":at": dynamo.iso(approval.decided_at),
                        ":why": (approval.decision_reason or "")[:1024],
                        ":id": approval.id,
                        ":pending": ApprovalStatus.PENDING.value,
                    }
                ),
            )
        except ConditionFailed:
            return False
        return True


def _item(a: Approval) -> dict[str, Any]:
    raw = {k: v for k, v in asdict(a).items() if v is not None}
    for name in _TIMES:
        if name in raw:
            raw[name] = dynamo.iso(raw[name])
    raw["status"] = a.status.value
    expires = int((a.deadline + KEEP).timestamp())
    return {**approval_key(a.cluster, a.node_key), **raw, "expires_at": expires}


def _approval(item: Mapping[str, Any]) -> Approval:
    def text(name: str) -> str | None:
        value = item.get(name)
        return None if value is None else str(value)

    created, deadline = dynamo.from_iso(item["created"]), dynamo.from_iso(item["deadline"])
    assert created is not None and deadline is not None
    return Approval(
        id=str(item["id"]),
        cluster=str(item["cluster"]),
        node_key=str(item["node_key"]),
        action=str(item["action"]),
        reason=str(item.get("reason", "")),
        rule=str(item.get("rule", "")),
        created=created,
        deadline=deadline,
        default=str(item.get("default", "deny")),
        status=ApprovalStatus(str(item.get("status", ApprovalStatus.PENDING.value))),
        instance_id=text("instance_id"),
        signal=text("signal"),
        fault=text("fault"),
        evidence=text("evidence"),
        decided_by=text("decided_by"),
        decided_at=dynamo.from_iso(item.get("decided_at")),
        decision_reason=text("decision_reason"),
    )
