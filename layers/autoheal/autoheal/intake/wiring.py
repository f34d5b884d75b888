"""Build intake's dependencies from settings and take one event (EventBridge, or an HMA log delivery).

Kept apart from `service` so the service stays testable with any queue, and the handler stays one call.
The rules' settings are built here, once per `Settings`: each rule gets only the fields it reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from autoheal import clients
from autoheal.adapters.queue import FaultQueue
from autoheal.faults import utcnow
from autoheal.intake.rules.config import AlarmRuleConfig, HmaRuleConfig, RuleConfig
from autoheal.intake.service import IntakeDeps, IntakeReport, ingest
from autoheal.observability import flush_counts
from autoheal.ports import Clock
from autoheal.settings import Settings

ClientFactory = Callable[[str], Any]

#: The adapter methods intake calls, c7n style (see remediate.wiring.ADAPTER_CALLS): its roles in
#: template.yaml (intake and HMA intake) grant what their `IAM_ACTIONS` declare.
ADAPTER_CALLS: tuple[Callable[..., Any], ...] = (FaultQueue.send,)


@lru_cache(maxsize=8)
def rule_config(settings: Settings) -> RuleConfig:
    """The settings fields intake's rules read, per rule."""
    return RuleConfig(
        alarm=AlarmRuleConfig(
            name_prefix=settings.alarm_name_prefix,
            operational_prefix=settings.operational_alarm_prefix,
            node_dimension=settings.alarm_node_dimension,
            cluster_dimension=settings.alarm_cluster_dimension,
        ),
        hma=HmaRuleConfig(ignored_xids=settings.ignored_xids),
    )


def build_deps(
    settings: Settings, client: ClientFactory = clients.client, clock: Clock = utcnow
) -> IntakeDeps:
    return IntakeDeps(
        rules=rule_config(settings), queue=FaultQueue(client("sqs"), settings.queue_url), clock=clock
    )


def handle_event(
    event: Mapping[str, Any], settings: Settings, deps: IntakeDeps | None = None
) -> IntakeReport:
    """Take one event and flush its metrics."""
    report = ingest(event, deps or build_deps(settings, clients.client))  # the factory as it is now
    flush_counts(report.counts)
    return report
