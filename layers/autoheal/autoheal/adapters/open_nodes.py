"""Finding nodes in the ledger table: the sparse open index, and a look-up by any id a node had.

`open_nodes` reads the `open-index` GSI, which holds only state items of nodes with an open fault:
remediate asks for one cluster (its breaker counts open nodes) and for all of them (the fleet
breaker, only when its share test is on), reconcile for one cluster or all of them, the
`autoheal status` command likewise. `find_nodes` (for `autoheal history`) matches a node key,
NodeLogicalId or instance id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import DynamoClient
from autoheal.adapters.ledger import OPEN_INDEX, NodeRef, item_to_state, node_pk
from autoheal.core.state import NodeState

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
#: `open_nodes` queries the open index for one cluster and scans it for all of them.
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerOpenNodes.open_nodes": frozenset({"dynamodb:Query", "dynamodb:Scan"}),
    "LedgerOpenNodes.find_nodes": frozenset({"dynamodb:Query", "dynamodb:Scan"}),
}


class LedgerOpenNodes:
    """Queries that find nodes rather than read one: by open fault, or by an id."""

    def __init__(self, client: DynamoClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def open_nodes(self, cluster: str | None = None) -> list[NodeState]:
        """Nodes with an open fault, from the sparse `open-index` (eventually consistent, like every
        index read): one cluster's by Query, every cluster's by a Scan of the index, which holds open
        nodes only. Sorted by cluster, then node key."""
        if cluster is None:
            items = dynamo.items(self._client, "scan", TableName=self._table, IndexName=OPEN_INDEX)
        else:
            items = dynamo.items(
                self._client,
                "query",
                TableName=self._table,
                IndexName=OPEN_INDEX,
                KeyConditionExpression="open_cluster = :c",
                ExpressionAttributeValues={":c": {"S": cluster}},
            )
        return sorted((item_to_state(i) for i in items), key=lambda h: (h.cluster, h.node_key))

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
        found = dynamo.items(
            self._client,
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
        """Whether the node has any item: one request (`Limit=1`), so not through a paginator."""
        response = dynamo.call(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": node_pk(cluster, node_key)}},
            Select="COUNT",
            Limit=1,
            ConsistentRead=True,
        )
        return int(response.get("Count", 0)) > 0
