"""Retire + restore of N lemons across groups, against the local server (moto + the local HyperPod
control plane) through LocalWorld, with `RetireAndRestore` on and the relaxed guards.

Each lemon is made the way the ladder meets one: a fault (reboot), the fault again (replace), the fault
once more (retire). The last remediate invocation is measured: its BatchDeleteClusterNodes calls
(at most 50 ids per call, the API's combined limit: minimum Σ ceil(n/50) per cluster) and its
BatchAddClusterNodes calls (at most 5 groups and 50 nodes per call: minimum Σ ceil(n/50) per cluster
while its groups fit in 5; each call's ClientToken and parameters are in its members' records before
it is made). With `crash=True` that invocation dies after its calls, before writing their outcome;
SQS redelivers its messages, reconcile records the retires as taken and queues a `RestorePending`
fault per node, and remediate re-sends each call under its stored token: the figures then count the
nodes the control plane added in all (goal: one per lemon, never two).
"""

from __future__ import annotations

import contextlib
import io
from collections import Counter
from typing import TYPE_CHECKING, Any

from bench.inmemory import quiet_logs
from bench.ratios import MAX_IDS_PER_DELETE, MAX_NODES_PER_ADD, min_calls, storm_layout

if TYPE_CHECKING:
    from hyperpod_local.plane.clusters import ClusterFixture
    from hyperpod_local.stack.world import LocalWorld

DELETE, ADD = "BatchDeleteClusterNodes", "BatchAddClusterNodes"
ON = {"AUTOHEAL_RETIRE_AND_RESTORE": "true"}
#: simulated seconds between the ladder's steps: past the replacement and the recurrence grace
STEP_SECONDS = 20 * 60


def run(sizes: tuple[int, ...] = (1, 60), crash_sizes: tuple[int, ...] = (3,)) -> dict[str, Any]:
    """The clean runs (`sizes`) and the redelivered-restore runs (`crash_sizes`)."""
    quiet_logs()  # before anything imports autoheal.observability (Powertools reads them then)
    from hyperpod_local.demo.environment import DemoEnvironment, service_output
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
    from hyperpod_local.stack.world import LocalWorld

    out: dict[str, Any] = {"runs": [], "guards": "hyperpod_local.stack.guards.RELAXED", "switch": ON}
    with (
        DemoEnvironment() as env,
        LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local,
        service_output(io.StringIO()),
    ):
        env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        env.set("POWERTOOLS_LOG_LEVEL", "WARNING")
        for n, crash in [*((n, False) for n in sizes), *((n, True) for n in crash_sizes)]:
            local.reset()
            out["runs"].append(retire_restore(LocalWorld(local, env.set, env=ON), n, crash=crash))
    return out


def retire_restore(world: LocalWorld, n: int, *, crash: bool = False) -> dict[str, Any]:
    """Make `n` lemons over the bench's clusters and groups, retire and restore them; the figures."""
    from bench.local import create_clusters
    from hyperpod_local.stack.crash import DIES_AFTER_THE_CALL, Crash

    layout = storm_layout(n)
    fixtures = create_clusters(world.aws, world, layout)
    lemons = [(c, fixtures[c].in_group(g)[i].logical_id) for c, g, i in layout]
    for _ in range(2):  # reboot, then replace
        _faults(world, fixtures, lemons)
        world.remediate()
        world.advance(STEP_SECONDS)
    _faults(world, fixtures, lemons)
    world.control.clear_calls()
    records = world.drain()
    if crash:
        with contextlib.suppress(Crash):  # the delete and the add went out; their outcome is lost
            world.remediate(records, deps_hook=DIES_AFTER_THE_CALL)
        world.advance(world.settings.policy.claim_ttl.total_seconds() + 60)
        world.remediate(records)  # SQS redelivers the batch whose invocation died
        world.reconcile()  # the retires recorded as taken, their restores queued (RestorePending)
        world.run_until_quiet()  # the restores resumed under their stored tokens
    else:
        world.remediate(records)
    return _figures(world, fixtures, n, crash)


def _faults(world: LocalWorld, fixtures: dict[str, ClusterFixture], lemons: list[tuple[str, str]]) -> None:
    from hyperpod_local.stack.events import node_health_event

    world.deliver(
        node_health_event(c, fixtures[c].arn, world.control.node(key, c).instance_id, world.now())
        for c, key in lemons
    )


def _figures(world: LocalWorld, fixtures: dict[str, ClusterFixture], n: int, crash: bool) -> dict[str, Any]:
    deletes = world.calls(DELETE)
    adds = world.calls(ADD)
    retired = Counter(c.cluster for c in deletes for _ in range(c.size - len(c.failed_codes)))
    tokens = Counter(c.client_token for c in adds)
    added = [
        v.logical_id
        for name, fixture in fixtures.items()
        for v in world.control.nodes(name)
        if v.logical_id not in fixture.logical_ids()
    ]
    minimum = min_calls({(c, DELETE): k for c, k in retired.items()}, limit=MAX_IDS_PER_DELETE)
    first_adds = {c.client_token: c for c in adds}.values()  # a re-sent call counted once
    to_add = Counter(c.cluster for c in first_adds for _, n in c.nodes_to_add for _ in range(n))
    return {
        "lemons": n,
        "crash_after_the_call": crash,
        "delete_calls": len(deletes),
        "delete_sizes": sorted((c.size for c in deletes), reverse=True),
        "min_delete_calls": minimum,
        "nodes_retired": sum(retired.values()),
        "add_calls": len(adds),
        "add_sizes": sorted((sum(n for _, n in c.nodes_to_add) for c in first_adds), reverse=True),
        "min_add_calls": min_calls({(c, ADD): k for c, k in to_add.items()}, limit=MAX_NODES_PER_ADD),
        "add_tokens": len(tokens),
        "add_calls_per_token": max(tokens.values(), default=0),
        "nodes_added": len(added),
        "nodes_added_twice": max(0, len(added) - sum(retired.values())),  # beyond one per retired node
    }
