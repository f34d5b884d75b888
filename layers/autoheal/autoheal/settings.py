"""Settings: read once from the environment into a validated model, cached by its inputs.

Nothing reads `os.environ` at import time, and logic never reads it at all: handlers call
`load_settings()` and pass the model (or parts of it) down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoheal.policy import Action, Budget, RemediationPolicy, Step

ENV_PREFIX = "AUTOHEAL_"


class SettingsError(ValueError):
    """The environment does not describe a valid configuration (raised at cold start)."""


class Settings(BaseModel):
    """Everything the functions need to know about their deployment.

    Environment variables (all prefixed `AUTOHEAL_`):

    | variable | meaning | default |
    |---|---|---|
    | TABLE_NAME | the ledger table | required by remediate |
    | QUEUE_URL | the fault queue intake writes to | required by intake |
    | TOPIC_ARN | SNS topic for needs-human notifications | empty: no notification |
    | REBOOT_TIMEOUT_MINUTES | how long a reboot may take | 30 |
    | REPLACE_TIMEOUT_MINUTES | how long a replace may take | 45 |
    | ESCALATION_WINDOW_MINUTES | a new fault within this time after an action climbs the ladder | 360 |
    | REPLACE_BUDGET | replaces per node within the budget window, then a human | 2 |
    | REPLACE_BUDGET_WINDOW_HOURS | the replace budget's sliding window | 168 |
    | MAX_TRANSIENT_RETRIES | retries of one step after transient failures, then a human | 3 |
    | RETRY_BACKOFF_SECONDS | first delay before a transient failure is retried (doubles per retry) | 30 |
    | HEALTHY_DELAY_MINUTES | Running this long after an action, with no new fault, means it worked | 5 |
    | REDRIVE_AFTER_MINUTES | reconcile re-drives a retry this long overdue | 10 |
    | CAPACITY_COOLDOWN_MINUTES | no replace in a group this long after it ran out of capacity | 60 |
    | ALARM_NODE_DIMENSION | alarm metric dimension that names the instance | InstanceId |
    | ALARM_CLUSTER_DIMENSION | alarm metric dimension that names the cluster | ClusterName |
    """

    model_config = ConfigDict(frozen=True)

    table_name: str = ""
    queue_url: str = ""
    topic_arn: str = ""
    reboot_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    replace_timeout_minutes: int = Field(default=45, ge=1, le=24 * 60)
    escalation_window_minutes: int = Field(default=360, ge=1, le=30 * 24 * 60)
    replace_budget: int = Field(default=2, ge=0, le=100)
    replace_budget_window_hours: int = Field(default=168, ge=1, le=90 * 24)
    max_transient_retries: int = Field(default=3, ge=0, le=100)
    retry_backoff_seconds: int = Field(default=30, ge=0, le=900)
    healthy_delay_minutes: int = Field(default=5, ge=0, le=24 * 60)
    redrive_after_minutes: int = Field(default=10, ge=1, le=24 * 60)
    capacity_cooldown_minutes: int = Field(default=60, ge=0, le=7 * 24 * 60)
    alarm_node_dimension: str = "InstanceId"
    alarm_cluster_dimension: str = "ClusterName"

    @property
    def policy(self) -> RemediationPolicy:
        return _policy(
            self.reboot_timeout_minutes,
            self.replace_timeout_minutes,
            self.escalation_window_minutes,
            self.replace_budget,
            self.replace_budget_window_hours,
            self.max_transient_retries,
            self.retry_backoff_seconds,
            self.healthy_delay_minutes,
            self.redrive_after_minutes,
            self.capacity_cooldown_minutes,
        )

    def require(self, *names: str) -> Settings:
        """Fail at cold start when a function's required setting is missing."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise SettingsError(f"missing required environment: {env}")
        return self


@lru_cache(maxsize=8)
def _policy(
    reboot_timeout: int,
    replace_timeout: int,
    escalation_window: int,
    replace_budget: int,
    replace_budget_window: int,
    max_transient_retries: int,
    retry_backoff_seconds: int,
    healthy_delay: int,
    redrive_after: int,
    capacity_cooldown: int,
) -> RemediationPolicy:
    return RemediationPolicy(
        ladder=(
            Step(action=Action.REBOOT, timeout=timedelta(minutes=reboot_timeout)),
            Step(action=Action.REPLACE, timeout=timedelta(minutes=replace_timeout)),
        ),
        escalation_window=timedelta(minutes=escalation_window),
        budgets={
            Action.REPLACE: Budget(max_actions=replace_budget, window=timedelta(hours=replace_budget_window))
        },
        max_transient_retries=max_transient_retries,
        retry_backoff=timedelta(seconds=retry_backoff_seconds),
        healthy_delay=timedelta(minutes=healthy_delay),
        redrive_after=timedelta(minutes=redrive_after),
        capacity_cooldown=timedelta(minutes=capacity_cooldown),
    )


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (default: the process environment), validated and cached."""
    env = os.environ if environ is None else environ
    items = tuple(sorted((k, v) for k, v in env.items() if k.startswith(ENV_PREFIX)))
    return _load(items)


@lru_cache(maxsize=16)
def _load(items: tuple[tuple[str, str], ...]) -> Settings:
    values = {k[len(ENV_PREFIX) :].lower(): v for k, v in items}
    known = {k: v for k, v in values.items() if k in Settings.model_fields}
    try:
        return Settings.model_validate(known)
    except ValidationError as exc:
        raise SettingsError(f"invalid {ENV_PREFIX}* environment: {exc}") from exc
