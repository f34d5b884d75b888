"""The ports the services depend on: small Protocols, one per kind of record or call.

Remediate and reconcile take these, never the concrete adapters, so a test can pass a small stand-in
and the wiring chooses the implementation (the ledger table's adapters: `LedgerNodeStates`,
`LedgerOpenNodes`, `LedgerVerdicts`, `LedgerPauses`, `LedgerBreakers`, `LedgerCooldowns`, `LedgerNotices`, `LedgerLadderStats`, `LedgerFleet`; `NodeDirectory`, `HyperPodNodes`, `FleetSizes`,
`LedgerOpenNodes`, `LedgerVerdicts`, `LedgerPauses`, `LedgerBreakers`, `LedgerCooldowns`, `LedgerNotices`, `LedgerLadderStats`, `LedgerWaves`; `NodeDirectory`, `HyperPodNodes`,
`FaultQueue`, `Notifier`). Each method raises the adapter's typed error (`LedgerError`, `QueueError`, ...)
when the platform refuses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # types only: importing the ports loads no adapter (intake's cold start)
    from autoheal.adapters.control import BreakerState, Cooldown, Pause
    from autoheal.adapters.directory import ClusterInfo, ClusterNodes, NodeInfo
    from autoheal.adapters.evidence import LogPage
    from autoheal.adapters.fleet import FleetState, FleetTripRecord
    from autoheal.adapters.ledger import AttemptRecord, NodeRef
    from autoheal.adapters.node_states import Transacted
    from autoheal.adapters.notify import HumanNeeded
    from autoheal.adapters.queue import SendReport
    from autoheal.adapters.sagemaker import CallReceipt
    from autoheal.adapters.verdicts import DroppedFault
    from autoheal.alerts.steps import NotifyStep
    from autoheal.core.approvals import Approval
    from autoheal.core.canary import WaveKey, WaveRecord
    from autoheal.core.fleet import FleetSize
    from autoheal.core.planner import BatchRequest
    from autoheal.core.results import AddGroupResult
    from autoheal.core.state import NodeState
    from autoheal.faults import NodeFault

#: The services' clock (timezone-aware UTC; tests and the local world pass their own).
Clock = Callable[[], datetime]


class NodeStates(Protocol):
    """Each node's state record, written with optimistic concurrency (its version)."""

    def load(self, refs: Iterable[NodeRef]) -> dict[NodeRef, NodeState]: ...

    def put_if_unchanged(self, state: NodeState, expected_version: int, now: datetime) -> bool: ...

    def put_all_if_unchanged(self, writes: Sequence[tuple[NodeState, int]], now: datetime) -> Transacted:
        """Each (state, version read) as `put_if_unchanged`, all or none (one call's claims)."""
        ...

    def put_claimed(self, states: Sequence[NodeState], now: datetime) -> None:
        """States of nodes we hold the claims of (e.g. `sending`): unconditional, one batch write."""
        ...

    def commit(
        self, states: Sequence[NodeState], attempts: Sequence[AttemptRecord], now: datetime
    ) -> None: ...


class DroppedFaults(Protocol):
    """Remediate's verdict on each fault it dropped (no node to act on), kept for a while."""

    def record_dropped(self, dropped: Sequence[DroppedFault]) -> None: ...


class OpenNodes(Protocol):
    """The nodes with an open remediation (one cluster, or all of them)."""

    def open_nodes(self, cluster: str | None = None) -> list[NodeState]: ...


class Pauses(Protocol):
    def paused(self, clusters: Iterable[str]) -> dict[str, Pause]: ...


class Breakers(Protocol):
    def breakers(self, now: datetime) -> BreakerState: ...

    def trip(self, label: str, until: datetime, count: int, allowed: int) -> None: ...


class Cooldowns(Protocol):
    def cooldowns(
        self, groups: Iterable[tuple[str, str]], now: datetime
    ) -> dict[tuple[str, str], Cooldown]: ...

    def start_cooldown(self, cooldown: Cooldown) -> None: ...


