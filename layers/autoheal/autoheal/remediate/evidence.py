"""Evidence before a destructive call: one bundle per node, in S3, before it is replaced or retired.

`capture_before` runs right before a call is sent for its claimed nodes (stage 6, `act`): for each
node, in parallel (a small thread pool), it gathers

* `faults.json`   the triggering fault(s), as the queue delivered them;
* `ledger.json`   the node's ledger state as read before its claim (its ladder, action times, outcomes);
* `node.json`     DescribeClusterNode's NodeDetails;
* `logs/<stream>.jsonl`  the node's recent log streams in the cluster's log group (health-monitoring
  agent, lifecycle scripts), `window` back from now;

and writes them, then `manifest.json` (node, cluster, action, reason, rule, time, files with sizes,
`partial` with why), under `<cluster>/<node key>/<time>-<action>/` in the evidence bucket.

Bounded: the files of a node together stay under `max_bytes` (logs are cut first, and said so), and a
node's capture stops reading at its time budget (what it has is written, marked partial). A throttled
read is retried `retries` times with exponential backoff, then left out (partial). A capture that
writes nothing fails; failures are metered (`EvidenceCaptured{Outcome}`) and never block the call,
unless `required` (the `EvidenceRequired` switch): then the node's claim gives way to a hold
(`evidence_missing`) and its fault comes back later (a hold past the ceiling goes to a human).

The bundle's S3 URI travels with the claim (`Claimed.evidence`) to the attempt `record` writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from autoheal.adapters.dynamo import iso
from autoheal.adapters.evidence import EvidenceUnavailable, Throttled, log_group
from autoheal.adapters.ledger import state_to_item
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.policy import Action
from autoheal.ports import EvidenceSource
from autoheal.remediate.claim import Claimed

#: The hold of a node whose evidence is required and could not be captured.
EVIDENCE_HOLD = "evidence_missing"
#: The agents whose streams a bundle reads, each `<agent>/<instance group>/<instance id>` (docs/evidence.md).
LOG_AGENTS = ("SagemakerHealthMonitoringAgent", "LifecycleConfig")
#: Seconds a capture may overrun its budget (a call under way) before the batch stops waiting for it.
GRACE_SECONDS = 5.0

T = TypeVar("T")


@dataclass(frozen=True)
class EvidencePolicy:
    """The switches and bounds (template parameters `Evidence*`)."""

    actions: frozenset[Action] = frozenset({Action.REPLACE, Action.RETIRE})
    required: bool = False
    window: timedelta = timedelta(hours=2)
    max_bytes: int = 5_000_000
    budget_seconds: float = 20.0
    #: All captures of one invocation together (remediate's timeout is 300 s and a batch may hold several
    #: destructive calls): once spent, the remaining nodes get no bundle (failed, metered).
    invocation_budget_seconds: float = 120.0
    workers: int = 4
    retries: int = 3
    backoff_seconds: float = 0.2


@dataclass
class Evidence:
    """What `capture_before` needs: the store, the policy, and (for tests) the clocks it waits by."""

    store: EvidenceSource
    policy: EvidencePolicy = field(default_factory=EvidencePolicy)
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    _until: float | None = field(default=None, init=False, repr=False)

    def remaining(self) -> float:
        """Seconds left of this invocation's evidence budget (it starts with the first capture)."""
        if self._until is None:
            self._until = self.monotonic() + self.policy.invocation_budget_seconds
        return self._until - self.monotonic()


@dataclass(frozen=True)
class Bundle:
    outcome: str  # complete | partial | failed
    uri: str | None
    size: int
    why: tuple[str, ...] = ()


@dataclass
class Captured:
    """The call's nodes to send (each with its bundle's URI, if any), those held for want of evidence,
    and the metrics."""

    ready: list[Claimed] = field(default_factory=list)
    held: list[Claimed] = field(default_factory=list)
    metrics: MetricCounts = field(default_factory=MetricCounts)


def capture_before(
    call_nodes: Sequence[Claimed], action: Action, evidence: Evidence | None, now: datetime
) -> Captured:
    """Capture a bundle for each node of a destructive call, in parallel; see the module."""
    if evidence is None or action not in evidence.policy.actions or not call_nodes:
        return Captured(ready=list(call_nodes))
    bundles = _capture_all(call_nodes, evidence, now)
    out = Captured()
    for c, bundle in zip(call_nodes, bundles, strict=True):
        out.metrics.add(Metric.EVIDENCE_CAPTURED, Outcome=bundle.outcome)
        out.metrics.add(Metric.EVIDENCE_BYTES, bundle.size)
        if bundle.outcome != "complete":
            logger.warning(
                "evidence bundle incomplete",
                extra={"node": c.node.target.node_key, "outcome": bundle.outcome, "why": list(bundle.why)},
            )
        if bundle.uri is None and evidence.policy.required:
            out.held.append(c)
        else:
            out.ready.append(replace(c, evidence=bundle.uri))
    return out


