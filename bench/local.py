"""Storms against the local server (moto + the local HyperPod control plane) through LocalWorld.

Guards are `hyperpod_local.stack.guards.RELAXED` (circuit breaker and node cool-down opened wide), so a storm
is remediated rather than held: these figures measure call efficiency, not the production guards.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench import purposes
from bench.inject import Latency
from bench.inmemory import quiet_logs
from bench.ratios import CLUSTERS, group_sizes, min_calls, percentile, ratio, storm_layout

if TYPE_CHECKING:  # imported at run time only after quiet_logs() (see run_storms)
    from hyperpod_local.plane import LocalAws
    from hyperpod_local.plane.clusters import ClusterFixture
    from hyperpod_local.plane.model import BatchCall
    from hyperpod_local.stack.world import LocalWorld

MUTATING = (
    "BatchRebootClusterNodes",
    "BatchReplaceClusterNodes",
    "BatchDeleteClusterNodes",
    "BatchAddClusterNodes",
)
READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class DynamoCounter:
    """Counts DynamoDB requests made through boto3's default session (where `autoheal.clients`
    builds its clients), only while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.requests: Counter[str] = Counter()
        self.by_purpose: Counter[tuple[str, str]] = Counter()  # (bench.purposes tag, operation)
        self.write_items = 0
        self.consumed_capacity: float | None = None

    def install(self, session: Any) -> None:
        session.events.register("before-call.dynamodb", self._before_call)
        session.events.register("before-parameter-build.dynamodb", self._params)
        session.events.register("after-call.dynamodb", self._after_call)

    def _before_call(self, model: Any, **_: Any) -> None:
        if self.active:
            self.requests[model.name] += 1
            self.by_purpose[(purposes.current(), model.name)] += 1

    def _params(self, params: Any, model: Any, **_: Any) -> None:
        if not self.active:
            return
        if model.name == "BatchWriteItem":
            self.write_items += sum(len(v) for v in params.get("RequestItems", {}).values())
        elif model.name in WRITES:
            self.write_items += 1

    def _after_call(self, parsed: Any, **_: Any) -> None:
        if not self.active or not isinstance(parsed, dict):
            return
        consumed = parsed.get("ConsumedCapacity")
        for c in consumed if isinstance(consumed, list) else [consumed] if consumed else []:
            self.consumed_capacity = (self.consumed_capacity or 0.0) + float(c.get("CapacityUnits", 0))

    def reset(self) -> None:
        self.requests.clear()
        self.by_purpose.clear()
        self.write_items = 0
        self.consumed_capacity = None

    def reads(self) -> int:
        return sum(n for op, n in self.requests.items() if op in READS)

    def writes(self) -> int:
        return sum(n for op, n in self.requests.items() if op in WRITES)


def run_storms(
    sizes: tuple[int, ...],
    delays: Mapping[str, float] | None = None,
    *,
    guards: Mapping[str, str] | None = None,
    dynamodb_local: bool = False,
    spare: int = 2,
) -> dict[str, Any]:
    """Each storm in a fresh world on one local server; with `delays` (`bench.inject.AWS_LIKE`), every
    DynamoDB and SageMaker request waits that long first (AWS-like round trips); with `guards`, those
    settings over the relaxed ones (and `spare` healthy nodes per group, so that the breaker's share
    is a real cluster's); with `dynamodb_local`, the ledger on DynamoDB Local (its own process) instead
    of the in-process moto server."""
    quiet_logs()  # before anything imports autoheal.observability (Powertools reads them then)
    import boto3

    from hyperpod_local.demo.environment import DemoEnvironment, service_output
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
    from hyperpod_local.stack.world import LocalWorld
    from tests.torture.dynamodb_local import DynamoDBLocal
    from tests.torture.support import SplitAws

    results: dict[str, Any] = {
        "storms": [],
        "guards": "template defaults" if guards else "hyperpod_local.stack.guards.RELAXED",
        "backend": backend_name(delays, dynamodb_local),
        "delays_seconds": dict(delays or {}),
        "spare_nodes_per_group": spare,
    }
    sink = io.StringIO()
    with (
        DemoEnvironment() as env,
        LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local,
        service_output(sink),
        ExitStack() as stack,
    ):
        aws: Any = local
        if dynamodb_local:  # started first: the JVM must not inherit the moto endpoint for its own calls
            url = stack.enter_context(DynamoDBLocal()).endpoint_url
            env.set("AWS_ENDPOINT_URL_DYNAMODB", url)
            aws = SplitAws(local, url)
        env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        env.set("POWERTOOLS_LOG_LEVEL", "WARNING")
        boto3.setup_default_session()
        counter = DynamoCounter()
        counter.install(boto3.DEFAULT_SESSION)
        latency = Latency(delays or {})
        latency.install(boto3.DEFAULT_SESSION)
        for n in sizes:
            local.reset()
            world = LocalWorld(aws, env.set, env=guards)
            cold = _warm_up(local, world)
            latency.active = True
            figures = _storm(n, local, world, counter, spare)
            latency.active = False
            results["storms"].append({**figures, "cold_intake_seconds": cold})
    return results


