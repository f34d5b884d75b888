"""How template.yaml triggers each function, as numbers a local runtime can keep to.

`trigger_settings` reads, with the deployment's parameters (the template's defaults unless given), the
fault queue's event source (``BatchSize``, ``MaximumBatchingWindowInSeconds``) and reconcile's
``Schedule`` (a ``rate()`` expression, in seconds). `BatchGate` is the SQS poller's rule: invoke when a
full batch is waiting, or when the batching window has run since the first message was seen
(the parameters and their defaults, BatchSize 10 and no window:
https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html).
`Schedule` is an EventBridge rate schedule on the local clock (``rate(value unit)``, the unit singular
for 1 and plural above: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rate-expressions.html).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.template import RECONCILE_FUNCTION, REMEDIATE_FUNCTION, load_template

#: SAM's event keys in template.yaml: remediate's SQS event source and reconcile's schedule.
FAULTS_EVENT = "Faults"
SCHEDULE_EVENT = "Schedule"

_BATCHING = ("BatchSize", "MaximumBatchingWindowInSeconds")
_RATE = re.compile(r"^rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class TriggerSettings:
    batch_size: int
    batching_window_seconds: float
    reconcile_every_seconds: float


def rate_seconds(expression: str) -> float:
    """``rate(2 minutes)`` -> 120.0; anything else (a cron expression, say) raises ValueError."""
    match = _RATE.fullmatch(expression.strip())
    if match is None or (match["value"] == "1") == match["unit"].endswith("s"):
        raise ValueError(f"not a rate() schedule expression: {expression!r}")
    return float(int(match["value"]) * _UNIT_SECONDS[match["unit"].rstrip("s")])


def _event_properties(template: Mapping[str, Any], function: str, event: str) -> Mapping[str, Any]:
    properties: Mapping[str, Any] = template["Resources"][function]["Properties"]["Events"][event][
        "Properties"
    ]
    return properties


def trigger_settings(
    parameters: Mapping[str, str] | None = None, template: Mapping[str, Any] | None = None
) -> TriggerSettings:
    template = template if template is not None else load_template()
    resolver = Resolver(template, parameters=dict(parameters or {}))
    source = _event_properties(template, REMEDIATE_FUNCTION, FAULTS_EVENT)
    faults = {key: resolver.resolve(source[key]) for key in _BATCHING if key in source}
    schedule = resolver.resolve(_event_properties(template, RECONCILE_FUNCTION, SCHEDULE_EVENT)["Schedule"])
    return TriggerSettings(
        batch_size=int(faults.get("BatchSize", 10)),
        batching_window_seconds=float(faults.get("MaximumBatchingWindowInSeconds", 0)),
        reconcile_every_seconds=rate_seconds(str(schedule)),
    )


class BatchGate:
    """When the SQS poller would invoke remediate: `ready(waiting, now)` with the messages visible now."""

    def __init__(self, batch_size: int, window_seconds: float) -> None:
        self.batch_size = batch_size
        self._window = timedelta(seconds=window_seconds)
        self._first_seen: datetime | None = None

    def ready(self, waiting: int, now: datetime) -> bool:
        if waiting <= 0:
            self._first_seen = None
            return False
        if self._first_seen is None:
            self._first_seen = now
        if waiting >= self.batch_size or now - self._first_seen >= self._window:
            self._first_seen = None
            return True
        return False


class Schedule:
    """A rate schedule: `due(now)` is true once per period (the first period ends `every` after `start`)."""

    def __init__(self, every_seconds: float, start: datetime) -> None:
        self._every = timedelta(seconds=every_seconds)
        self._next = start + self._every

    def due(self, now: datetime) -> bool:
        if now < self._next:
            return False
        while self._next <= now:  # a slow turn skips the ticks it missed, as EventBridge's retries expire
            self._next += self._every
        return True