def _capture_all(call_nodes: Sequence[Claimed], evidence: Evidence, now: datetime) -> list[Bundle]:
    policy = evidence.policy
    left = evidence.remaining()
    if left <= 0:
        return [Bundle("failed", None, 0, ("the invocation's evidence budget is spent",)) for _ in call_nodes]
    pool = ThreadPoolExecutor(max_workers=max(1, min(policy.workers, len(call_nodes))))
    try:
        futures = [pool.submit(_capture, c, evidence, now) for c in call_nodes]
        waves = -(-len(call_nodes) // max(1, policy.workers))
        wait(futures, timeout=min(waves * (policy.budget_seconds + GRACE_SECONDS), left + GRACE_SECONDS))
        return [
            f.result() if f.done() else Bundle("failed", None, 0, ("time budget exceeded",)) for f in futures
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class _Reader:
    """One node's capture: its deadline, retries and the reasons its bundle is partial."""

    def __init__(self, evidence: Evidence) -> None:
        self.evidence = evidence
        budget = min(evidence.policy.budget_seconds, evidence.remaining())
        self.deadline = evidence.monotonic() + budget
        self.why: list[str] = []

    def out_of_time(self) -> bool:
        return self.evidence.monotonic() >= self.deadline

    def call(self, what: str, fn: Callable[[], T]) -> T | None:
        """`fn()`, retried with backoff while throttled; None (and a reason) when it gives up."""
        policy = self.evidence.policy
        for attempt in range(policy.retries + 1):
            if self.out_of_time():
                self.why.append(f"time budget exceeded before {what}")
                return None
            try:
                return fn()
            except Throttled as exc:
                if attempt == policy.retries:
                    self.why.append(f"{what}: {exc.code} after {policy.retries} retries")
                    return None
                self.evidence.sleep(policy.backoff_seconds * 2**attempt)
            except EvidenceUnavailable as exc:
                self.why.append(f"{what}: {exc.code}")
                return None
        return None


def _capture(c: Claimed, evidence: Evidence, now: datetime) -> Bundle:
    reader = _Reader(evidence)
    t = c.node.target
    files: dict[str, bytes] = {
        "faults.json": _json([f.model_dump(mode="json") for f in c.node.faults]),
        "ledger.json": _json(state_to_item(c.before, now)),
    }
    if t.instance_id:
        cluster, instance_id = t.cluster, t.instance_id
        details = reader.call(
            "DescribeClusterNode", partial(evidence.store.describe_node, cluster, instance_id)
        )
        if details is not None:
            files["node.json"] = _json(details)
    else:
        reader.why.append("no instance id: DescribeClusterNode and log streams skipped")
    room = evidence.policy.max_bytes - sum(len(b) for b in files.values())
    files.update(_logs(c, reader, now, room))
    return _write(c, files, reader, now)


def _logs(c: Claimed, reader: _Reader, now: datetime, room: int) -> dict[str, bytes]:
    t = c.node.target
    if not t.instance_id or not t.instance_group:
        if t.instance_id:
            reader.why.append("instance group unknown: log streams skipped")
        return {}
    arn = next((f.cluster_arn for f in c.node.faults if f.cluster_arn), None)
    arn = arn or reader.call("DescribeCluster", partial(reader.evidence.store.cluster_arn, c.node.ref[0]))
    if arn is None:
        return {}
    group = log_group(c.node.ref[0], arn)
    start = int((now - reader.evidence.policy.window).timestamp() * 1000)
    end = int(now.timestamp() * 1000) + 1
    store = reader.evidence.store
    out: dict[str, bytes] = {}
    for agent in LOG_AGENTS:
        prefix = f"{agent}/{t.instance_group}/{t.instance_id}"
        streams = reader.call(f"DescribeLogStreams {agent}", partial(store.log_streams, group, prefix)) or []
        for stream in streams:
            if room <= 0:
                reader.why.append(f"size cap reached: {stream} left out")
                continue
            page = reader.call(
                f"GetLogEvents {stream}", partial(store.log_events, group, stream, start, end, room)
            )
            if page is None:
                continue
            body = ("\n".join(page.lines) + "\n").encode() if page.lines else b""
            out[f"logs/{stream.replace('/', '_')}.jsonl"] = body
            room -= len(body)
            if page.truncated:
                reader.why.append(f"size cap reached: {stream} cut short")
    return out


def _write(c: Claimed, files: dict[str, bytes], reader: _Reader, now: datetime) -> Bundle:
    t = c.node.target
    prefix = f"{c.node.ref[0]}/{t.node_key}/{iso(now)}-{c.action.value}"
    written: list[dict[str, Any]] = []
    store = reader.evidence.store
    for name, body in files.items():
        if reader.call(f"PutObject {name}", partial(store.put, f"{prefix}/{name}", body)) is not None:
            written.append({"name": name, "bytes": len(body)})
    manifest = {
        "cluster": c.node.ref[0],
        "node_key": t.node_key,
        "instance_id": t.instance_id,
        "node_logical_id": t.node_logical_id,
        "instance_group": t.instance_group,
        "action": c.action.value,
        "reason": c.decision.reason.value,
        "rule": c.decision.rule or None,
        "signal": c.node.latest.signal,
        "time": iso(now),
        "files": written,
        "partial": bool(reader.why),
        "why": reader.why,
    }
    body = _json(manifest)
    uri = store_manifest(reader, f"{prefix}/manifest.json", body)
    size = sum(f["bytes"] for f in written) + (len(body) if uri else 0)
    if uri is None:
        return Bundle("failed", None, size, tuple(reader.why))
    return Bundle(
        "partial" if reader.why else "complete", uri.rsplit("/", 1)[0] + "/", size, tuple(reader.why)
    )


def store_manifest(reader: _Reader, key: str, body: bytes) -> str | None:
    """The manifest is written last, past the time budget too (it says what the bundle holds)."""
    reader.deadline = max(reader.deadline, reader.evidence.monotonic() + GRACE_SECONDS)
    return reader.call("PutObject manifest.json", partial(reader.evidence.store.put, key, body))


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()
