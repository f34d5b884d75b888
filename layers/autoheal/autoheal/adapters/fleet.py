"""The fleet breaker's records in the ledger's control partition, and the fleet's size.

Three records, in the `CONTROL` partition beside the cluster breakers (`autoheal.adapters.control`):

| record | sk | written by | read by |
|---|---|---|---|
| trip | `FLEET#BREAKER` | remediate, when the fleet breaker trips: when, by whom, why (the test, its figures) | remediate, `autoheal breaker` |
| reset | `FLEET#OVERRIDE` | `autoheal breaker reset --fleet`: who, when, why, until when it may not trip again | remediate, `autoheal breaker` |
| size | `FLEET#SIZE` | remediate: the fleet's managed nodes, per cluster, and when they were counted | remediate (the cache, `FleetBreaker.size_ttl`) |

A trip has no expiry: it holds every mutating action until an operator resets it. Its put is
conditional (no trip in force), so of two invocations tripping at once one records it and pages.

`FleetState` comes from ONE Query of the partition, which also says which clusters have a breaker
tripped and whether the cached fleet size is fresh: a batch reads the API for the fleet's size (one
ListClusters listing, one DescribeCluster per cluster) only when the cached count is older than its
TTL, and the count is shared by every invocation through the partition (no per-container cache to go
stale). A group's size is its `TargetCount`, "the number of instances you specified", as for the
cluster breaker; `CurrentCount`, "the number of instances that are currently in the instance group",
only when no target is given
(https://docs.aws.amazon.com/AWSJavaSDK/latest/javadoc/com/amazonaws/services/sagemaker/model/ClusterInstanceGroupDetails.html;
DescribeCluster: https://docs.aws.amazon.com/cli/latest/reference/sagemaker/describe-cluster.html).
The current count drops while nodes are being rebooted or replaced, so it would inflate the share under
remediation exactly during an incident;
ListClusters pages with `NextToken`
(https://docs.aws.amazon.com/AWSJavaSDK/latest/javadoc/com/amazonaws/services/sagemaker/model/ListClustersResult.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from autoheal.adapters import dynamo
from autoheal.adapters.control import BREAKER_PREFIX, _ControlPartition, control_key, override_item
from autoheal.core.fleet import FleetSize
from autoheal.observability import logger

FLEET_BREAKER = "FLEET#BREAKER"
FLEET_OVERRIDE = "FLEET#OVERRIDE"
FLEET_SIZE = "FLEET#SIZE"
#: Who records a trip (the remediate function; a reset records the operator's identity).
TRIPPED_BY = "hyperpod-autoheal remediate"

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerFleet.state": frozenset({"dynamodb:Query"}),
    "LedgerFleet.trip": frozenset({"dynamodb:PutItem"}),
    "LedgerFleet.save_size": frozenset({"dynamodb:PutItem"}),
    "LedgerFleet.reset": frozenset({"dynamodb:DeleteItem", "dynamodb:PutItem"}),
    "FleetSizes.count": frozenset({"sagemaker:ListClusters", "sagemaker:DescribeCluster"}),
}


@dataclass(frozen=True)
class FleetTripRecord:
    """The fleet breaker tripped: when, by whom, why (`kind`: clusters | share, with its figures)."""

    at: datetime
    by: str
    kind: str
    reason: str
    clusters: tuple[str, ...] = ()
    nodes: int = 0
    total: int = 0


@dataclass(frozen=True)
class FleetOverride:
    """An operator's reset: the fleet breaker may not trip again until `until`."""

    until: datetime
    by: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class FleetState:
    trip: FleetTripRecord | None = None
    override: FleetOverride | None = None  # only while in force
    tripped_clusters: frozenset[str] = frozenset()  # clusters with a cluster or group breaker in force
    size: FleetSize | None = None  # the cached count, however old


