"""In-memory fakes of the clients remediate uses, for the CPU-scaling and memory benchmarks.

Only what `autoheal`'s adapters call, with the response shapes they read. Every operation is O(its
own request) (dict lookups), except the two Queries remediate makes once per cluster (the ledger's
`open-index` and the control partition's breakers), which scan — as a real index read returns every
match. So any super-linear cost measured is the service's, not the fakes'.

Thread-safe as boto3 clients are: remediate writes claims and sends calls from several threads
(remediate/pipeline.py, remediate/lanes.py); each fake's writes and counters take its lock.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

PAGE_SIZE = 100  # ListClusterNodes' page size on the local control plane


def _error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


@dataclass
class FakeCluster:
    name: str
    arn: str
    groups: dict[str, list[tuple[str, str]]]  # group -> [(instance id, logical id)]


class _Paginator:
    def __init__(self, pages: Any) -> None:
        self._pages = pages

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from self._pages(**kwargs)


@dataclass
class FakeSageMaker:
    clusters: dict[str, FakeCluster]
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (operation, cluster, size)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def get_paginator(self, operation_name: str) -> _Paginator:
        pages = {"list_cluster_nodes": self._node_pages, "list_clusters": self._cluster_pages}
        return _Paginator(pages[operation_name])

    def _cluster_pages(self, **_: Any) -> Iterator[dict[str, Any]]:
        yield {
            "ClusterSummaries": [{"ClusterName": c.name, "ClusterArn": c.arn} for c in self.clusters.values()]
        }

    def _node_pages(self, *, ClusterName: str, **_: Any) -> Iterator[dict[str, Any]]:
        cluster = self._cluster(ClusterName, "ListClusterNodes")
        summaries = [
            {
                "InstanceGroupName": group,
                "InstanceId": instance_id,
                "NodeLogicalId": logical_id,
                "InstanceStatus": {"Status": "Running"},
                "InstanceType": "ml.p5.48xlarge",
            }
            for group, nodes in cluster.groups.items()
            for instance_id, logical_id in nodes
        ]
        for start in range(0, max(len(summaries), 1), PAGE_SIZE):
            yield {"ClusterNodeSummaries": summaries[start : start + PAGE_SIZE]}

    def describe_cluster(self, *, ClusterName: str) -> dict[str, Any]:
        cluster = self._cluster(ClusterName, "DescribeCluster")
        return {
            "ClusterName": cluster.name,
            "ClusterArn": cluster.arn,
            "ClusterStatus": "InService",
            "NodeRecovery": "None",
            "InstanceGroups": [
                {
                    "InstanceGroupName": group,
                    "Status": "InService",
                    "TargetCount": len(nodes),
                    "CurrentCount": len(nodes),
                    "SlurmConfig": {"NodeType": "Compute"},
                }
                for group, nodes in cluster.groups.items()
            ],
        }

    def list_tags(self, *, ResourceArn: str) -> dict[str, Any]:
        return {"Tags": []}

    def batch_reboot_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]:
        return self._batch("BatchRebootClusterNodes", **kwargs)

    def batch_replace_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]:
        return self._batch("BatchReplaceClusterNodes", **kwargs)

    def _batch(
        self, operation: str, *, ClusterName: str, NodeIds: Any = (), NodeLogicalIds: Any = ()
    ) -> dict[str, Any]:
        size = len(NodeIds) + len(NodeLogicalIds)
        if size > 25:
            raise _error("ValidationException", operation)
        with self._lock:
            self.calls.append((operation, ClusterName, size))
        return {
            "Successful": list(NodeIds),
            "Failed": [],
            "SuccessfulNodeLogicalIds": list(NodeLogicalIds),
            "FailedNodeLogicalIds": [],
        }

    def _cluster(self, ref: str, operation: str) -> FakeCluster:
        for c in self.clusters.values():
            if ref in (c.name, c.arn):
                return c
        raise _error("ResourceNotFound", operation)


@dataclass
class FakeDynamoDB:
    """One table of marshalled items keyed by (pk, sk), with the node states' conditional put. A Query
    answers in one page (its paginator yields that page)."""

    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _count(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] = self.requests.get(operation, 0) + 1

    @staticmethod
    def _key(item: Mapping[str, Any]) -> tuple[str, str]:
        return item["pk"]["S"], item["sk"]["S"]

    def get_paginator(self, operation_name: str) -> _Paginator:
        pages = {"query": lambda **kwargs: iter([self.query(**kwargs)])}
        return _Paginator(pages[operation_name])

    def batch_get_item(self, *, RequestItems: Mapping[str, Any]) -> dict[str, Any]:
        self._count("BatchGetItem")
        with self._lock:
            responses = {
                table: [self.items[k] for k in map(self._key, spec["Keys"]) if k in self.items]
                for table, spec in RequestItems.items()
            }
        return {"Responses": responses, "UnprocessedKeys": {}}

    def put_item(
        self,
        *,
        TableName: str,
        Item: dict[str, Any],
        ConditionExpression: str | None = None,
        ExpressionAttributeValues: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._count("PutItem")
        with self._lock:  # the condition and the write at once
            if not self._condition_holds(Item, ConditionExpression, ExpressionAttributeValues):
                raise _error("ConditionalCheckFailedException", "PutItem")
            self.items[self._key(Item)] = Item
        return {}

    def _condition_holds(
        self, item: dict[str, Any], condition: str | None, values: Mapping[str, Any] | None
    ) -> bool:
        current = self.items.get(self._key(item))
        if condition == "attribute_not_exists(pk)":
            return current is None
        if condition == "version = :v":
            expected = (values or {})[":v"]["N"]
            return current is not None and current.get("version", {}).get("N") == expected
        if condition is None:
            return True
        raise NotImplementedError(f"condition {condition!r}")

    def transact_write_items(self, *, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        """Conditional Puts, all or none (CancellationReasons by position, as DynamoDB answers)."""
        self._count("TransactWriteItems")
        with self._lock:
            return self._transact(TransactItems)

    def _transact(self, TransactItems: list[dict[str, Any]]) -> dict[str, Any]:
        reasons = [{"Code": "None"} for _ in TransactItems]
        for k, action in enumerate(TransactItems):
            put = action["Put"]
            if not self._condition_holds(
                put["Item"], put.get("ConditionExpression"), put.get("ExpressionAttributeValues")
            ):
                reasons[k] = {"Code": "ConditionalCheckFailed"}
        if any(r["Code"] != "None" for r in reasons):
            error = _error("TransactionCanceledException", "TransactWriteItems")
            error.response["CancellationReasons"] = reasons
            raise error
        for action in TransactItems:
            self.items[self._key(action["Put"]["Item"])] = action["Put"]["Item"]
        return {}

    def delete_item(self, *, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        self._count("DeleteItem")
        with self._lock:
            self.items.pop(self._key(Key), None)
        return {}

    def batch_write_item(self, *, RequestItems: Mapping[str, Any]) -> dict[str, Any]:
        self._count("BatchWriteItem")
        with self._lock:
            for requests in RequestItems.values():
                if len(requests) > 25:
                    raise _error("ValidationException", "BatchWriteItem")
                for r in requests:
                    item = r["PutRequest"]["Item"]
                    self.items[self._key(item)] = item
        return {"UnprocessedItems": {}}

    def query(
        self,
        *,
        TableName: str,
        KeyConditionExpression: str,
        ExpressionAttributeValues: Mapping[str, Any],
        IndexName: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        self._count("Query")
        with self._lock:
            return self._query(KeyConditionExpression, ExpressionAttributeValues, IndexName)

    def _query(
        self, _condition: str, ExpressionAttributeValues: Mapping[str, Any], IndexName: str | None
    ) -> dict[str, Any]:
        if IndexName is not None:  # the sparse open-index: open_cluster = :c
            wanted = ExpressionAttributeValues[":c"]["S"]
            found = [i for i in self.items.values() if i.get("open_cluster", {}).get("S") == wanted]
        else:  # pk = :pk [AND begins_with(sk, :prefix)]
            pk = ExpressionAttributeValues[":pk"]["S"]
            prefix = ExpressionAttributeValues.get(":prefix", {}).get("S", "")
            found = [i for (p, s), i in self.items.items() if p == pk and s.startswith(prefix)]
        return {"Items": found, "Count": len(found)}


@dataclass
class FakeSqs:
    bodies: list[str] = field(default_factory=list)

    def send_message_batch(self, *, QueueUrl: str, Entries: Any) -> dict[str, Any]:
        self.bodies.extend(e["MessageBody"] for e in Entries)
        return {
            "Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4())} for e in Entries],
            "Failed": [],
        }


@dataclass
class FakeSns:
    published: int = 0

    def publish(self, **_: Any) -> dict[str, Any]:
        self.published += 1
        return {"MessageId": str(uuid.uuid4())}


def fake_clusters(spread: Mapping[str, Mapping[str, int]]) -> dict[str, FakeCluster]:
    """Clusters with the given group sizes; ids look like HyperPod's (i- + 17 hex)."""
    counter = itertools.count(1)
    out: dict[str, FakeCluster] = {}
    for k, (name, groups) in enumerate(spread.items()):
        out[name] = FakeCluster(
            name=name,
            arn=f"arn:aws:sagemaker:us-east-1:123456789012:cluster/{k:012x}",
            groups={
                g: [(f"i-{n:017x}", f"{name}-{g}-{n:08d}") for n in itertools.islice(counter, size)]
                for g, size in groups.items()
            },
        )
    return out
