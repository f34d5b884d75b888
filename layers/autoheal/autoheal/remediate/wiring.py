"""Build the remediate function's adapters from settings and run one batch.

Kept apart from `service` so the service stays testable with any clients, and the handler stays one
call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from autoheal import clients
from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.control import LedgerBreakers, LedgerCooldowns, LedgerNotices, LedgerPauses
from autoheal.adapters.directory import WARM_TAGS, NodeDirectory, TagReuse
from autoheal.adapters.evidence import EvidenceStore
from autoheal.adapters.fleet import FleetSizes, LedgerFleet
from autoheal.adapters.ladder_stats import LedgerLadderStats
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.notify import Notifier
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.queue import FaultQueue
from autoheal.adapters.sagemaker import HyperPodNodes
from autoheal.adapters.verdicts import LedgerVerdicts
from autoheal.adapters.waves import LedgerWaves
from autoheal.faults import utcnow
from autoheal.observability import flush_counts, logger
from autoheal.ports import Clock, RetryQueue
from autoheal.remediate.evidence import Evidence, EvidencePolicy
from autoheal.remediate.requeue import ReturnToSource
from autoheal.remediate.service import Deps, RemediationReport, remediate
from autoheal.settings import Settings

ClientFactory = Callable[[str], Any]

#: The adapter methods remediate calls, c7n style: its role in template.yaml grants what their
#: `IAM_ACTIONS` declare, and tests/integration/test_iam.py checks both against the calls a run makes.
ADAPTER_CALLS: tuple[Callable[..., Any], ...] = (
    NodeDirectory.canonical,
    NodeDirectory.cluster,
    NodeDirectory.info,
    NodeDirectory.locate,
    NodeDirectory.target_counts,  # the retire rung: a restore reads its group again
    HyperPodNodes.execute,
    HyperPodNodes.add,  # the retire rung's restore
    LedgerNodeStates.load,
    LedgerNodeStates.put_if_unchanged,
    LedgerNodeStates.put_claimed,
    LedgerNodeStates.commit,
    LedgerOpenNodes.open_nodes,  # the breaker: one cluster's Query; the fleet breaker: a Scan of the index
    LedgerPauses.paused,
    LedgerCooldowns.cooldowns,
    LedgerCooldowns.start_cooldown,
    LedgerBreakers.breakers,  # also planning's pause and cool-downs: the same Query (`adapters.switches`)
    LedgerBreakers.trip,
    LedgerFleet.state,  # the fleet breaker: one Query of the control partition
    LedgerFleet.trip,
    LedgerFleet.save_size,
    FleetSizes.count,  # the fleet's size, when the cached count is older than its TTL
    LedgerNotices.first_notice,
    LedgerVerdicts.record_dropped,
    Notifier.needs_human,
    FaultQueue.requeue,
    LedgerLadderStats.counters,  # the adaptive ladder (on only): one BatchGetItem of the batch's signals
    LedgerLadderStats.record,  # a recurrence after a heal: that success becomes a failure
    LedgerApprovals.for_nodes,  # the approval gate (ApprovalRequiredFor): one BatchGetItem per batch
    LedgerApprovals.request,
    LedgerApprovals.decide,  # the deadline's default
    LedgerWaves.waves,  # canary waves (on by default): one BatchGetItem of the batch's keys
    LedgerWaves.put,
    EvidenceStore.log_streams,  # evidence before replace/retire (EvidenceCapture): the node's streams
    EvidenceStore.log_events,
    EvidenceStore.describe_node,
    EvidenceStore.cluster_arn,
    EvidenceStore.put,
)


def build_deps(settings: Settings, client: ClientFactory = clients.client, clock: Clock = utcnow) -> Deps:
    sagemaker = client("sagemaker")
    dynamodb = client("dynamodb")
    policy = settings.policy
    table = settings.table_name
    retry_queue: RetryQueue = (
        FaultQueue(client("sqs"), settings.queue_url) if settings.queue_url else ReturnToSource()
    )
    return Deps(
        directory=NodeDirectory(
            sagemaker, TagReuse(WARM_TAGS, clock, timedelta(seconds=settings.cluster_tags_ttl_seconds))
        ),
        states=LedgerNodeStates(dynamodb, table, attempt_ttl=policy.attempt_ttl),
        open_nodes=LedgerOpenNodes(dynamodb, table),
        pauses=LedgerPauses(dynamodb, table),
        breakers=LedgerBreakers(dynamodb, table),
        cooldowns=LedgerCooldowns(dynamodb, table),
        nodes=HyperPodNodes(sagemaker),
        notifier=Notifier(
            client("sns") if settings.topic_arn else None,
            settings.topic_arn,
            settings.chat_topic_arn,
            settings.steps,
        ),
        retry_queue=retry_queue,
        policy=policy,
        clock=clock,
        notices=LedgerNotices(dynamodb, table),
        verdicts=LedgerVerdicts(dynamodb, table),
        stats=LedgerLadderStats(dynamodb, table, policy.adaptive.window),
        fleet=LedgerFleet(dynamodb, table),
        fleet_sizes=FleetSizes(sagemaker),
        approvals=LedgerApprovals(dynamodb, table),
        waves=LedgerWaves(dynamodb, table) if policy.canary.enabled else None,
        evidence=build_evidence(settings, client),
    )


def build_evidence(settings: Settings, client: ClientFactory = clients.client) -> Evidence | None:
    """The evidence stage's store and bounds; None when EvidenceCapture is off or there is no bucket."""
    if not settings.evidence_capture or not settings.evidence_bucket:
        return None
    store = EvidenceStore(client("logs"), client("s3"), client("sagemaker"), settings.evidence_bucket)
    policy = EvidencePolicy(
        required=settings.evidence_required,
        window=timedelta(minutes=settings.evidence_log_window_minutes),
        max_bytes=settings.evidence_max_bytes,
        budget_seconds=settings.evidence_time_budget_seconds,
    )
    return Evidence(store, policy)


def handle_batch(event: Mapping[str, Any], settings: Settings, deps: Deps | None = None) -> RemediationReport:
    """Remediate one SQS event and flush its metrics."""
    records = event.get("Records") or []
    report = remediate(records, deps or build_deps(settings))
    flush_counts(report.metrics)
    logger.info(
        "batch remediated",
        extra={
            "records": len(records),
            "calls": [f"{c.operation}:{c.cluster}:{c.size}" for c in report.calls],
            "batch_item_failures": len(report.batch_item_failures),
        },
    )
    return report
