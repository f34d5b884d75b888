"""Issue 20: a warm remediate reuses a cluster's tags for a short TTL, never its description."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from autoheal.adapters.directory import NodeDirectory, TagCache, TagReuse

ARN = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abc123"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeSageMaker:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.status = "InService"
        self.tags = [{"Key": "team", "Value": "ml"}]

    def get_paginator(self, operation_name: str) -> Any:
        raise AssertionError(operation_name)

    def describe_cluster(self, **kwargs: Any) -> dict[str, Any]:
        self.calls["DescribeCluster"] += 1
        return {"ClusterName": "c1", "ClusterArn": ARN, "ClusterStatus": self.status, "InstanceGroups": []}

    def list_tags(self, **kwargs: Any) -> dict[str, Any]:
        self.calls["ListTags"] += 1
        return {"Tags": list(self.tags)}


def _invocation(client: FakeSageMaker, cache: TagCache, at: datetime, ttl: int = 60) -> NodeDirectory:
    directory = NodeDirectory(client, TagReuse(cache, lambda: at, timedelta(seconds=ttl)))
    directory.info("c1")
    return directory


def test_tags_are_reused_within_the_ttl_and_the_status_is_read_every_invocation() -> None:
    client, cache = FakeSageMaker(), TagCache()
    _invocation(client, cache, T0)
    client.status = "Updating"
    client.tags = [{"Key": "opt-out", "Value": "true"}]

    warm = _invocation(client, cache, T0 + timedelta(seconds=59))

    assert client.calls == {"DescribeCluster": 2, "ListTags": 1}
    assert warm.info("c1").status == "Updating"  # never cached
    assert warm.info("c1").tags == {"team": "ml"}  # the tag change waits for the TTL


def test_after_the_ttl_the_tags_are_read_again() -> None:
    client, cache = FakeSageMaker(), TagCache()
    _invocation(client, cache, T0)
    client.tags = [{"Key": "opt-out", "Value": "true"}]

    later = _invocation(client, cache, T0 + timedelta(seconds=60))

    assert client.calls == {"DescribeCluster": 2, "ListTags": 2}
    assert later.info("c1").tags == {"opt-out": "true"}


def test_a_clock_that_went_back_or_a_zero_ttl_reads_again() -> None:
    client, cache = FakeSageMaker(), TagCache()
    _invocation(client, cache, T0)
    _invocation(client, cache, T0 - timedelta(seconds=1))
    _invocation(client, cache, T0, ttl=0)
    assert client.calls["ListTags"] == 3


def test_without_reuse_every_directory_reads_its_tags() -> None:
    client = FakeSageMaker()
    NodeDirectory(client).info("c1")
    NodeDirectory(client).info("c1")
    assert client.calls == {"DescribeCluster": 2, "ListTags": 2}


def test_a_cached_answer_is_a_copy() -> None:
    cache = TagCache()
    cache.put(ARN, T0, {"a": "1"})
    got = cache.get(ARN, T0, timedelta(seconds=60))
    assert got == {"a": "1"}
    got["a"] = "2"
    assert cache.get(ARN, T0, timedelta(seconds=60)) == {"a": "1"}
