"""The values that flow between remediate's stages, and the ports one invocation uses (`Deps`)."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from autoheal.adapters.directory import ClusterInfo
from autoheal.adapters.ledger import NodeRef
from autoheal.adapters.notify import HumanNeeded
from autoheal.adapters.verdicts import DroppedFault
from autoheal.core.approvals import GateVerdict
from autoheal.core.canary import Gate
from autoheal.core.fleet import FleetCheck
from autoheal.core.guards import GuardVerdict
from autoheal.core.guards import Scope as BreakerScope
from autoheal.core.ladder import Decision, NodeFaults
from autoheal.core.planner import BatchRequest, Target, plan_requests
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault
from autoheal.observability import MetricCounts
from autoheal.policy import Action, RemediationPolicy
from autoheal.ports import (
    Approvals,
    Breakers,
    Clock,
    Cooldowns,
    Directory,
    DroppedFaults,
    Fleet,
    FleetSizeCounter,
    HumanNotifier,
    LadderStats,
    NodeActions,
    NodeStates,
    Notices,
    OpenNodes,
    Pauses,
    RetryQueue,
    Waves,
)

if TYPE_CHECKING:  # remediate.evidence imports the claim stage, which imports this module
    from autoheal.remediate.evidence import Evidence

RETRY_MAX_SECONDS = 900  # SQS DelaySeconds maximum: the longest a fault can wait in the queue


@dataclass
class Deps:
    """The ports one invocation uses (`wiring.build_deps` builds them from injected clients; one
    adapter object may serve several ports)."""

    directory: Directory
    states: NodeStates
    open_nodes: OpenNodes
    pauses: Pauses
    breakers: Breakers
    cooldowns: Cooldowns
    nodes: NodeActions
    notifier: HumanNotifier
    retry_queue: RetryQueue
    policy: RemediationPolicy
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    notices: Notices | None = None  # rate limit of the cluster-unreachable notice (None: every batch)
    verdicts: DroppedFaults | None = None  # where dropped faults' verdicts are kept (None: not kept)
    stats: LadderStats | None = None  # the adaptive ladder's counters (None: static table, not counted)
    fleet: Fleet | None = None  # the fleet breaker's records (None: no fleet breaker)
    fleet_sizes: FleetSizeCounter | None = None  # counts the fleet's nodes (None: the cached count only)
    approvals: Approvals | None = None  # the approval records (None: a gated action is held, never asked)
    waves: Waves | None = None  # canary wave records (None: no canary waves)
    evidence: Evidence | None = None  # bundles before replace/retire (None: EvidenceCapture off)


@dataclass(frozen=True)
class NodeRow:
    """What happened to one node in this batch (for logs, the demo summary and tests)."""

    cluster: str
    node_key: str
    instance_id: str | None
    decision: str
    reason: str
    action: str | None = None
    step: int = -1
    outcome: str | None = None
    error_code: str | None = None


@dataclass(frozen=True)
class CallRow:
    operation: str
    cluster: str
    size: int
    failed: int
    call_error: str | None


@dataclass
class RemediationReport:
    batch_item_failures: list[str] = field(default_factory=list)
    nodes: list[NodeRow] = field(default_factory=list)
    calls: list[CallRow] = field(default_factory=list)
    metrics: MetricCounts = field(default_factory=MetricCounts)

    def as_lambda_response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": m} for m in self.batch_item_failures]}


@dataclass
class Node:
    """Everything this batch knows about one node: where it is now and its faults."""

    ref: NodeRef
    target: Target
    status: str | None = None  # InstanceStatus from ListClusterNodes
    faults: list[NodeFault] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)

    @property
    def latest(self) -> NodeFault:
        return NodeFaults(tuple(self.faults)).latest

    @property
    def event_ids(self) -> tuple[str, ...]:
        return tuple(f.source_event_id for f in self.faults)

    def row(self, decision: str, reason: str) -> NodeRow:
        t = self.target
        return NodeRow(t.cluster, t.node_key, t.instance_id, decision, reason)


@dataclass(frozen=True)
class Hold:
    """Why a node's fault waits, and for how long; the fault is re-queued and recorded as held, never
    dropped."""

    reason: str  # metric reason: paused | capacity_cooldown | breaker_open | node_cooldown | cluster_... | node_...
    detail: str  # e.g. "paused:*", "capacity_cooldown:gpu-a", "breaker:train/gpu-a"
    delay: int = RETRY_MAX_SECONDS  # seconds until the held fault comes back


@dataclass(frozen=True)
class NodePlan:
    """One node's decision, before anything is written."""

    node: Node
    history: NodeState
    decision: Decision
    guard: GuardVerdict | None = None  # a safety guard's say (ignore, or hand to a human)
    hold: Hold | None = None  # why its action waits, if it does
    action: Action | None = None  # what the ladder's step would do
    retire_target: int | None = None  # a retire: its group's TargetCount before it (the restore's goal)

    @property
    def would_act(self) -> bool:
        return self.action is not None and self.guard is None and self.hold is None


@dataclass
class BatchPlan:
    """What one batch would do: decisions per node, and the faults that resolved to no node."""

    now: datetime
    nodes: list[NodePlan]
    report: RemediationReport
    policy: RemediationPolicy
    trips: dict[BreakerScope, tuple[int, int]] = field(default_factory=dict)  # newly tripped breakers
    infos: Mapping[str, ClusterInfo] = field(default_factory=dict)  # to decide a node again (claim)
    unreachable: dict[str, tuple[str, str]] = field(default_factory=dict)  # cluster -> (error code, message)
    dropped: list[DroppedFault] = field(default_factory=list)  # faults that resolved to no node, and why
    restores: list[NodeFault] = field(default_factory=list)  # RestorePending faults: restores to resume
    fleet: FleetCheck = field(default_factory=FleetCheck)  # the fleet breaker: a new trip, a fresh count
    approvals: dict[NodeRef, GateVerdict] = field(default_factory=dict)  # the approval gate's verdicts
    waves: list[Gate] = field(default_factory=list)  # canary wave records to write (changed gates)

    def action_for(self, plan: NodePlan) -> Action | None:
        return plan.action

    def requests(self) -> list[BatchRequest]:
        """The mutating calls executing this plan would make (before claims and per-entry results)."""
        if self.policy.guards.dry_run:
            return []
        return plan_requests((p.node.target, p.action) for p in self.nodes if p.would_act and p.action)


@dataclass(frozen=True)
class Later:
    """A node's faults to try again after `delay` seconds (a hold, or a transient failure)."""

    node: Node
    delay: int


@dataclass
class Effects:
    """What an execute stage produced for the report and the last stages: node and call rows, metric
    counts, nodes to tell a human about (and the states written with their notice pending, cleared
    once it is published), faults to try later."""

    rows: list[NodeRow] = field(default_factory=list)
    calls: list[CallRow] = field(default_factory=list)
    metrics: MetricCounts = field(default_factory=MetricCounts)
    humans: list[HumanNeeded] = field(default_factory=list)
    later: list[Later] = field(default_factory=list)
    notices: list[NodeState] = field(default_factory=list)

    @staticmethod
    def combined(parts: Iterable[Effects]) -> Effects:
        out = Effects()
        for part in parts:
            out.rows += part.rows
            out.calls += part.calls
            out.metrics.merge([part.metrics])
            out.humans += part.humans
            out.later += part.later
            out.notices += part.notices
        return out
