"""The adaptive ladder (issue 17 §2), pure: per (signal, action) success rates over a sliding window,
and the rule that moves a signal's first rung from reboot to replace when reboots rarely fix it.

Counts come from one bounded aggregate per signal, per-day counters named `<yyyy-mm-dd>#<action>#n`
(attempts whose outcome is known) and `<yyyy-mm-dd>#<action>#ok` (successes: healthy with no recurrence
within the escalation window); a store adds to them atomically (DynamoDB `UpdateItem ADD`) and trims
days older than the window. Here they are only read. Deterministic and explainable: the rule a decision
records names the rate and the sample count it used.

Only a first rung chosen by the table or the default adapts; an operator's override and HMA's or
HyperPod's explicit verdict are kept. Cold start (too few samples) = the static table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from autoheal.signals import FirstRung, Rung

ATTEMPTS = "n"
SUCCESSES = "ok"


class Adaptive(BaseModel):
    """`enabled` off by default; a signal whose reboots succeeded less than `threshold` (0..1) of
    at least `min_samples` times within `window` starts at replace."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = False
    threshold: float = Field(default=0.2, ge=0, le=1)
    min_samples: int = Field(default=20, ge=1)
    window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Rate:
    samples: int
    successes: int

    @property
    def value(self) -> float:
        return self.successes / self.samples if self.samples else 0.0

    def text(self) -> str:
        return f"{self.successes}/{self.samples} = {self.value:.0%}"


def counter(day: date, action: str, kind: str) -> str:
    """The attribute name of one day's counter: `2026-12-01#reboot#n`."""
    return f"{day.isoformat()}#{action}#{kind}"


def rate(counters: Mapping[str, int], action: str, now: datetime, window: timedelta) -> Rate:
    """The action's success rate over the days within `window` before `now` (today included)."""
    first = (now - window).date()
    samples = successes = 0
    for name, value in counters.items():
        day, _, rest = name.partition("#")
        act, _, kind = rest.partition("#")
        try:
            when = date.fromisoformat(day)
        except ValueError:
            continue  # not a counter (a key, a timestamp)
        if act != action or when < first or when > now.date():
            continue
        if kind == ATTEMPTS:
            samples += int(value)
        elif kind == SUCCESSES:
            successes += int(value)
    return Rate(samples, min(successes, samples))


def adapt(
    first: FirstRung,
    signal: str,
    counters: Mapping[str, int] | None,
    policy: Adaptive,
    now: datetime,
) -> FirstRung:
    """The first rung after the adaptive rule: replace when the signal's reboots rarely work."""
    if not policy.enabled or first.rung is not Rung.REBOOT or first.kind not in ("table", "default"):
        return first
    reboot = rate(counters or {}, "reboot", now, policy.window)
    if reboot.samples < policy.min_samples or reboot.value >= policy.threshold:
        return first
    days = policy.window.days
    rule = (
        f"adaptive: {signal} reboot success {reboot.text()} < {policy.threshold:.0%} "
        f"over {days} days (≥ {policy.min_samples} samples) → replace"
    )
    return FirstRung(Rung.REPLACE, rule, kind="adaptive")
