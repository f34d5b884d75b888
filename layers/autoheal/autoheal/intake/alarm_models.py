"""Parser models for CloudWatch alarm events (`CloudWatch Alarm State Change`,
`CloudWatch Alarm Contributor State Change`), with their `muteDetail` block.

Part of intake's models (`autoheal.intake.models` has the envelope and the other triggers), kept apart to
keep each module small. Lenient like the others: unknown fields are ignored, and an unknown entry in a
dimension or attribute map is skipped.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

from autoheal.intake.lenient import StringMap
from autoheal.intake.models import _CamelDetail, _Envelope


def _json_object(value: object) -> object:
    """CloudWatch's reasonData is a JSON-encoded string; nothing depends on it, so bad JSON is None."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return None
        return decoded if isinstance(decoded, dict) else None
    return value


def _text_or_none(value: object) -> object:
    """Mute details are only logged: any scalar is kept as text, anything else dropped."""
    if value is None or isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float | bool) else None


def _mute_block(value: object) -> object:
    """`muteDetail` as an object; a block of another JSON type that is not empty still says "muted"."""
    if isinstance(value, dict) or not value:
        return value or None
    return {"unreadable": str(value)[:200]}


LenientText = Annotated[str | None, BeforeValidator(_text_or_none)]


class MuteDetail(BaseModel):
    """`detail.muteDetail`: an alarm mute rule mutes this alarm's actions (CloudWatch alarm mute rules).

    CloudWatch's alarm state change examples carry it (mutedByArn, muteWindowStart, muteWindowEnd:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html). While
    a mute rule is active the alarm still evaluates and changes state, but its actions are muted
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-mute-rules.html), and muting a
    Metrics Insights alarm mutes all its contributors
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-mute-rules-behaviour.html).
    Every field is optional and unknown ones are kept, so any non-empty block counts as "muted".
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow")

    muted_by_arn: LenientText = None
    mute_window_start: LenientText = None
    mute_window_end: LenientText = None

    @property
    def muted(self) -> bool:
        return bool(self.model_fields_set or self.model_extra)

    @property
    def summary(self) -> str:
        """For the log line: which rule, until when."""
        until = f" until {self.mute_window_end}" if self.mute_window_end else ""
        return f"muted by {self.muted_by_arn or 'a mute rule'}{until}"


OptionalMuteDetail = Annotated[MuteDetail | None, BeforeValidator(_mute_block)]


# ---------------------------------------------------------------- CloudWatch alarms

#: A Metrics Insights query with GROUP BY: one alarm over many time series (a multi-time-series alarm).
_GROUPED_QUERY = re.compile(r"^\s*SELECT\b.*\bGROUP\s+BY\b", re.IGNORECASE | re.DOTALL)


class AlarmState(_CamelDetail):
    value: str
    reason: str = ""
    reason_data: Annotated[dict[str, Any] | None, BeforeValidator(_json_object)] = None
    timestamp: str | None = None


class MetricIdentity(_CamelDetail):
    namespace: str = ""
    name: str = ""
    dimensions: StringMap = Field(default_factory=dict)


class MetricStat(_CamelDetail):
    metric: MetricIdentity


class AlarmMetric(_CamelDetail):
    id: str = ""
    metric_stat: MetricStat | None = None
    expression: str | None = None


class AlarmConfiguration(_CamelDetail):
    description: str | None = None
    metrics: list[AlarmMetric] = Field(default_factory=list)

    @property
    def multi_time_series(self) -> bool:
        """A Metrics Insights alarm with GROUP BY: each contributor sends its own state change."""
        return any(m.expression and _GROUPED_QUERY.match(m.expression) for m in self.metrics)


class AlarmDetail(_CamelDetail):
    alarm_name: str = Field(min_length=1, max_length=255)
    state: AlarmState
    previous_state: AlarmState | None = None
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    mute_detail: OptionalMuteDetail = None

    def dimension_values(self, name: str) -> list[str]:
        """Distinct values of one metric dimension across the alarm's metrics, in order."""
        values = (
            m.metric_stat.metric.dimensions.get(name) for m in self.configuration.metrics if m.metric_stat
        )
        return list(dict.fromkeys(v for v in values if v))


class AlarmStateChange(_Envelope):
    detail: AlarmDetail


class AlarmContributor(_CamelDetail):
    """One time series of a Metrics Insights multi-time-series alarm: its GROUP BY dimensions."""

    id: str = Field(min_length=1, max_length=1024)
    attributes: StringMap = Field(default_factory=dict)


class AlarmContributorDetail(_CamelDetail):
    """`CloudWatch Alarm Contributor State Change`: one contributor's state (no previousState)."""

    alarm_name: str = Field(min_length=1, max_length=255)
    alarm_contributor: AlarmContributor
    state: AlarmState
    configuration: AlarmConfiguration = Field(default_factory=AlarmConfiguration)
    mute_detail: OptionalMuteDetail = None


class AlarmContributorStateChange(_Envelope):
    detail: AlarmContributorDetail
