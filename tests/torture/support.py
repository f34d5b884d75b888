"""What the torture tests share: scale, storms, concurrent workers, accounting of the control plane's
call log and the ledger, botocore-level DynamoDB throttling, and the summary lines."""

from __future__ import annotations

import json
import os
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from autoheal import clients
from autoheal.adapters.ledger import NodeRecord
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeStatus
from autoheal.faults import NodeFault
from autoheal.ports import RetryQueue
from autoheal.reconcile.service import ReconcileReport
from autoheal.remediate.service import Deps, RemediationReport
from autoheal.remediate.wiring import build_deps, handle_batch
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.plane.model import BatchCall
from hyperpod_local.stack.events import FakeContext, node_health_event
from hyperpod_local.stack.world import LocalWorld

T = TypeVar("T")

REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"
MUTATING = frozenset({REBOOT, REPLACE, "BatchDeleteClusterNodes", "BatchAddClusterNodes"})
WORKERS = 4
GPU_GROUP = "gpu"
NODES_PER_CLUSTER = 250
#: States a node may end in without an accepted action, each a documented outcome (not a lost fault).
NON_ACTING_STATES = frozenset({NodeStatus.NEEDS_HUMAN, NodeStatus.RETRY_PENDING, NodeStatus.CLOSED})


# --- scale ------------------------------------------------------------------------------------------


def large() -> bool:
    """`make torture` sets TORTURE_SCALE=large; `make test` runs the small default."""
    return os.environ.get("TORTURE_SCALE", "small").lower() == "large"


def scaled(small: int, big: int) -> int:
    return big if large() else small


def seed() -> int:
    return int(os.environ.get("TORTURE_SEED", "20261125"))


# --- summary lines ------------------------------------------------------------------------------------

SUMMARIES: list[str] = []


def backend(dynamodb_endpoint: str | None) -> str:
    return "dynamodb-local" if dynamodb_endpoint else "moto"


def report(name: str, **counts: object) -> str:
    """One summary line: printed (visible with -s) and repeated in pytest's terminal summary."""
    line = f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items())
    print(f"TORTURE {line}")
    SUMMARIES.append(line)
    return line


# --- clients: moto for everything, DynamoDB wherever the test says --------------------------------------


