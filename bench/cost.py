"""What it costs to run: monthly AWS cost for a fleet, from request counts measured on the local server.

Measured here (one local world, relaxed guards): one idle reconcile run (DynamoDB requests, custom
metric series it emits, its wall time) and one fault end to end (intake, remediate, the reconcile run
that closes it: their DynamoDB requests and metric series beyond an idle run's). Priced with the list
prices below. Assumptions, stated in the rendered section: each DynamoDB request moves one item under
1 KB / 4 KB (1 WRU / 1 RRU; a BatchWriteItem costs one WRU per item, a transactional write 2), Lambda
bills the wall time measured locally (an upper bound: loopback plus a shared CPU), no free tier.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bench.inmemory import quiet_logs

if TYPE_CHECKING:
    from autoheal.observability import MetricCounts

#: List prices, us-east-1, as of 2026-12-06 (no free tier applied).
#: https://aws.amazon.com/lambda/pricing/ (x86)
LAMBDA_PER_GB_SECOND = 0.0000166667
LAMBDA_PER_MILLION_REQUESTS = 0.20
#: https://aws.amazon.com/dynamodb/pricing/on-demand/ (on-demand, after the November 2024 reduction)
DYNAMODB_PER_MILLION_WRU = 0.625
DYNAMODB_PER_MILLION_RRU = 0.125
#: https://aws.amazon.com/sqs/pricing/ (standard queue, per request of up to 64 KB)
SQS_PER_MILLION_REQUESTS = 0.40
#: https://aws.amazon.com/sns/pricing/ (publishes)
SNS_PER_MILLION_PUBLISHES = 0.50
#: https://aws.amazon.com/kms/pricing/ (a customer managed key, and requests)
KMS_PER_KEY_MONTH = 1.00
KMS_PER_10K_REQUESTS = 0.03
#: https://aws.amazon.com/cloudwatch/pricing/ (custom metrics: per series, prorated by the hour it
#: is emitted in; standard-resolution alarms per alarm metric; dashboards per dashboard)
CLOUDWATCH_PER_METRIC_MONTH = 0.30
CLOUDWATCH_PER_ALARM_MONTH = 0.10
CLOUDWATCH_PER_DASHBOARD_MONTH = 3.00

HOURS_PER_MONTH = 730
DAYS_PER_MONTH = 30.4
#: The fleet: 50 clusters x 256 nodes; ≈6.5 failures per 1000 node-days (the issue's published
#: large-cluster figure) gives ≈83 faults a day.
CLUSTERS, NODES_PER_CLUSTER = 50, 256
FAULTS_PER_DAY = 83
RECONCILE_EVERY_MINUTES = 2  # the template's ReconcileIntervalMinutes default
MEMORY_GB = 0.5  # the template's MemorySize (512 MB)
#: The template's fixed parts: alarms, dashboards, customer managed keys (the needs-human topics').
ALARMS, DASHBOARDS, KMS_KEYS = 12, 1, 1
#: SQS requests per fault: intake's SendMessage, the event source's receive and delete (shared by a
#: batch: counted per fault, the worst case); KMS requests per needs-human publish (data key + decrypt).
SQS_PER_FAULT = 3
KMS_PER_PUBLISH = 2
#: The SQS event source mapping long-polls an empty queue: about 5 pollers, one 20 s receive each.
IDLE_SQS_RECEIVES_PER_MONTH = 5 * 3 * 60 * HOURS_PER_MONTH


def series(counts: MetricCounts) -> int:
    """Distinct metric series (metric name + dimension set) one invocation emits."""
    return len(set(counts.counts) | set(counts.gauges) | set(counts.timings))


def monthly(m: Mapping[str, float], faults_per_day: float) -> dict[str, float]:
    """USD per month, per line, for `m` (the measured per-run and per-fault figures)."""
    runs = 60 / RECONCILE_EVERY_MINUTES * HOURS_PER_MONTH
    faults = faults_per_day * DAYS_PER_MONTH
    # A series is billed for each hour it is emitted in. Reconcile's are emitted every hour; a fault's
    # have bounded, fleet-wide dimensions (Action, Reason: no cluster or node), so faults in the same
    # hour share them: billed in the hours with at least one fault (Poisson arrivals).
    busy_hours = HOURS_PER_MONTH * (1 - math.exp(-faults / HOURS_PER_MONTH))
    series_hours = m["reconcile_series"] * HOURS_PER_MONTH + m["fault_series"] * busy_hours
    lambda_s = runs * m["reconcile_seconds"] + faults * m["fault_seconds"]
    invocations = runs + faults * m["fault_invocations"]
    return {
        "Lambda (GB-s)": lambda_s * MEMORY_GB * LAMBDA_PER_GB_SECOND,
        "Lambda (requests)": invocations / 1e6 * LAMBDA_PER_MILLION_REQUESTS,
        "DynamoDB (RRU)": (runs * m["reconcile_reads"] + faults * m["fault_reads"])
        / 1e6
        * DYNAMODB_PER_MILLION_RRU,
        "DynamoDB (WRU)": (runs * m["reconcile_wru"] + faults * m["fault_wru"])
        / 1e6
        * DYNAMODB_PER_MILLION_WRU,
        "SQS": (IDLE_SQS_RECEIVES_PER_MONTH + faults * SQS_PER_FAULT) / 1e6 * SQS_PER_MILLION_REQUESTS,
        "SNS": faults * m["fault_publishes"] / 1e6 * SNS_PER_MILLION_PUBLISHES,
        "KMS": KMS_KEYS * KMS_PER_KEY_MONTH
        + faults * m["fault_publishes"] * KMS_PER_PUBLISH / 1e4 * KMS_PER_10K_REQUESTS,
        "CloudWatch custom metrics": series_hours / HOURS_PER_MONTH * CLOUDWATCH_PER_METRIC_MONTH,
        "CloudWatch alarms": ALARMS * CLOUDWATCH_PER_ALARM_MONTH,
        "CloudWatch dashboard": DASHBOARDS * CLOUDWATCH_PER_DASHBOARD_MONTH,
    }


def measure() -> dict[str, float]:
    """The per-run and per-fault figures, on the local server (see the module)."""
    quiet_logs()
    import boto3

    from bench.local import DynamoCounter, _warm_up
    from hyperpod_local.demo.environment import DemoEnvironment, service_output
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
    from hyperpod_local.stack.world import LocalWorld

    with (
        DemoEnvironment() as env,
        LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local,
        service_output(io.StringIO()),
    ):
        env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        env.set("POWERTOOLS_LOG_LEVEL", "WARNING")
        local.reset()  # moto's state is the process's: an earlier section's clusters may still be there
        boto3.setup_default_session()
        counter, transact = DynamoCounter(), _TransactItems()
        counter.install(boto3.DEFAULT_SESSION)
        transact.install(boto3.DEFAULT_SESSION)
        world = LocalWorld(local, env.set)
        _warm_up(local, world)
        world.advance(3600)
        world.reconcile()  # the warm-up's node closed: the ledger is idle again
        idle = _reconcile_counted(world, counter, transact)
        return {**_fault_counted(world, local, counter, transact, idle), **idle}


class _TransactItems:
    """Items of TransactWriteItems requests (2 WRU each), counted while `active`."""

    def __init__(self) -> None:
        self.active = False
        self.items = 0

    def install(self, session: Any) -> None:
        session.events.register("before-parameter-build.dynamodb.TransactWriteItems", self._params)

    def _params(self, params: Any, **_: Any) -> None:
        if self.active:
            self.items += len(params.get("TransactItems", []))


def _wru(counter: Any, transact: _TransactItems) -> float:
    """Write units: one per written item, two per transactional item (counted once already)."""
    return float(counter.write_items - counter.requests.get("TransactWriteItems", 0) + 2 * transact.items)


def _start(counter: Any, transact: _TransactItems) -> None:
    counter.reset()
    transact.items = 0
    counter.active = transact.active = True


def _reconcile_counted(world: Any, counter: Any, transact: _TransactItems) -> dict[str, float]:
    _start(counter, transact)
    t0 = time.monotonic()
    report = world.reconcile()
    seconds = time.monotonic() - t0
    counter.active = transact.active = False
    return {
        "reconcile_reads": float(counter.reads()),
        "reconcile_wru": _wru(counter, transact),
        "reconcile_series": float(series(report.metrics)),
        "reconcile_seconds": seconds,
    }


def _fault_counted(
    world: Any, local: Any, counter: Any, transact: _TransactItems, idle: Mapping[str, float]
) -> dict[str, float]:
    """One fault: intake, remediate, and the reconcile run that closes it (beyond an idle run)."""
    from autoheal import clients
    from autoheal.remediate.wiring import build_deps, handle_batch
    from bench.local import _storm_events, create_clusters
    from bench.ratios import storm_layout

    layout = storm_layout(1)
    _, events = _storm_events(world, create_clusters(local, world, layout), layout)
    t0 = time.monotonic()
    world.deliver(events)
    intake_seconds = time.monotonic() - t0
    published_before = len(world.topic_messages())
    intake_series = series(world.intake_reports[-1].counts)
    records = world.drain()
    deps = build_deps(world.settings, clients.client, clock=world.now)
    _start(counter, transact)
    t0 = time.monotonic()
    report = handle_batch({"Records": records}, world.settings, deps)
    remediate_seconds = time.monotonic() - t0
    counter.active = transact.active = False
    world.settle(records, report.batch_item_failures)
    reads, wru = float(counter.reads()), _wru(counter, transact)
    fault_series = intake_series + series(report.metrics)
    world.advance(3600)
    closing = _reconcile_counted(world, counter, transact)
    return {
        "fault_reads": reads + closing["reconcile_reads"] - idle["reconcile_reads"],
        "fault_wru": wru + closing["reconcile_wru"] - idle["reconcile_wru"],
        "fault_series": float(
            fault_series + max(0.0, closing["reconcile_series"] - idle["reconcile_series"])
        ),
        "fault_seconds": intake_seconds
        + remediate_seconds
        + closing["reconcile_seconds"]
        - idle["reconcile_seconds"],
        "fault_invocations": 2.0,  # intake and remediate (reconcile runs on its schedule anyway)
        "fault_publishes": float(len(world.topic_messages()) - published_before),
    }


def run() -> dict[str, Any]:
    measured = measure()
    scenarios = {"idle": 0.0, f"{FAULTS_PER_DAY} faults/day": float(FAULTS_PER_DAY)}
    return {
        "backend": "moto server (loopback)",
        "fleet": {"clusters": CLUSTERS, "nodes_per_cluster": NODES_PER_CLUSTER},
        "measured": measured,
        "monthly_usd": {name: monthly(measured, f) for name, f in scenarios.items()},
    }


def section(r: dict[str, Any]) -> list[str]:
    m = r["measured"]
    tables = r["monthly_usd"]
    names = list(tables)
    lines = [
        "",
        f"## Cost per month ({r['fleet']['clusters']} clusters x {r['fleet']['nodes_per_cluster']} nodes; "
        f"us-east-1 list prices as of 2026-12-06; counts from backend: {r['backend']})",
        "",
        f"Measured: an idle reconcile run makes {m['reconcile_reads']:.0f} DynamoDB reads, "
        f"{m['reconcile_wru']:.0f} write units and emits {m['reconcile_series']:.0f} metric series "
        f"({m['reconcile_seconds']:.3f} s); one fault (intake, remediate, the reconcile run that closes it, "
        f"beyond an idle run) makes {m['fault_reads']:.0f} reads, {m['fault_wru']:.0f} write units, "
        f"{m['fault_series']:.0f} metric series, {m['fault_publishes']:.0f} SNS publishes "
        f"({m['fault_seconds']:.3f} s). Reconcile every {RECONCILE_EVERY_MINUTES} min, {MEMORY_GB * 1024:.0f} MB; "
        "1 item per DynamoDB request, Lambda billed at the local wall time (an upper bound), no free tier. "
        "Metric series are billed per hour emitted: a fault's series have bounded fleet-wide dimensions, "
        "so they are billed in the hours with at least one fault (Poisson arrivals), not once per fault. "
        "Prices and sources: `bench/cost.py`.",
        "",
        "| line | " + " | ".join(f"{n} (USD)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for line in tables[names[0]]:
        lines.append(f"| {line} | " + " | ".join(f"{tables[n][line]:.2f}" for n in names) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(tables[n].values()):.2f}**" for n in names) + " |")
    top = max(tables[names[-1]].items(), key=lambda kv: kv[1])
    lines += ["", f"Dominant line at {names[-1]}: {top[0]} ({top[1]:.2f} USD)."]
    dashboard = "CloudWatch dashboard"
    if dashboard in tables[names[-1]]:
        without = ", ".join(
            f"{sum(v for k, v in tables[n].items() if k != dashboard):.2f} USD {n}" for n in names
        )
        lines.append(
            f"`CreateDashboard=false` leaves it out: {without} (metrics and alarms do not depend on it)."
        )
    return lines


if __name__ == "__main__":
    import json

    result = run()
    print(json.dumps(result, indent=2))
    print("\n".join(section(result)))
