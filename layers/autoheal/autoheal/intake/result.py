"""What normalising one event produces: faults, acknowledged non-faults, or a rejection.

A rule returns a `Disposition` for the event it was given; `normalise` turns it into the `Intake`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from autoheal.faults import NodeFault
from autoheal.intake.lenient import DroppedField


class IgnoreReason(StrEnum):
    """Why a well-formed event (or one entity of it) is not a fault. Metric dimension `Reason`."""

    HEALTHY_TRANSITION = "healthy_transition"
    UNKNOWN_HEALTH_STATUS = "unknown_health_status"
    INFO_LEVEL = "info_level"
    UNKNOWN_LEVEL_NOT_A_FAILURE = "unknown_level_not_a_failure"  # no (known) EventLevel, nothing failed
    NOT_INSTANCE_SCOPE = "not_instance_scope"
    NOISE_LOST_ORCHESTRATION_READY = "noise_lost_orchestration_ready"
    NO_NODE = "no_node"
    STATE_CHANGE = "state_change"
    HEALTH_NOT_EC2 = "health_not_ec2"
    HEALTH_BACKUP_COPY = "health_backup_copy"
    CLOSED_HEALTH_EVENT = "closed_health_event"
    HEALTH_STATUS_UNKNOWN = (
        "health_status_unknown"  # no statusCode, and a category that is not an issue/change
    )
    HEALTH_ENTITY_RESOLVED = "health_entity_resolved"
    ALARM_NOT_ALARM_STATE = "alarm_not_alarm_state"
    ALARM_ALREADY_IN_ALARM = "alarm_already_in_alarm"
    ALARM_PREFIX_MISMATCH = "alarm_prefix_mismatch"  # not named for autoheal (AlarmNamePrefix)
    OWN_OPERATIONAL_ALARM = "own_operational_alarm"  # one of this stack's own alarms (<stack>-...)
    ALARM_MUTED = "alarm_muted"  # an alarm mute rule mutes the alarm's actions (muteDetail)
    ALARM_MULTI_TIME_SERIES = "alarm_multi_time_series"  # aggregate state: the contributors name nodes
    AMBIGUOUS_NODE = "ambiguous_node"
    DUPLICATE_IN_EVENT = "duplicate_in_event"
    UNSUPPORTED_DETAIL_TYPE = "unsupported_detail_type"
    LOGS_CONTROL_MESSAGE = "logs_control_message"
    NOT_HMA_DETECTION = "not_hma_detection"
    HMA_APPLICATION_FAULT = "hma_application_fault"
    SELFTEST_NOT_RESERVED = "selftest_not_reserved"  # a self-test event naming a non-reserved cluster


MALFORMED_ENVELOPE = "malformed:envelope"
MALFORMED_LOGS = "malformed:awslogs"  # a CloudWatch Logs delivery that cannot be decoded
MALFORMED_HMA_RECORD = "malformed:hma_record"  # one HMA detection record that cannot be read


def malformed(detail_type: str) -> str:
    """Rejection reason for a known detail-type (bounded: unknown detail-types are ignored)."""
    return f"malformed:{detail_type}"


@dataclass(frozen=True)
class Ignored:
    reason: IgnoreReason
    subject: str = ""  # what was ignored, for the log line: an entity, a status, an alarm name


@dataclass(frozen=True)
class Rejected:
    reason: str  # MALFORMED_ENVELOPE, MALFORMED_LOGS, MALFORMED_HMA_RECORD or malformed(<detail-type>)
    message: str  # short, human: the first validation errors, never the event itself


@dataclass(frozen=True)
class Disposition:
    """What one rule makes of a parsed event (`Intake` is the whole event's result, envelope included)."""

    faults: list[NodeFault] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)  # parts (log records) that were unreadable


def ignore(reason: IgnoreReason, subject: str = "") -> Disposition:
    return Disposition(ignored=[Ignored(reason, subject[:200])])


@dataclass(frozen=True)
class Intake:
    """The typed result of `normalise`: never raises, always one of these."""

    event_id: str
    source: str
    detail_type: str
    faults: list[NodeFault] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    rejected: Rejected | None = None  # the whole event
    rejected_parts: list[Rejected] = field(default_factory=list)  # some of its records
    subject: str = ""  # where it came from, for the log line (a log group and stream)
    dropped: list[DroppedField] = field(default_factory=list)  # unusable optional fields left out
