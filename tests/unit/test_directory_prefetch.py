"""`NodeDirectory.prefetch`: a batch's clusters are described and listed side by side, each read once;
a cluster that cannot be read fails where its faults ask for it, as without the prefetch."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from autoheal.adapters.directory import ClusterUnreachable, NodeDirectory

ARN = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef123456"


class _Pages:
    def __init__(self, client: _Client) -> None:
        self._client = client

    def paginate(self, **kwargs: Any) -> list[dict[str, Any]]:
        name = kwargs["ClusterName"]
        self._client.seen("list", name)
        return [{"ClusterNodeSummaries": [{"InstanceId": f"i-{name}", "InstanceGroupName": "gpu"}]}]


class _Client:
    """Each read waits at a barrier of `together` parties: reads made one after another never meet."""

    def __init__(self, together: int, denied: frozenset[str] = frozenset()) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self._barrier = threading.Barrier(together, timeout=10)
        self._denied = denied
        self._lock = threading.Lock()

    def seen(self, what: str, name: str) -> None:
        with self._lock:
            self.calls[(what, name)] += 1
        self._barrier.wait()
        if name in self._denied:
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, what)

    def get_paginator(self, operation_name: str) -> _Pages:
        assert operation_name == "list_cluster_nodes"
        return _Pages(self)

    def describe_cluster(self, **kwargs: Any) -> dict[str, Any]:
        ref = kwargs["ClusterName"]
        name = "from-arn" if ref == ARN else ref
        self.seen("describe", name)
        return {"ClusterName": name, "ClusterArn": None, "ClusterStatus": "InService", "InstanceGroups": []}

    def list_tags(self, **_: Any) -> dict[str, Any]:
        return {"Tags": []}


def test_two_clusters_are_described_and_listed_at_once_and_read_once() -> None:
    client = _Client(together=4)  # 2 clusters x (DescribeCluster, ListClusterNodes), all in flight at once
    directory = NodeDirectory(client)

    directory.prefetch(["west", "east", "west"])

    assert directory.cluster("west").find("i-west", None) is not None
    assert directory.info("east").status == "InService"
    assert client.calls == Counter({(w, c): 1 for w in ("describe", "list") for c in ("west", "east")})


def test_a_cluster_named_by_arn_is_described_before_it_is_listed_under_its_name() -> None:
    client = _Client(together=1)
    directory = NodeDirectory(client)

    directory.prefetch([ARN, ARN])

    assert directory.canonical(ARN) == "from-arn"
    assert directory.cluster("from-arn").find("i-from-arn", None) is not None
    assert client.calls == Counter({("describe", "from-arn"): 1, ("list", "from-arn"): 1})


def test_a_denied_cluster_fails_where_it_is_used_and_is_not_asked_again() -> None:
    client = _Client(together=4, denied=frozenset({"locked"}))
    directory = NodeDirectory(client)

    directory.prefetch(["open", "locked"])  # never raises

    assert directory.cluster("open").find("i-open", None) is not None
    with pytest.raises(ClusterUnreachable):
        directory.cluster("locked")
    with pytest.raises(ClusterUnreachable):
        directory.info("locked")
    assert client.calls[("list", "locked")] == 1 and client.calls[("describe", "locked")] == 1


def test_one_cluster_named_once_reads_nothing_ahead_of_its_fault_but_its_two_reads() -> None:
    client = _Client(together=2)  # DescribeCluster and ListClusterNodes of one cluster, together
    directory = NodeDirectory(client)
    directory.prefetch(["solo"])
    assert client.calls == Counter({("describe", "solo"): 1, ("list", "solo"): 1})
    directory.prefetch(["solo"])  # known now: nothing read again
    assert sum(client.calls.values()) == 2
