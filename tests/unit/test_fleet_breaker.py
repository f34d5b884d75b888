"""The fleet breaker's verdict, pure (`autoheal.core.fleet`): the clusters test, the share test (over
at least two clusters), each off at 0, and the fleet-size cache's freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core.fleet import FleetBreaker, FleetSize, TripKind, fleet_trip

DEFAULT = FleetBreaker()  # 3 clusters, 10 %


def test_three_tripped_clusters_trip_it_two_do_not() -> None:
    assert fleet_trip({"a", "b"}, {}, None, DEFAULT) is None
    trip = fleet_trip(["c", "a", "b", "a"], {}, None, DEFAULT)
    assert trip is not None
    assert (trip.kind, trip.clusters, trip.threshold) == (TripKind.CLUSTERS, ("a", "b", "c"), 3)
    assert trip.reason.startswith("3 clusters have a tripped circuit breaker (a, b, c)")


@pytest.mark.parametrize(
    ("busy", "total", "trips"),
    [
        ({"a": 5, "b": 5}, 100, False),  # exactly 10 %: not above
        ({"a": 5, "b": 6}, 100, True),
        ({"a": 11}, 100, False),  # one cluster: its own breaker's business
        ({"a": 11, "b": 0}, 100, False),
        ({"a": 30, "b": 1}, 300, True),
        ({"a": 6, "b": 6}, None, False),  # the fleet's size unknown: the share is not judged
        ({"a": 6, "b": 6}, 0, False),
    ],
)
def test_the_share_trips_above_the_percentage_over_two_clusters(
    busy: dict[str, int], total: int | None, trips: bool
) -> None:
    trip = fleet_trip([], busy, total, DEFAULT)
    assert (trip is not None) is trips
    if trip is not None:
        assert trip.kind is TripKind.SHARE and trip.nodes == sum(busy.values()) and trip.total == total


def test_each_test_is_off_at_zero() -> None:
    assert fleet_trip({"a", "b", "c", "d"}, {}, None, FleetBreaker(clusters=0)) is None
    assert fleet_trip([], {"a": 50, "b": 50}, 100, FleetBreaker(percent=0)) is None
    assert not FleetBreaker(clusters=0, percent=0).enabled


def test_the_share_reason_names_the_figures() -> None:
    trip = fleet_trip([], {"west-a": 16, "west-b": 16}, 303, DEFAULT)
    assert trip is not None
    assert trip.reason == (
        "32 of 303 managed nodes (10.6%) are under remediation across 2 clusters (west-a, west-b); "
        "the fleet breaker trips above 10%"
    )


def test_a_counted_size_is_fresh_for_its_ttl() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    size = FleetSize(at, {"a": 10, "b": 5})
    assert size.total == 15
    assert size.fresh(at + timedelta(minutes=9), timedelta(minutes=10))
    assert not size.fresh(at + timedelta(minutes=10), timedelta(minutes=10))
