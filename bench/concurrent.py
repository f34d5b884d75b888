"""A storm split between two concurrent remediate invocations (the queue's MaximumConcurrency is 2).

Against one local server (moto + the local HyperPod control plane), relaxed guards: the storm's
messages are drained, split in two, and each half goes to its own `handle_batch` on its own thread,
both started together. Each invocation plans its half alone, so each may send a partial call per
(cluster, action): the bound is Σ ceil(n/25) + (invocations - 1) x targets, reached when every half
touches every target (the alternating split).
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from bench.inmemory import quiet_logs
from bench.ratios import min_calls, ratio, storm_layout

if TYPE_CHECKING:
    from hyperpod_local.stack.world import LocalWorld

INVOCATIONS = 2
#: (faults, how the messages are split): alternating puts both clusters in each half (the worst case
#: for a small storm); random is a seeded shuffle cut in two halves.
CASES: tuple[tuple[int, str], ...] = ((30, "alternating"), (1000, "random"))
SEED = 20


def split(records: Sequence[Any], how: str, seed: int = SEED) -> list[list[Any]]:
    """The two invocations' halves."""
    if how == "alternating":
        return [list(records[0::2]), list(records[1::2])]
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    half = len(shuffled) // 2
    return [shuffled[:half], shuffled[half:]]


def bound(minimum: int, targets: int, invocations: int = INVOCATIONS) -> int:
    """The most calls `invocations` disjoint halves can need: one extra partial call per target each."""
    return minimum + (invocations - 1) * targets


def run(cases: Sequence[tuple[int, str]] = CASES) -> dict[str, Any]:
    quiet_logs()
    import boto3

    from bench.local import _storm_events, _warm_up, create_clusters
    from hyperpod_local.demo.environment import DemoEnvironment, service_output
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
    from hyperpod_local.stack.world import LocalWorld

    rows = []
    with (
        DemoEnvironment() as env,
        LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local,
        service_output(io.StringIO()),
    ):
        env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        env.set("POWERTOOLS_LOG_LEVEL", "WARNING")
        boto3.setup_default_session()
        for n, how in cases:
            local.reset()
            world = LocalWorld(local, env.set)
            _warm_up(local, world)
            layout = storm_layout(n)
            fixtures = create_clusters(local, world, layout)
            _, events = _storm_events(world, fixtures, layout)
            world.deliver(events)
            rows.append({"faults": n, "split": how, **_two_invocations(world, split(world.drain(), how))})
    return {"backend": "moto server (loopback)", "invocations": INVOCATIONS, "cases": rows}


def _two_invocations(world: LocalWorld, halves: list[list[Any]]) -> dict[str, Any]:
    from autoheal import clients
    from autoheal.remediate.wiring import build_deps, handle_batch
    from bench.local import MUTATING

    world.control.clear_calls()

    def invoke(records: list[Any]) -> list[str]:
        deps = build_deps(world.settings, clients.client, clock=world.now)
        return handle_batch({"Records": records}, world.settings, deps).batch_item_failures

    with ThreadPoolExecutor(len(halves)) as pool:
        failures = list(pool.map(invoke, halves))
    for records, failed in zip(halves, failures, strict=True):
        world.settle(records, failed)
    calls = [c for c in world.calls() if c.action in MUTATING]
    per_target = Counter((c.cluster, c.action) for c in calls for _ in range(c.size))
    minimum = min_calls(per_target)
    return {
        "halves": [len(h) for h in halves],
        "calls": len(calls),
        "call_sizes": sorted((c.size for c in calls), reverse=True),
        "min_calls": minimum,
        "ratio_to_min": ratio(len(calls), minimum),
        "targets": len(per_target),
        "bound": bound(minimum, len(per_target), len(halves)),
        "nodes_called": sum(per_target.values()),
        "batch_item_failures": sum(len(f) for f in failures),
    }


def section(r: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Two concurrent remediate invocations (backend: {r['backend']}, relaxed guards)",
        "",
        "One storm's messages split in two, each half to its own remediate invocation, both started at "
        "once against one local control plane. Minimum = Σ ceil(n/25) per (cluster, action); bound = "
        "minimum + (invocations - 1) x (cluster, action) targets: each invocation plans alone, so each "
        "may send one partial call per target.",
        "",
        "| N | split | halves | calls | minimum | calls ÷ minimum | bound | call sizes |",
        "|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for c in r["cases"]:
        sizes = ", ".join(f"{size} x{count}" for size, count in Counter(c["call_sizes"]).items())
        halves = "/".join(str(h) for h in c["halves"])
        lines.append(
            f"| {c['faults']} | {c['split']} | {halves} | {c['calls']} | {c['min_calls']} "
            f"| {c['ratio_to_min']:.2f} | {c['bound']} | {sizes} |"
        )
    return lines


if __name__ == "__main__":
    import json

    result = run()
    print(json.dumps(result, indent=2))
    print("\n".join(section(result)))
