"""The benchmark's ratio helpers (bench/ratios.py): pure, no timing."""

from __future__ import annotations

import math

import pytest

from bench.ratios import (
    MAX_IDS_PER_DELETE,
    group_sizes,
    median,
    min_calls,
    percentile,
    ratio,
    storm_layout,
    verdict,
)


@pytest.mark.parametrize(("n", "calls"), [(0, 0), (1, 1), (25, 1), (26, 2), (51, 3), (1000, 40)])
def test_min_calls_is_ceil_n_over_25_per_cluster_and_action(n: int, calls: int) -> None:
    assert min_calls({("a", "BatchRebootClusterNodes"): n}) == calls


def test_min_calls_sums_over_clusters_and_actions() -> None:
    sizes = {("a", "reboot"): 26, ("b", "reboot"): 1, ("a", "replace"): 25}
    assert min_calls(sizes) == 2 + 1 + 1


def test_ratio_and_its_zero_reference() -> None:
    assert ratio(3, 2) == 1.5
    assert ratio(0, 0) == 0.0
    assert math.isinf(ratio(1, 0))


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_storm_layout_spreads_over_two_clusters_and_fits_its_groups() -> None:
    layout = storm_layout(1000)
    assert len(layout) == len(set(layout)) == 1000
    assert sum(1 for c, _, _ in layout if c == "train-a") == 600
    sizes = group_sizes(layout)
    assert all(index < sizes[c][g] for c, g, index in layout)
    assert storm_layout(1) == [("train-a", "gpu-a", 0)]


def test_verdict() -> None:
    assert verdict(1.0, 1.0) == "ok"
    assert verdict(1.01, 1.0) == "OVER"
    assert verdict(0.5, 1.0, at_most=False) == "UNDER"


def test_the_in_memory_storm_is_remediated_in_the_fewest_calls() -> None:
    """The scaling and memory figures mean something only if the storm is acted on (a fault taken
    for stale, or a fake missing a call the service now makes, would measure an empty batch)."""
    from bench.inmemory import run, storm

    sagemaker, records = storm(60)
    _, report, _ = run(sagemaker, records)
    assert sum(c.size for c in report.calls) == 60
    sizes: dict[tuple[str, str], int] = {}
    for c in report.calls:
        sizes[(c.cluster, c.operation)] = sizes.get((c.cluster, c.operation), 0) + c.size
    assert len(report.calls) == min_calls(sizes)


@pytest.mark.parametrize(("n", "calls"), [(0, 0), (1, 1), (50, 1), (51, 2), (101, 3)])
def test_min_calls_of_a_retire_is_ceil_n_over_50_per_cluster(n: int, calls: int) -> None:
    assert min_calls({("a", "BatchDeleteClusterNodes"): n}, limit=MAX_IDS_PER_DELETE) == calls


def test_two_invocations_split_and_their_bound() -> None:
    from bench.concurrent import bound, split

    records = list(range(30))
    assert split(records, "alternating") == [records[0::2], records[1::2]]
    halves = split(list(range(1000)), "random")
    assert [len(h) for h in halves] == [500, 500]
    assert sorted(halves[0] + halves[1]) == list(range(1000))
    assert bound(minimum=2, targets=2) == 4  # N=30 alternating over 2 clusters
    assert bound(minimum=40, targets=2, invocations=3) == 44


def test_cost_model_lines_from_measured_counts() -> None:
    from bench import cost

    measured = {
        "reconcile_reads": 2.0,
        "reconcile_wru": 0.0,
        "reconcile_series": 10.0,
        "reconcile_seconds": 0.1,
        "fault_reads": 5.0,
        "fault_wru": 4.0,
        "fault_series": 8.0,
        "fault_seconds": 0.3,
        "fault_invocations": 2.0,
        "fault_publishes": 0.0,
    }
    idle = cost.monthly(measured, 0)
    busy = cost.monthly(measured, 83)
    # a series emitted every reconcile run is billed for the whole month
    assert idle["CloudWatch custom metrics"] == pytest.approx(10 * cost.CLOUDWATCH_PER_METRIC_MONTH)
    assert idle["CloudWatch dashboard"] == cost.CLOUDWATCH_PER_DASHBOARD_MONTH
    assert idle["SNS"] == 0
    runs = 30 * cost.HOURS_PER_MONTH
    assert idle["DynamoDB (RRU)"] == pytest.approx(runs * 2 / 1e6 * cost.DYNAMODB_PER_MILLION_RRU)
    assert busy["DynamoDB (WRU)"] == pytest.approx(
        83 * cost.DAYS_PER_MONTH * 4 / 1e6 * cost.DYNAMODB_PER_MILLION_WRU
    )
    assert all(busy[line] >= idle[line] for line in idle)