class _PitrTolerant:
    """A DynamoDB client whose UpdateContinuousBackups is a no-op where the endpoint lacks it.

    DynamoDB Local answers `UnknownOperationException` to PITR: backups mean nothing in memory, and
    the template keeps its PointInTimeRecoverySpecification (only the local build skips it)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def update_continuous_backups(self, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._client.update_continuous_backups(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "UnknownOperationException":
                raise
            return {}
        return result


@dataclass(frozen=True)
class SplitAws:
    """The `aws` fixture's endpoint for every service but DynamoDB, which goes to `dynamodb_url`
    (None: moto too). Duck-types what `LocalWorld` needs: `.control` and `.client(service)`."""

    base: Any
    dynamodb_url: str | None

    @property
    def control(self) -> Any:
        return self.base.control

    @property
    def endpoint_url(self) -> str:
        url: str = self.base.endpoint_url
        return url

    def client(self, service: str, **kwargs: Any) -> Any:
        if service == "dynamodb" and self.dynamodb_url:
            return _PitrTolerant(self.base.client("dynamodb", endpoint_url=self.dynamodb_url, **kwargs))
        return self.base.client(service, **kwargs)


# --- storms ------------------------------------------------------------------------------------------


@dataclass
class Storm:
    clusters: list[ClusterFixture]
    #: instance id or NodeLogicalId (as created) -> (cluster, NodeLogicalId)
    index: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for c in self.clusters:
            for n in c.in_group(GPU_GROUP):
                self.index[n.instance_id] = self.index[n.logical_id] = (c.name, n.logical_id)

    @property
    def nodes(self) -> list[tuple[ClusterFixture, str, str]]:
        """(cluster, instance id at creation, NodeLogicalId) of every GPU node."""
        return [(c, n.instance_id, n.logical_id) for c in self.clusters for n in c.in_group(GPU_GROUP)]

    def key(self, world: LocalWorld, ref: str) -> tuple[str, str]:
        """The (cluster, NodeLogicalId) a call entry names (a replacement's new instance id included)."""
        if ref not in self.index:
            view = world.control.node(ref)
            self.index[ref] = (view.cluster_name, view.logical_id)
        return self.index[ref]

    def events(self, world: LocalWorld, fault_type: str = "NvidiaErrorTerminate") -> list[dict[str, Any]]:
        """One node health event per GPU node, naming its current instance id."""
        out = []
        for c, _, logical in self.nodes:
            current = world.control.node(logical, c.name).instance_id
            out.append(node_health_event(c.name, c.arn, current, world.now(), fault_type=fault_type))
        return out


def make_storm(world: LocalWorld, nodes: int, prefix: str = "storm") -> Storm:
    """`nodes` GPU nodes over clusters of at most NODES_PER_CLUSTER (plus a controller each)."""
    sagemaker = world.aws.client("sagemaker")
    clusters = []
    for i, start in enumerate(range(0, nodes, NODES_PER_CLUSTER)):
        count = min(NODES_PER_CLUSTER, nodes - start)
        clusters.append(
            create_cluster(
                sagemaker,
                world.control,
                f"{prefix}-{i}",
                [
                    GroupSpec(
                        name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"
                    ),
                    GroupSpec(
                        name=GPU_GROUP, instance_type="ml.p5.48xlarge", count=count, node_type="Compute"
                    ),
                ],
            )
        )
    return Storm(clusters)


# --- workers -----------------------------------------------------------------------------------------


def deal(items: Sequence[T], workers: int, rng: random.Random) -> list[list[T]]:
    """Shuffle, then deal into `workers` disjoint slices."""
    shuffled = list(items)
    rng.shuffle(shuffled)
    return [shuffled[i::workers] for i in range(workers)]


def in_parallel(fn: Callable[[Any], T], slices: Sequence[Any]) -> list[T]:
    """Run `fn` on every slice at once (one thread each); the first exception is re-raised."""
    start = threading.Barrier(len(slices))

    def run(chunk: Any) -> T:
        start.wait()
        return fn(chunk)

    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        return list(pool.map(run, slices))


def deliver(world: LocalWorld, events: Sequence[Mapping[str, Any]]) -> None:
    """Each event through the real intake handler (the world's own copy records the reports)."""
    for event in events:
        world.intake.lambda_handler(dict(event), FakeContext())


def take(world: LocalWorld) -> list[dict[str, Any]]:
    """Every visible message of the fault queue as SQS event records, deleted as they are received.

    moto lists every message still in the queue (in flight included) at each ReceiveMessage, so
    deleting as we go keeps a storm's drain cheap; `settle` sends a batch item failure back as a new
    message instead of making it visible again (its receive count restarts: the poison test uses the
    real redrive)."""
    out: list[dict[str, Any]] = []
    while True:
        got = world.sqs.receive_message(
            QueueUrl=world.stack.queue_url, MaxNumberOfMessages=10, AttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return out
        world.sqs.delete_message_batch(
            QueueUrl=world.stack.queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
        )
        out.extend(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "eventSource": "aws:sqs",
                "eventSourceARN": world.stack.queue_arn,
            }
            for m in got
        )


def settle(world: LocalWorld, records: Sequence[Mapping[str, Any]], failures: Iterable[str]) -> None:
    """What the SQS event source does with a batch's response, for records from `take` (already
    deleted): the batch item failures come back."""
    failed = set(failures)
    redeliver(world, [r for r in records if r["messageId"] in failed])


def redeliver(world: LocalWorld, records: Sequence[Mapping[str, Any]]) -> None:
    """Messages come back to the queue, as SQS brings back an unacknowledged message."""
    for start in range(0, len(records), 10):
        chunk = records[start : start + 10]
        world.sqs.send_message_batch(
            QueueUrl=world.stack.queue_url,
            Entries=[{"Id": str(i), "MessageBody": r["body"]} for i, r in enumerate(chunk)],
        )


class NoDelay:
    """The real retry queue with the delay dropped: SQS delays run on the wall clock, not the simulated
    one, so held faults go back on the queue at once and the test advances the simulated clock instead."""

    def __init__(self, real: RetryQueue) -> None:
        self.real = real

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
        self.real.requeue(faults, 0)


def no_delay(deps: Deps) -> Deps:
    deps.retry_queue = NoDelay(deps.retry_queue)
    return deps


def remediate_batch(
    world: LocalWorld, records: Sequence[Mapping[str, Any]], deps_hook: Callable[[Deps], Deps] | None = None
) -> RemediationReport:
    """One remediate invocation, as the Lambda runs it: build_deps (shared cached clients), then
    handle_batch; an exception escapes and the records stay unacknowledged."""
    deps = build_deps(world.settings, clients.client, clock=world.now)
    if deps_hook is not None:
        deps = deps_hook(deps)
    result = handle_batch({"Records": list(records)}, world.settings, deps)
    settle(world, records, result.batch_item_failures)
    return result


def remediate_until_quiet(
    world: LocalWorld, rng: random.Random, workers: int = WORKERS, max_rounds: int = 12
) -> list[RemediationReport]:
    """Drain the queue and remediate it in `workers` concurrent disjoint slices, until it is empty."""
    reports: list[RemediationReport] = []
    for _ in range(max_rounds):
        records = take(world)
        if not records:
            return reports
        slices = [s for s in deal(records, workers, rng) if s]
        reports.extend(in_parallel(lambda s: remediate_batch(world, s), slices))
    raise AssertionError(f"the fault queue did not drain in {max_rounds} rounds")


# --- accounting -------------------------------------------------------------------------------------


def answered(calls: Iterable[BatchCall], action: str | None = None) -> list[BatchCall]:
    """Mutating calls the control plane answered (not refused whole, e.g. throttled)."""
    return [
        c
        for c in calls
        if c.action in MUTATING and (action is None or c.action == action) and c.error_code is None
    ]


def entries_per_node(world: LocalWorld, storm: Storm, calls: Iterable[BatchCall]) -> Counter[tuple[str, str]]:
    """How many answered entries named each node (by (cluster, NodeLogicalId))."""
    counts: Counter[tuple[str, str]] = Counter()
    for call in calls:
        for ref in (*call.node_ids, *call.node_logical_ids):
            counts[storm.key(world, ref)] += 1
    return counts


def records(world: LocalWorld, storm: Storm) -> dict[tuple[str, str], NodeRecord]:
    ledger = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    return {(c.name, logical): ledger.node_record(c.name, logical) for c, _, logical in storm.nodes}


def accepted_attempts(record: NodeRecord, action: str | None = None) -> int:
    return sum(
        1
        for a in record.attempts
        if a.outcome in ("accepted", "recovered") and (action is None or a.action.value == action)
    )


# --- DynamoDB throttling at the botocore level ------------------------------------------------------------


class DynamoThrottler:
    """Before-send hooks on one DynamoDB client: a fraction of PutItem / BatchWriteItem requests are
    answered `ProvisionedThroughputExceededException` (HTTP 400, as DynamoDB does; botocore's retry
    handler sees it like a real one), never more than `max_in_a_row` attempts of one request so the
    SDK's retry budget can win; and a fraction of BatchWriteItem requests come back with every item
    in `UnprocessedItems` (the ledger's own loop must write them)."""

    def __init__(self, rng: random.Random, rate: float, unprocessed_rate: float, max_in_a_row: int = 2):
        self.rng = rng
        self.rate = rate
        self.unprocessed_rate = unprocessed_rate
        self.max_in_a_row = max_in_a_row
        self.throttled: Counter[str] = Counter()
        self.unprocessed = 0
        self._lock = threading.Lock()

    def install(self, client: Any) -> None:
        for op in ("PutItem", "BatchWriteItem"):
            client.meta.events.register(f"before-send.dynamodb.{op}", self._before_send)

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        op = event_name.rsplit(".", 1)[-1]  # before-send.dynamodb.<Operation>
        attempt = _attempt(request.headers.get("amz-sdk-request"))
        with self._lock:
            if attempt <= self.max_in_a_row and self.rng.random() < self.rate:
                self.throttled[op] += 1
                return _response(
                    request,
                    400,
                    {
                        "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                        "message": "The level of configured provisioned throughput for the table was exceeded.",
                    },
                )
            if op == "BatchWriteItem" and self.rng.random() < self.unprocessed_rate:
                self.unprocessed += 1
                body = json.loads(request.body)
                return _response(request, 200, {"UnprocessedItems": body["RequestItems"]})
        return None


def _attempt(header: Any) -> int:
    text = header.decode() if isinstance(header, bytes) else str(header or "")
    for part in text.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "attempt" and value.isdigit():
            return int(value)
    return 1


def _response(request: Any, status: int, body: Mapping[str, Any]) -> AWSResponse:
    class _Raw:
        def __init__(self, data: bytes) -> None:
            self._data = data

        def stream(self, **_: Any) -> Iterable[bytes]:
            yield self._data

    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "torture"}
    return AWSResponse(request.url, status, headers, _Raw(data))


def concurrent_round(
    world: LocalWorld,
    rng: random.Random,
    reconcile: Callable[[], ReconcileReport] | None = None,
    deps_hook: Callable[[Deps], Deps] | None = no_delay,
) -> tuple[list[RemediationReport], list[ReconcileReport]]:
    """The queue, drained once, on WORKERS concurrent remediate workers (disjoint slices), with a
    reconcile round (`reconcile`, e.g. `world.reconcile`) running alongside when given."""
    jobs: list[Any] = [s for s in deal(take(world), WORKERS, rng) if s]
    if reconcile is not None:
        jobs.append("reconcile")
    if not jobs:
        return [], []

    def work(job: Any) -> RemediationReport | ReconcileReport:
        if isinstance(job, str):
            assert reconcile is not None
            return reconcile()
        return remediate_batch(world, job, deps_hook=deps_hook)

    done = in_parallel(work, jobs)
    return (
        [r for r in done if isinstance(r, RemediationReport)],
        [r for r in done if isinstance(r, ReconcileReport)],
    )
