"""Rule for `AWS Health Event` (source `aws.health`).

Only EC2 events that are `open` or `upcoming` and are not a backup-region copy count. Each affected
entity whose value is an instance id or an instance ARN is one fault, its signal the
`eventTypeCode`. The cluster is unknown here (None): remediate resolves it from the node lists.
Pages of a paginated event carry different entities, so each page is handled on its own.

A missing `statusCode`: the schema page lists `statusCode` (`open` | `closed` | `upcoming`,
https://docs.aws.amazon.com/health/latest/ug/aws-health-events-eventbridge-schema.html), but
published events (AWS's aws-health-tools test events, a captured instance-retirement event) have none.
An `issue` or a `scheduledChange` is then taken as open - that is what the event announces; a
`closed` one says so - and anything else (`accountNotification`, `investigation`, no category) is
ignored as `health_status_unknown`: nothing to act on without a status.
"""

from __future__ import annotations

import re

from autoheal.faults import INSTANCE_ID_RE, FaultSource, NodeFault, Severity
from autoheal.intake.models import HealthEvent
from autoheal.intake.result import Disposition, Ignored, IgnoreReason, ignore
from autoheal.intake.rules.common import reason_text

_OPEN_STATUSES = frozenset({"open", "upcoming"})
#: Categories whose event, when it carries no `statusCode`, is taken as open.
_OPEN_WITHOUT_STATUS = frozenset({"issue", "scheduledchange"})
_SETTLED_ENTITY_STATUSES = frozenset({"RESOLVED", "UNIMPAIRED"})
_INSTANCE_ARN_RE = re.compile(r"^arn:aws[a-z\-]*:ec2:[a-z0-9\-]*:[0-9]{12}:instance/(?P<id>i-[a-f0-9]+)$")


def instance_id_of(entity_value: str) -> str | None:
    """The instance id an entity names, bare (`i-…`) or as an instance ARN; else None."""
    arn = _INSTANCE_ARN_RE.fullmatch(entity_value)
    candidate = arn.group("id") if arn else entity_value
    return candidate if INSTANCE_ID_RE.fullmatch(candidate) else None


def health_event(event: HealthEvent) -> Disposition:
    detail = event.detail
    if detail.service.upper() != "EC2":
        return ignore(IgnoreReason.HEALTH_NOT_EC2, detail.service)
    if detail.backup_event:
        return ignore(IgnoreReason.HEALTH_BACKUP_COPY, detail.event_type_code)
    if detail.status_code is None:
        if detail.event_type_category.lower() not in _OPEN_WITHOUT_STATUS:
            return ignore(IgnoreReason.HEALTH_STATUS_UNKNOWN, detail.event_type_category)
    elif detail.status_code.lower() not in _OPEN_STATUSES:
        return ignore(IgnoreReason.CLOSED_HEALTH_EVENT, detail.status_code)
    if not detail.affected_entities:
        return ignore(IgnoreReason.NO_NODE, detail.event_type_code)

    severity = Severity.ERROR if detail.event_type_category == "issue" else Severity.WARNING
    disposition = Disposition()
    for entity in detail.affected_entities:
        instance_id = instance_id_of(entity.entity_value)
        if instance_id is None:
            disposition.ignored.append(Ignored(IgnoreReason.NO_NODE, entity.entity_value[:200]))
        elif (entity.status or "").upper() in _SETTLED_ENTITY_STATUSES:
            disposition.ignored.append(Ignored(IgnoreReason.HEALTH_ENTITY_RESOLVED, instance_id))
        else:
            disposition.faults.append(
                NodeFault(
                    instance_id=instance_id,
                    signal=detail.event_type_code,
                    reason=reason_text(detail.description),
                    severity=severity,
                    source=FaultSource.AWS_HEALTH,
                    source_event_id=f"{event.id}/{instance_id}",
                    observed_at=event.time,
                )
            )
    return disposition