def backend_name(delays: Mapping[str, float] | None, dynamodb_local: bool) -> str:
    name = "moto server + DynamoDB Local ledger" if dynamodb_local else "moto server"
    return f"{name} + injected latency" if delays else f"{name} (loopback)"


def _warm_up(local: LocalAws, world: LocalWorld) -> float:
    """What a warm Lambda has already paid: one fault on a cluster of its own through intake and
    remediate (clients built, lazy imports done), untimed. Returns that first, cold intake call's
    seconds (reported apart from the warm figures)."""
    from hyperpod_local.plane.clusters import GroupSpec, create_cluster
    from hyperpod_local.stack.events import node_health_event

    sm = local.client("sagemaker")
    groups = [
        GroupSpec("controller", "ml.m5.xlarge", 1, node_type="Controller"),
        GroupSpec("gpu", "ml.p5.48xlarge", 3, node_type="Compute"),
    ]
    fixture = create_cluster(sm, world.control, "warm-up", groups)
    node = fixture.in_group("gpu")[0]
    t0 = time.monotonic()
    world.deliver([node_health_event("warm-up", fixture.arn, node.instance_id, world.now())])
    cold = time.monotonic() - t0
    world.remediate(world.drain())
    world.control.clear_calls()
    return cold


@dataclass(frozen=True)
class _Remediation:
    """One remediate invocation over a storm's messages, as the bench measured it."""

    messages: int
    batch_item_failures: int
    started: float  # time.monotonic() at the invocation's start
    wall_seconds: float
    cpu_seconds: float  # this process's CPU: the function and, when in-process, the local server
    calls: list[BatchCall]  # the mutating calls the control plane received


def _storm(
    n: int, local: LocalAws, world: LocalWorld, counter: DynamoCounter, spare: int = 2
) -> dict[str, Any]:
    """One storm of ``n`` faults: its clusters, ``n`` intake deliveries, one counted remediate run."""
    layout = storm_layout(n)
    fixtures = create_clusters(local, world, layout, spare)
    ids, events = _storm_events(world, fixtures, layout)
    intake_seconds = _deliver_one_by_one(world, events)
    remediation = _remediate_counted(world, counter)
    latencies = _latencies(remediation, ids, intake_seconds)
    return _storm_figures(n, layout, remediation, counter, latencies)


def create_clusters(
    local: LocalAws, world: LocalWorld, layout: list[tuple[str, str, int]], spare: int = 2
) -> dict[str, ClusterFixture]:
    from hyperpod_local.plane.clusters import GroupSpec, create_cluster

    sm = local.client("sagemaker")
    return {
        name: create_cluster(
            sm,
            world.control,
            name,
            [GroupSpec("controller", "ml.m5.xlarge", 1, node_type="Controller")]
            + [GroupSpec(g, "ml.p5.48xlarge", size, node_type="Compute") for g, size in groups.items()],
        )
        for name, groups in group_sizes(layout, spare).items()
    }


