"""Small pure helpers behind every benchmark figure (unit-tested in tests/unit/test_bench_ratios.py)."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

MAX_NODES_PER_CALL = 25  # BatchReboot/ReplaceClusterNodes
MAX_IDS_PER_DELETE = 50  # BatchDeleteClusterNodes: NodeIds and NodeLogicalIds, combined
MAX_NODES_PER_ADD = 50  # BatchAddClusterNodes: across its (at most 5) instance groups
#: The two clusters of every storm and their GPU groups; a storm puts CLUSTER_SHARE of its faults on the
#: first cluster, the rest on the second, round-robin over each cluster's groups.
CLUSTERS: Mapping[str, tuple[str, ...]] = {
    "train-a": ("gpu-a", "gpu-b", "gpu-c"),
    "train-b": ("gpu-x", "gpu-y"),
}
CLUSTER_SHARE = 0.6


def ratio(measured: float, reference: float) -> float:
    """measured ÷ reference (inf when the reference is zero and the measurement is not)."""
    if reference == 0:
        return 0.0 if measured == 0 else math.inf
    return measured / reference


def min_calls(sizes: Mapping[tuple[str, str], int], limit: int = MAX_NODES_PER_CALL) -> int:
    """The fewest mutating calls that can carry these nodes: Σ ceil(n/limit) per (cluster, action)."""
    return sum(math.ceil(n / limit) for n in sizes.values() if n > 0)


def storm_layout(n: int) -> list[tuple[str, str, int]]:
    """Where the n faults of a storm land: (cluster, group, index within the group), in event order."""
    names = list(CLUSTERS)
    first = math.ceil(n * CLUSTER_SHARE) if n > 1 else n
    out: list[tuple[str, str, int]] = []
    for cluster, count in ((names[0], first), (names[1], n - first)):
        groups = CLUSTERS[cluster]
        out.extend((cluster, groups[j % len(groups)], j // len(groups)) for j in range(count))
    return out


def group_sizes(layout: Iterable[tuple[str, str, int]], spare: int = 2) -> dict[str, dict[str, int]]:
    """Group sizes that hold a layout, with `spare` healthy nodes in each group."""
    need = Counter((c, g) for c, g, _ in layout)
    return {c: {g: need[(c, g)] + spare for g in groups} for c, groups in CLUSTERS.items()}


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def verdict(value: float, goal: float, *, at_most: bool = True) -> str:
    """ "ok" when value meets the goal (≤ goal, or ≥ goal with at_most=False), else "OVER"/"UNDER"."""
    if at_most:
        return "ok" if value <= goal + 1e-9 else "OVER"
    return "ok" if value >= goal - 1e-9 else "UNDER"
