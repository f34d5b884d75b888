"""`muteDetail` of CloudWatch alarm events: whether an alarm mute rule mutes the alarm's actions.

Part of the alarm event models (`autoheal.intake.models`), kept apart to keep that module small.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel


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
