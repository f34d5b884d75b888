"""Build reconcile's adapters from settings and run one round (scheduled, or for one cluster when a
HyperPod Cluster Event about an instance arrives)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autoheal import clients
from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.control import LedgerNotices
from autoheal.adapters.directory import NodeDirectory
from autoheal.adapters.ladder_stats import LedgerLadderStats
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.notify import Notifier
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.queue import FaultQueue
from autoheal.adapters.waves import LedgerWaves
from autoheal.faults import CLUSTER_NAME_RE, utcnow
from autoheal.observability import flush_counts, logger
from autoheal.ports import Clock
from autoheal.reconcile.service import ReconcileDeps, ReconcileReport, reconcile
from autoheal.settings import Settings

ClientFactory = Callable[[str], Any]
CLUSTER_EVENT = "SageMaker HyperPod Cluster Event"

#: The adapter methods reconcile calls, c7n style (see remediate.wiring.ADAPTER_CALLS). Nothing here
#: mutates a cluster: escalations go back through the fault queue to remediate.
ADAPTER_CALLS: tuple[Callable[..., Any], ...] = (
    LedgerOpenNodes.open_nodes,  # Query for a Cluster Event's cluster, Scan of the open index on the schedule
    LedgerNodeStates.put_if_unchanged,
    LedgerNodeStates.commit,
    NodeDirectory.cluster,
    FaultQueue.send,
    Notifier.needs_human,  # needs-human notices whose publish failed in remediate; healed/stuck steps
    LedgerNotices.first_notice,  # a stuck action is told once
    LedgerLadderStats.record,  # the adaptive ladder's counters: an action's outcome
    LedgerApprovals.all,  # pending approvals: metered, overdue ones' faults re-sent
    LedgerWaves.all,  # canary waves: the episodes to verify (one Query)
    LedgerNodeStates.load,  # canary waves: the released nodes' states
    LedgerWaves.put,
)


def build_deps(
    settings: Settings, client: ClientFactory = clients.client, clock: Clock = utcnow
) -> ReconcileDeps:
    policy = settings.policy
    dynamodb = client("dynamodb")
    return ReconcileDeps(
        states=LedgerNodeStates(dynamodb, settings.table_name, attempt_ttl=policy.attempt_ttl),
        open_nodes=LedgerOpenNodes(dynamodb, settings.table_name),
        directory=NodeDirectory(client("sagemaker")),
        queue=FaultQueue(client("sqs"), settings.queue_url),
        policy=policy,
        clock=clock,
        notifier=Notifier(
            client("sns") if settings.topic_arn else None,
            settings.topic_arn,
            settings.chat_topic_arn,
            settings.steps,
        ),
        stats=LedgerLadderStats(dynamodb, settings.table_name, policy.adaptive.window),
        approvals=LedgerApprovals(dynamodb, settings.table_name),
        waves=LedgerWaves(dynamodb, settings.table_name) if policy.canary.enabled else None,
        notices=LedgerNotices(dynamodb, settings.table_name),
    )


def event_cluster(event: Mapping[str, Any]) -> str | None:
    """The cluster a Cluster Event is about (None for the schedule, or anything unexpected)."""
    if event.get("detail-type") != CLUSTER_EVENT:
        return None
    details = (event.get("detail") or {}).get("EventDetails") or {}
    name = details.get("ClusterName")
    return name if isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name) else None


def handle_event(
    event: Mapping[str, Any], settings: Settings, deps: ReconcileDeps | None = None
) -> ReconcileReport:
    cluster = event_cluster(event)
    report = reconcile(deps or build_deps(settings), cluster)
    flush_counts(report.metrics)
    logger.info("reconcile round", extra={"cluster": cluster or "*", **report.summary()})
    return report
