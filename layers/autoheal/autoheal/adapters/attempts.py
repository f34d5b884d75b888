"""Attempt items in the ledger table: every remediation attempt recorded for a node, and their count.

Attempts are written by `LedgerNodeStates.commit` together with the state they led to; they expire with
the table's TTL (`expires_at`). Read by the `autoheal` CLI (`status`, `history`) and by tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import DynamoClient
from autoheal.adapters.ledger import ATTEMPT_PREFIX, AttemptRecord, item_to_attempt, node_pk

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerAttempts.attempts": frozenset({"dynamodb:Query"}),
    "LedgerAttempts.attempt_count": frozenset({"dynamodb:Query"}),
}


class LedgerAttempts:
    """A node's attempt items, by Query of its partition's `ATTEMPT#` range (oldest first)."""

    def __init__(self, client: DynamoClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def attempts(self, cluster: str, node_key: str) -> list[AttemptRecord]:
        """Every attempt recorded for a node, oldest first."""
        return [
            item_to_attempt(i) for i in dynamo.items(self._client, "query", **self._query(cluster, node_key))
        ]

    def attempt_count(self, cluster: str, node_key: str) -> int:
        """How many attempts the ledger holds for a node (attempts expire with the table's TTL)."""
        return dynamo.count(self._client, **self._query(cluster, node_key))

    def _query(self, cluster: str, node_key: str) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {
                ":pk": {"S": node_pk(cluster, node_key)},
                ":prefix": {"S": ATTEMPT_PREFIX},
            },
        }