class LedgerFleet(_ControlPartition):
    """The fleet breaker's trip, reset and cached fleet size."""

    def state(self, now: datetime) -> FleetState:
        """Everything the fleet breaker needs from the ledger, in one Query of the control partition."""
        trip: FleetTripRecord | None = None
        override: FleetOverride | None = None
        size: FleetSize | None = None
        tripped: set[str] = set()
        for item in self._query():
            sk = str(item["sk"])
            if sk.startswith(BREAKER_PREFIX):
                until = dynamo.from_iso(item.get("until"))
                if until is not None and until > now:
                    tripped.add(sk.removeprefix(BREAKER_PREFIX).rsplit("/", 1)[0])
            elif sk == FLEET_BREAKER:
                trip = _trip(item)
            elif sk == FLEET_OVERRIDE:
                until = dynamo.from_iso(item.get("until"))
                if until is not None and until > now:
                    override = FleetOverride(
                        until, str(item.get("by", "")), str(item.get("reason", "")), _at(item)
                    )
            elif sk == FLEET_SIZE:
                counts = item.get("clusters") or {}
                size = FleetSize(_at(item), {str(k): int(v) for k, v in counts.items()})
        return FleetState(trip, override, frozenset(tripped), size)

    def trip(self, record: FleetTripRecord) -> bool:
        """Record a trip unless one is in force; True when this call recorded it (and should page)."""
        try:
            self._put(
                {
                    **control_key(FLEET_BREAKER),
                    "at": dynamo.iso(record.at),
                    "by": record.by,
                    "kind": record.kind,
                    "reason": record.reason[:1024],
                    "clusters": list(record.clusters[:100]),
                    "nodes": record.nodes,
                    "total": record.total,
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except dynamo.ConditionFailed:
            return False
        return True

    def save_size(self, size: FleetSize) -> None:
        self._put({**control_key(FLEET_SIZE), "at": dynamo.iso(size.at), "clusters": dict(size.clusters)})

    def reset(self, until: datetime, by: str, reason: str, now: datetime | None = None) -> bool:
        """An operator's reset: clear the trip and keep the breaker from tripping again until `until`,
        recording who, when and why. True when a trip was cleared."""
        cleared = bool(self._delete(control_key(FLEET_BREAKER), ReturnValues="ALL_OLD").get("Attributes"))
        self._put(override_item(FLEET_OVERRIDE, until, by, reason, now))
        return cleared


class FleetSizeUnavailable(RuntimeError):
    """ListClusters failed: the fleet's size could not be counted (`code`: the error code)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"ListClusters failed: {code}")
        self.code = code


class SizeClient(Protocol):
    def get_paginator(self, operation_name: str) -> Any: ...
    def describe_cluster(self, **kwargs: Any) -> dict[str, Any]: ...


class FleetSizes:
    """Counts the fleet's managed nodes: ListClusters, then DescribeCluster of each cluster."""

    def __init__(self, client: SizeClient) -> None:
        self._client = client

    def count(self, now: datetime) -> FleetSize:
        """Nodes per cluster (sum of its groups' TargetCount). A cluster that cannot be described is
        left out, logged: a smaller fleet only makes the share test stricter. Raises
        `FleetSizeUnavailable` when the clusters cannot be listed."""
        clusters: dict[str, int] = {}
        try:
            summaries = [
                s
                for page in self._client.get_paginator("list_clusters").paginate()
                for s in page.get("ClusterSummaries", [])
            ]
        except ClientError as exc:
            raise FleetSizeUnavailable(str(exc.response.get("Error", {}).get("Code") or "Unknown")) from exc
        except BotoCoreError as exc:
            raise FleetSizeUnavailable(type(exc).__name__) from exc
        for summary in summaries:
            name = str(summary["ClusterName"])
            try:
                described = self._client.describe_cluster(ClusterName=name)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("fleet size: cluster not counted", extra={"cluster": name, "error": str(exc)})
                continue
            groups = described.get("InstanceGroups", [])
            clusters[name] = sum(int(g.get("TargetCount", g.get("CurrentCount", 0)) or 0) for g in groups)
        return FleetSize(now, clusters)


def _at(item: Mapping[str, Any]) -> datetime:
    return dynamo.from_iso(item.get("at")) or datetime.fromtimestamp(0, UTC)


def _trip(item: Mapping[str, Any]) -> FleetTripRecord:
    return FleetTripRecord(
        at=_at(item),
        by=str(item.get("by", "")),
        kind=str(item.get("kind", "")),
        reason=str(item.get("reason", "")),
        clusters=tuple(str(c) for c in item.get("clusters") or []),
        nodes=int(item.get("nodes", 0)),
        total=int(item.get("total", 0)),
    )
