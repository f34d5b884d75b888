"""The fleet breaker, pure: one stack serves every cluster of its account and region; when trouble is
everywhere at once (a regional incident, a bad AMI rolled out to every cluster), stop every mutating
action fleet-wide and page once, instead of letting each cluster's own breaker pass its share.

It trips when, within the cluster breaker's window, either

- `clusters`: at least this many clusters have a tripped circuit breaker (group or cluster scope), or
- `percent`: more than this share of all managed nodes of the fleet is under remediation, and those
  nodes are spread over at least `MIN_CLUSTERS_FOR_SHARE` clusters (one cluster's storm is its own
  breaker's business: a fleet of one cluster never trips on the share).

Either test is off at 0. A trip latches: it holds until an operator resets it (`autoheal breaker reset
--fleet`); the reset keeps it from tripping again for a while so the held faults can drain.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

#: The share test needs nodes under remediation in at least this many clusters.
MIN_CLUSTERS_FOR_SHARE = 2


class FleetBreaker(BaseModel):
    """The fleet breaker's thresholds (see the module); `size_ttl`: how long a fleet-size count
    (ListClusters + DescribeCluster of each) is reused before it is read again."""

    model_config = ConfigDict(frozen=True)

    clusters: int = Field(default=3, ge=0)
    percent: float = Field(default=10.0, ge=0, le=100)
    size_ttl: timedelta = timedelta(minutes=10)

    @property
    def enabled(self) -> bool:
        return self.clusters > 0 or self.percent > 0


class TripKind(StrEnum):
    CLUSTERS = "clusters"  # too many clusters with a tripped breaker
    SHARE = "share"  # too large a share of the fleet's nodes under remediation


@dataclass(frozen=True)
class FleetTrip:
    """Why the fleet breaker trips: the test that crossed its threshold, with its figures."""

    kind: TripKind
    clusters: tuple[str, ...]  # the clusters tripped (CLUSTERS) or with nodes under remediation (SHARE)
    nodes: int  # nodes under remediation fleet-wide (counted for SHARE; 0 for CLUSTERS)
    total: int  # managed nodes of the fleet (SHARE; 0 for CLUSTERS)
    threshold: float  # the threshold crossed: a number of clusters, or a percentage

    @property
    def reason(self) -> str:
        names = ", ".join(self.clusters[:10]) + (" ..." if len(self.clusters) > 10 else "")
        if self.kind is TripKind.CLUSTERS:
            return (
                f"{len(self.clusters)} clusters have a tripped circuit breaker ({names}); "
                f"the fleet breaker trips at {int(self.threshold)}"
            )
        share = 100 * self.nodes / self.total if self.total else 100.0
        return (
            f"{self.nodes} of {self.total} managed nodes ({share:.1f}%) are under remediation across "
            f"{len(self.clusters)} clusters ({names}); the fleet breaker trips above {self.threshold:g}%"
        )


@dataclass(frozen=True)
class FleetSize:
    """The fleet's managed nodes (sum of every instance group's TargetCount), per cluster, as
    counted at `at`."""

    at: datetime
    clusters: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.clusters.values())

    def fresh(self, now: datetime, ttl: timedelta) -> bool:
        return now - self.at < ttl


@dataclass(frozen=True)
class FleetCheck:
    """What a batch's fleet check found: a trip to record (and page), a new fleet count to cache."""

    trip: FleetTrip | None = None
    size: FleetSize | None = None


def fleet_trip(
    tripped_clusters: Iterable[str],
    under_remediation: Mapping[str, int],
    total_nodes: int | None,
    policy: FleetBreaker,
) -> FleetTrip | None:
    """The fleet breaker's verdict. `tripped_clusters`: clusters with a breaker tripped within the
    window (recorded, or tripping in this batch); `under_remediation`: cluster -> nodes under
    remediation (acted on within the window and still open, plus those this batch would act on);
    `total_nodes`: the fleet's managed nodes (None: not needed, or unknown -- the share is not judged)."""
    tripped = tuple(sorted(set(tripped_clusters)))
    if policy.clusters > 0 and len(tripped) >= policy.clusters:
        return FleetTrip(TripKind.CLUSTERS, tripped, 0, 0, policy.clusters)
    if policy.percent <= 0 or not total_nodes:
        return None
    busy = tuple(sorted(c for c, n in under_remediation.items() if n > 0))
    nodes = sum(under_remediation[c] for c in busy)
    if len(busy) >= MIN_CLUSTERS_FOR_SHARE and nodes * 100 > policy.percent * total_nodes:
        return FleetTrip(TripKind.SHARE, busy, nodes, total_nodes, policy.percent)
    return None
