"""Field types intake's models share: AWS's timestamps as UTC, optional ids, lenient enums.

Kept apart from `models` so the models stay one screen per trigger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, Field

from autoheal.faults import ClusterArn, ClusterName, InstanceId, NodeLogicalId, RepairAction


def _blank_to_none(value: object) -> object:
    """Optional ids sometimes arrive as "" - treat that as absent, not as a bad id."""
    return None if isinstance(value, str) and not value.strip() else value


def _as_utc(value: datetime) -> datetime:
    """Naive timestamps are taken as UTC (AWS sends UTC); aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _epoch_millis(value: object) -> object:
    """HyperPod's EventTime is epoch milliseconds in EventBridge (ISO strings also accepted)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool):
        raise ValueError("EventTime must be epoch milliseconds, not a boolean")
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise ValueError(f"EventTime out of range: {value!r}") from exc
    return value


def _rfc1123(value: object) -> object:
    """AWS Health times are RFC-1123 strings ("Fri, 3 Jun 2022 05:01:10 GMT"); ISO also accepted."""
    if isinstance(value, str):
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value  # let pydantic try ISO-8601, and report it if that fails too
    return value


def _repair_action(value: object) -> object:
    if not isinstance(value, str):
        return value
    by_name = {member.value.lower(): member for member in RepairAction}
    return by_name.get(value.strip().lower(), RepairAction.UNKNOWN)


#: An AWS timestamp, naive taken as UTC. Not `faults.UtcDatetime`, which refuses naive times in our own
#: models (a queued `NodeFault` always carries its offset).
AssumedUtc = Annotated[datetime, AfterValidator(_as_utc)]
EpochMillis = Annotated[datetime, BeforeValidator(_epoch_millis), AfterValidator(_as_utc)]
Rfc1123 = Annotated[datetime, BeforeValidator(_rfc1123), AfterValidator(_as_utc)]
OptionalInstanceId = Annotated[InstanceId | None, BeforeValidator(_blank_to_none)]
OptionalLogicalId = Annotated[NodeLogicalId | None, BeforeValidator(_blank_to_none)]
OptionalClusterName = Annotated[ClusterName | None, BeforeValidator(_blank_to_none)]
OptionalClusterArn = Annotated[ClusterArn | None, BeforeValidator(_blank_to_none)]
GroupName = Annotated[str | None, Field(max_length=63)]
LenientRepairAction = Annotated[RepairAction | None, BeforeValidator(_repair_action)]
PageNumber = Annotated[int, Field(ge=1)]


def case_insensitive(enum: type[StrEnum], unknown: StrEnum | None = None) -> BeforeValidator:
    """Read an enum whatever its case; with `unknown`, any other value (or none) is that member."""

    def pick(value: object) -> object:
        wanted = value.strip().lower() if isinstance(value, str) else None
        found = next((m for m in enum if m.value.lower() == wanted), None)
        return found or (unknown if unknown is not None else value)

    return BeforeValidator(pick)