def _storm_events(
    world: LocalWorld, fixtures: dict[str, ClusterFixture], layout: list[tuple[str, str, int]]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """One Node Health Event per storm node, and each node's ids (instance or logical) -> event index."""
    from hyperpod_local.stack.events import node_health_event

    ids: dict[str, int] = {}
    events = []
    for k, (cluster, group, index) in enumerate(layout):
        node = fixtures[cluster].in_group(group)[index]
        ids[node.instance_id] = ids[node.logical_id] = k
        events.append(node_health_event(cluster, fixtures[cluster].arn, node.instance_id, world.now()))
    return ids, events


def _deliver_one_by_one(world: LocalWorld, events: list[dict[str, Any]]) -> list[float]:
    """Separate EventBridge events, all within one batching window: each intake call's seconds."""
    intake_seconds = []
    for e in events:
        t0 = time.monotonic()
        world.deliver([e])
        intake_seconds.append(time.monotonic() - t0)
    return intake_seconds


def _remediate_counted(world: LocalWorld, counter: DynamoCounter) -> _Remediation:
    """One remediate invocation over the queue, counting its DynamoDB requests and mutating calls.

    Timed: the function alone (`handle_batch`, as the Lambda runs it). Not timed: settling the batch
    (deleting its messages one by one), which the SQS event source mapping does in Lambda."""
    from autoheal import clients
    from autoheal.remediate.wiring import build_deps, handle_batch

    records = world.drain()
    world.control.clear_calls()
    deps = build_deps(world.settings, clients.client, clock=world.now)
    counter.reset()
    counter.active = True
    with purposes.Purposes():
        cpu = time.process_time()
        started = time.monotonic()
        report = handle_batch({"Records": records}, world.settings, deps)
        wall = time.monotonic() - started
        cpu = time.process_time() - cpu
    counter.active = False
    world.settle(records, report.batch_item_failures)
    return _Remediation(
        messages=len(records),
        batch_item_failures=len(report.batch_item_failures),
        started=started,
        wall_seconds=wall,
        cpu_seconds=cpu,
        calls=[c for c in world.calls() if c.action in MUTATING],
    )


def _latencies(remediation: _Remediation, ids: dict[str, int], intake_seconds: list[float]) -> list[float]:
    """Per node named in a call: its intake seconds plus the time from remediate's start to the call."""
    return [
        intake_seconds[ids[node_id]] + (c.monotonic - remediation.started)
        for c in remediation.calls
        for node_id in (*c.node_ids, *c.node_logical_ids)
    ]


def _storm_figures(
    n: int,
    layout: list[tuple[str, str, int]],
    remediation: _Remediation,
    counter: DynamoCounter,
    latencies: list[float],
) -> dict[str, Any]:
    calls = remediation.calls
    per_target = Counter((c.cluster, c.action) for c in calls for _ in range(c.size))
    accepted = sum(c.size - len(c.failed_codes) for c in calls if c.error_code is None)
    minimum = min_calls(per_target)
    return {
        "faults": n,
        "clusters": {name: sum(1 for c, _, _ in layout if c == name) for name in CLUSTERS},
        "messages": remediation.messages,
        "calls": len(calls),
        "call_sizes": sorted((c.size for c in calls), reverse=True),
        "min_calls": minimum,
        "ratio_to_min": ratio(len(calls), minimum),
        "naive_calls": n,
        "ratio_to_naive": ratio(len(calls), n),
        "nodes_remediated": accepted,
        "batch_item_failures": remediation.batch_item_failures,
        "dynamodb": _dynamodb_figures(counter, accepted),
        "remediate_wall_seconds": remediation.wall_seconds,
        "remediate_cpu_seconds": remediation.cpu_seconds,
        "first_call_seconds": min((c.monotonic for c in calls), default=remediation.started)
        - remediation.started,
        "latency_seconds": {
            "p50": percentile(latencies, 50) if latencies else None,
            "p99": percentile(latencies, 99) if latencies else None,
        },
    }


def _dynamodb_figures(counter: DynamoCounter, accepted: int) -> dict[str, Any]:
    by_purpose: dict[str, dict[str, int]] = {}
    for (purpose, op), n in sorted(counter.by_purpose.items()):
        by_purpose.setdefault(purpose, {})[op] = n
    return {
        "requests": dict(counter.requests),
        "by_purpose": by_purpose,
        "reads": counter.reads(),
        "writes": counter.writes(),
        "write_items": counter.write_items,
        "reads_per_node": ratio(counter.reads(), accepted),
        "writes_per_node": ratio(counter.writes(), accepted),
        "consumed_capacity": counter.consumed_capacity,
    }
