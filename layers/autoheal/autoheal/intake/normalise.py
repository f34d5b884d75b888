"""Turn one raw event into typed faults: pure, no boto3, never raises on bad input.

EventBridge events are dispatched by (source, detail-type) through `ROUTES`: each route names the
parser model and the rule that maps it; a rule gets only the settings it reads (its part of
`RuleConfig`, built once from `Settings` by `autoheal.intake.wiring.rule_config`). An unknown pair is
acknowledged (`unsupported_detail_type`); a known pair that does not parse, or whose ids are invalid, is rejected as `malformed:<detail-type>`
with a short summary of the validation errors (never the event itself). An unusable *optional* field
does not reject the event: the model drops it (`autoheal.intake.lenient`) and the `Intake` lists it in
`dropped`, for the service to log and count.

A CloudWatch Logs subscription delivery (`{"awslogs": ...}`: HMA log records) is decoded and goes
to `rules.hma_logs`; one that cannot be decoded is rejected as `malformed:awslogs`, and each unreadable
record in a readable one as `malformed:hma_record` (the other records still count).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from autoheal.faults import NodeFault
from autoheal.intake import kinds, logs
from autoheal.intake.lenient import DroppedField, dropped_fields
from autoheal.intake.result import (
    MALFORMED_ENVELOPE,
    MALFORMED_LOGS,
    Disposition,
    Ignored,
    IgnoreReason,
    Intake,
    Rejected,
    malformed,
)
from autoheal.intake.rules.config import AlarmRuleConfig, RuleConfig
from autoheal.reserved import SELFTEST_SOURCE
from autoheal.validation import summarise

E = TypeVar("E", bound=BaseModel)

_ID_MAX = 128

Rule = Callable[[E, RuleConfig], Disposition]


@dataclass(frozen=True)
class Route(Generic[E]):
    """How one (source, detail-type) is handled: the model that parses it, the rule that maps it.

    Both come from `load`, called on the first event of that kind and cached: a cold start imports no
    model or rule module (alarm models, HMA records, Health) until an event needs it.
    """

    load: Callable[[], tuple[type[E], Rule[E]]]

    @property
    def model(self) -> type[E]:
        return self.load()[0]

    @property
    def rule(self) -> Rule[E]:
        return self.load()[1]


def _no_config(rule: Callable[[E], Disposition]) -> Rule[E]:
    def apply(event: E, config: RuleConfig) -> Disposition:
        return rule(event)

    return apply


def _alarm_config(rule: Callable[[E, AlarmRuleConfig], Disposition]) -> Rule[E]:
    def apply(event: E, config: RuleConfig) -> Disposition:
        return rule(event, config.alarm)

    return apply


@cache
def _node_health() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.models import NodeHealthEvent
    from autoheal.intake.rules import hyperpod

    return NodeHealthEvent, _no_config(hyperpod.node_health)


@cache
def _selftest_node_health() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.models import NodeHealthEvent
    from autoheal.intake.rules import hyperpod

    return NodeHealthEvent, _no_config(hyperpod.selftest_node_health)


@cache
def _cluster_event() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.models import ClusterEvent
    from autoheal.intake.rules import hyperpod

    return ClusterEvent, _no_config(hyperpod.cluster_event)


@cache
def _cluster_state_change() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.models import ClusterStateChange
    from autoheal.intake.rules import hyperpod

    return ClusterStateChange, _no_config(hyperpod.cluster_state_change)


@cache
def _health_event() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.models import HealthEvent
    from autoheal.intake.rules import health

    return HealthEvent, _no_config(health.health_event)


@cache
def _alarm_state_change() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.alarm_models import AlarmStateChange
    from autoheal.intake.rules import alarm

    return AlarmStateChange, _alarm_config(alarm.alarm_state_change)


@cache
def _alarm_contributor_state_change() -> tuple[type[Any], Rule[Any]]:
    from autoheal.intake.alarm_models import AlarmContributorStateChange
    from autoheal.intake.rules import alarm

    return AlarmContributorStateChange, _alarm_config(alarm.alarm_contributor_state_change)


ROUTES: Mapping[tuple[str, str], Route[Any]] = {
    (kinds.SAGEMAKER, kinds.NODE_HEALTH_EVENT): Route(_node_health),
    # `autoheal selftest`: a Node Health Event from the self-test source, for a reserved cluster only
    (SELFTEST_SOURCE, kinds.NODE_HEALTH_EVENT): Route(_selftest_node_health),
    (kinds.SAGEMAKER, kinds.CLUSTER_EVENT): Route(_cluster_event),
    (kinds.SAGEMAKER, kinds.CLUSTER_STATE_CHANGE): Route(_cluster_state_change),
    (kinds.HEALTH, kinds.HEALTH_EVENT): Route(_health_event),
    (kinds.CLOUDWATCH, kinds.ALARM_STATE_CHANGE): Route(_alarm_state_change),
    (kinds.CLOUDWATCH, kinds.ALARM_CONTRIBUTOR_STATE_CHANGE): Route(_alarm_contributor_state_change),
}

#: How a CloudWatch Logs delivery shows up in logs and metrics (it has no EventBridge envelope).
LOGS_SOURCE = "aws.logs"
HMA_RECORDS = "HMA log records"


def normalise(raw: Mapping[str, Any], config: RuleConfig) -> Intake:
    """One event in; its faults, what was ignored and why, or why it was rejected."""
    if not isinstance(raw, Mapping):
        return Intake("", "", "", rejected=Rejected(MALFORMED_ENVELOPE, "event is not a JSON object"))
    if logs.is_logs_payload(raw):
        return _normalise_logs(raw, config)
    event_id, source, detail_type = (_text(raw.get(key)) for key in ("id", "source", "detail-type"))
    intake = Intake(event_id, source, detail_type)
    if not source or not detail_type:
        return _reject(intake, MALFORMED_ENVELOPE, "missing source or detail-type")
    route = ROUTES.get((source, detail_type))
    if route is None:
        return _with(
            intake, Disposition(ignored=[Ignored(IgnoreReason.UNSUPPORTED_DETAIL_TYPE, detail_type)])
        )
    model, rule = route.load()
    try:
        event = model.model_validate(raw)
    except ValidationError as exc:
        return _reject(intake, malformed(detail_type), summarise(exc))
    try:
        disposition = rule(event, config)
    except ValidationError as exc:  # the event parsed, but what it says is not a valid NodeFault
        return _reject(intake, malformed(detail_type), summarise(exc, prefix="fault."))
    return _with(intake, disposition, dropped_fields(event))


def _normalise_logs(raw: Mapping[str, Any], config: RuleConfig) -> Intake:
    intake = Intake("", LOGS_SOURCE, HMA_RECORDS)
    try:
        payload = logs.decode(raw)
    except logs.LogsPayloadError as exc:
        return _reject(intake, MALFORMED_LOGS, str(exc))
    except ValidationError as exc:
        return _reject(intake, MALFORMED_LOGS, summarise(exc, prefix="awslogs.data."))
    first = payload.logEvents[0].id if payload.logEvents else ""
    intake = Intake(
        _text(first), LOGS_SOURCE, HMA_RECORDS, subject=_text(f"{payload.logGroup} {payload.logStream}")
    )
    from autoheal.intake.rules import hma_logs  # on the first delivery: HMA records, their patterns

    try:
        disposition = hma_logs.log_delivery(payload, config.hma)
    except ValidationError as exc:
        return _reject(intake, MALFORMED_LOGS, summarise(exc, prefix="fault."))
    return _with(intake, disposition)


def _with(intake: Intake, disposition: Disposition, dropped: list[DroppedField] | None = None) -> Intake:
    faults: list[NodeFault] = []
    ignored = list(disposition.ignored)
    seen: set[str] = set()
    for fault in disposition.faults:
        if fault.dedupe_key in seen:
            ignored.append(Ignored(IgnoreReason.DUPLICATE_IN_EVENT, fault.node_ref))
            continue
        seen.add(fault.dedupe_key)
        faults.append(fault)
    return Intake(
        intake.event_id,
        intake.source,
        intake.detail_type,
        faults=faults,
        ignored=ignored,
        rejected_parts=list(disposition.rejected),
        subject=intake.subject,
        dropped=dropped or [],
    )


def _reject(intake: Intake, reason: str, message: str) -> Intake:
    return Intake(
        intake.event_id,
        intake.source,
        intake.detail_type,
        rejected=Rejected(reason, message),
        subject=intake.subject,
    )


def _text(value: object) -> str:
    """An envelope string for logs and routing: clipped, and empty when it is not a string."""
    return value[:_ID_MAX] if isinstance(value, str) else ""