class LadderStats(Protocol):
    """The adaptive ladder's per-signal counters (`autoheal.adapters.ladder_stats`)."""

    def record(self, signal: str, action: str, day: date, attempts: int, successes: int) -> dict[str, int]:
        """Add to (signal, action)'s counters of `day`; the signal's counters after the update."""
        ...

    def counters(self, signals: Iterable[str]) -> dict[str, dict[str, int]]: ...


class Notices(Protocol):
    """Rate limits for notifications: True when `subject` was not told within `every` (and records it)."""

    def first_notice(self, subject: str, now: datetime, every: timedelta) -> bool: ...


class Directory(Protocol):
    """Where a fault's node is now: ListClusterNodes, DescribeCluster and ListTags. `canonical` turns a
    cluster reference (name or ARN) into the cluster's name, the key of every record."""

    def canonical(self, ref: str) -> str: ...

    def prefetch(self, refs: Iterable[str]) -> None: ...

    def cluster(self, ref: str) -> ClusterNodes: ...

    def info(self, ref: str) -> ClusterInfo: ...

    def locate(self, instance_id: str | None, node_logical_id: str | None) -> NodeInfo | None: ...

    def target_counts(self, ref: str) -> dict[str, int]: ...


class NodeActions(Protocol):
    """The SageMaker Batch*ClusterNodes calls: one request in, one typed receipt out."""

    def execute(self, request: BatchRequest) -> CallReceipt: ...

    def add(self, cluster: str, increments: Mapping[str, int], client_token: str) -> list[AddGroupResult]: ...


class RetryQueue(Protocol):
    """Faults to try again after a delay (raises `QueueError` when they could not be queued)."""

    def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None: ...


class FaultSink(Protocol):
    """The fault queue: intake's faults, and reconcile's sent back to remediate."""

    def send(self, faults: Sequence[NodeFault]) -> SendReport: ...


class HumanNotifier(Protocol):
    """Tell an operator about nodes we stopped acting on. Truthy when something was sent (a count of
    messages is fine: `bool` is an `int`)."""

    def needs_human(self, humans: Sequence[HumanNeeded]) -> int: ...

    @property
    def steps(self) -> frozenset[NotifyStep]:
        """The step notifications switched on (none without a topic)."""
        ...


class Fleet(Protocol):
    """The fleet breaker's records (`autoheal.adapters.fleet.LedgerFleet`): its state in one read, a
    trip recorded once (True: this call recorded it), the cached fleet size."""

    def state(self, now: datetime) -> FleetState: ...

    def trip(self, record: FleetTripRecord) -> bool: ...

    def save_size(self, size: FleetSize) -> None: ...


class FleetSizeCounter(Protocol):
    """Counts the fleet's managed nodes per cluster (ListClusters, DescribeCluster)."""

    def count(self, now: datetime) -> FleetSize: ...


class Approvals(Protocol):
    """Each node's approval record (`autoheal.adapters.approvals`): read per batch, asked, decided."""

    def for_nodes(self, refs: Iterable[NodeRef]) -> dict[NodeRef, Approval]: ...

    def request(self, approval: Approval, replaces: str | None) -> bool: ...

    def decide(self, approval: Approval) -> bool: ...

    def all(self, cluster: str | None = None) -> list[Approval]: ...


class Waves(Protocol):
    """Canary wave records, one per (cluster, instance group, signal) (`LedgerWaves`)."""

    def waves(self, keys: Iterable[WaveKey]) -> dict[WaveKey, WaveRecord]: ...

    def put(self, record: WaveRecord, now: datetime) -> bool: ...

    def all(self) -> list[WaveRecord]: ...


class EvidenceSource(Protocol):
    """Where an evidence bundle is read from and written to (`autoheal.adapters.evidence.EvidenceStore`);
    raises `Throttled` or `EvidenceUnavailable`."""

    def log_streams(self, group: str, prefix: str) -> list[str]: ...

    def log_events(self, group: str, stream: str, start_ms: int, end_ms: int, max_bytes: int) -> LogPage: ...

    def describe_node(self, cluster: str, instance_id: str) -> dict[str, Any]: ...

    def cluster_arn(self, cluster: str) -> str: ...

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> str: ...
