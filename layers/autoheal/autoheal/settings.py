"""Settings: read once from the environment into a validated model, cached by its inputs.

Nothing reads `os.environ` at import time, and logic never reads it at all: handlers call
`load_settings()` and pass the model (or parts of it) down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autoheal.alerts.steps import NotifyStep, parse_steps
from autoheal.signals import Rung, parse_overrides

if TYPE_CHECKING:
    from autoheal.policy import RemediationPolicy

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
    | HOLD_CEILING_HOURS | a fault held this long goes to a human instead of being acted on | 24 |
    | BREAKER_WINDOW_MINUTES | circuit breaker: the sliding window nodes under remediation are counted in | 30 |
    | BREAKER_GROUP_MAX_NODES / BREAKER_GROUP_MAX_PERCENT | most nodes of one instance group under remediation | 25 / 20 |
    | BREAKER_CLUSTER_MAX_NODES / BREAKER_CLUSTER_MAX_PERCENT | most nodes of one cluster under remediation | 50 / 20 |
    | FLEET_BREAKER_CLUSTERS | fleet breaker: this many clusters with a tripped breaker stop every action (0: off) | 3 |
    | FLEET_BREAKER_PERCENT | fleet breaker: more than this % of the fleet's nodes under remediation stops every action (0: off) | 10 |
    | FLEET_SIZE_TTL_MINUTES | fleet breaker: how long a count of the fleet's nodes is reused | 10 |
    | CLUSTER_TAGS_TTL_SECONDS | how long a warm remediate reuses a cluster's tags (ListTags; 0: read every invocation) | 60 |
    | NODE_COOLDOWN_MINUTES | no new action on a node within this time of its last | 30 |
    | NODE_ACTION_BUDGET / NODE_ACTION_BUDGET_WINDOW_HOURS | actions of any kind per node per window, then a human | 5 / 168 |
    | PROTECTED_NODE_TYPES | Slurm node types never replaced (comma list) | Controller,Login |
    | ALLOWED_GROUPS / DENIED_GROUPS | instance groups to act on / never act on (comma lists; empty allow = all) | empty |
    | OPT_OUT_TAG | a cluster tagged with this key = "true" is left alone | hyperpod-autoheal:opt-out |
    | DEFER_TO_HYPERPOD | leave faults HyperPod is already repairing (NodeRecovery Automatic) | true |
    | MAX_EVENT_AGE_MINUTES | older events cause no action | 60 |
    | DRY_RUN | decide and record everything, call nothing mutating | false |
    | RETIRE_AND_RESTORE | a lemon is retired (BatchDeleteClusterNodes) and its group restored (BatchAddClusterNodes), Continuous clusters only | false |
    | RESTORE_DEADLINE_MINUTES | a restored node not Running this long after the add goes to a human | 120 |
    | ALARM_NAME_PREFIX | only alarms whose name starts with this are faults (empty: every alarm, an opt-in) | autoheal: |
    | OPERATIONAL_ALARM_PREFIX | the stack's own alarms' name prefix (`<stack>-`): never faults | empty |
    | ALARM_NODE_DIMENSION | alarm metric dimension that names the instance | InstanceId |
    | ALARM_CLUSTER_DIMENSION | alarm metric dimension that names the cluster | ClusterName |
    | ADAPTIVE_LADDER | a signal whose reboots rarely work starts at replace (`autoheal.core.adaptive`) | false |
    | ADAPTIVE_REBOOT_SUCCESS_THRESHOLD | adaptive ladder: reboot success rate (percent) below which a signal starts at replace | 20 |
    | ADAPTIVE_MIN_SAMPLES | adaptive ladder: reboots with a known outcome needed before the rate counts | 20 |
    | ADAPTIVE_WINDOW_DAYS | adaptive ladder: the sliding window of the success rates (days) | 30 |
    | SIGNAL_FIRST_RUNG | overrides of the signal table: `SIGNAL=RUNG` comma list (RUNG: none, reboot, replace) | empty |
    | HMA_IGNORED_XIDS | Xid numbers HMA log records may report that are the application's, not the node's (comma list) | 13,31,43,45,94 |
    | APPROVAL_REQUIRED_FOR | actions that wait for a person's yes (comma list of reboot, replace, retire, restore) | empty |
    | APPROVAL_TIMEOUT_MINUTES | how long a pending approval waits for a decision | 60 |
    | APPROVAL_DEFAULT | what the deadline decides: deny (a human) or approve (the action proceeds) | deny |
    | APPROVAL_AUTO_APPROVE_RULES | decisions whose rule starts with one of these need no approval (comma list) | empty |
    | CANARY_WAVES | a correlated fault acts on one canary, the rest in waves gated on its health (`autoheal.core.canary`) | true |
    | CANARY_MIN_NODES | canary waves: nodes of a group with the same signal within the window that make a correlated fault | 5 |
    | CANARY_WINDOW_MINUTES | canary waves: the window those nodes are counted in | 10 |
    | CANARY_WAVE_GROWTH | canary waves: wave n after the canary releases GROWTH**n nodes | 2 |
    | CANARY_VERIFY_MINUTES | canary waves: a wave not verified healthy this long after its release stops the episode | 60 |
    | EVIDENCE_BUCKET | S3 bucket evidence bundles are written to (empty: no capture) | empty |
    | EVIDENCE_CAPTURE | capture a bundle per node before replace and retire (docs/evidence.md) | true |
    | EVIDENCE_REQUIRED | a node whose bundle could not be written is held, not acted on | false |
    | EVIDENCE_LOG_WINDOW_MINUTES | how far back a bundle reads the node's log streams | 120 |
    | EVIDENCE_MAX_BYTES | size cap of one node's bundle (logs are cut first) | 5000000 |
    | EVIDENCE_TIME_BUDGET_SECONDS | time budget of one node's capture | 20 |
    | CHAT_TOPIC_ARN | SNS topic for Amazon Q Developer in chat applications custom notifications | empty: none |
    | NOTIFY_STEPS | which notifications are sent: started, healed, stuck, human (comma list) | human,stuck |
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
    hold_ceiling_hours: int = Field(default=24, ge=1, le=30 * 24)
    breaker_window_minutes: int = Field(default=30, ge=1, le=24 * 60)
    breaker_group_max_nodes: int = Field(default=25, ge=1, le=10_000)
    breaker_group_max_percent: float = Field(default=20.0, gt=0, le=100)
    breaker_cluster_max_nodes: int = Field(default=50, ge=1, le=10_000)
    breaker_cluster_max_percent: float = Field(default=20.0, gt=0, le=100)
    fleet_breaker_clusters: int = Field(default=3, ge=0, le=1000)
    fleet_breaker_percent: float = Field(default=10.0, ge=0, le=100)
    fleet_size_ttl_minutes: int = Field(default=10, ge=1, le=24 * 60)
    cluster_tags_ttl_seconds: int = Field(default=60, ge=0, le=900)
    node_cooldown_minutes: int = Field(default=30, ge=0, le=24 * 60)
    node_action_budget: int = Field(default=5, ge=1, le=100)
    node_action_budget_window_hours: int = Field(default=168, ge=1, le=90 * 24)
    protected_node_types: str = "Controller,Login"
    allowed_groups: str = ""
    denied_groups: str = ""
    opt_out_tag: str = Field(default="hyperpod-autoheal:opt-out", min_length=1, max_length=128)
    defer_to_hyperpod: bool = True
    max_event_age_minutes: int = Field(default=60, ge=1, le=30 * 24 * 60)
    dry_run: bool = False
    retire_and_restore: bool = False
    restore_deadline_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    alarm_name_prefix: str = Field(default="autoheal:", max_length=255)
    operational_alarm_prefix: str = Field(default="", max_length=255)
    alarm_node_dimension: str = "InstanceId"
    alarm_cluster_dimension: str = "ClusterName"
    hma_ignored_xids: str = Field(default="13,31,43,45,94", pattern=r"^$|^[0-9]{1,3}(,[0-9]{1,3})*$")
    signal_first_rung: str = Field(default="", max_length=4096)
    adaptive_ladder: bool = False
    adaptive_reboot_success_threshold: float = Field(default=20.0, ge=0, le=100)
    adaptive_min_samples: int = Field(default=20, ge=1, le=100_000)
    adaptive_window_days: int = Field(default=30, ge=1, le=365)
    approval_required_for: str = Field(
        default="", pattern=r"^$|^(reboot|replace|retire|restore)(,(reboot|replace|retire|restore))*$"
    )
    approval_timeout_minutes: int = Field(default=60, ge=5, le=10080)
    approval_default: Literal["deny", "approve"] = "deny"
    approval_auto_approve_rules: str = Field(default="", max_length=4096)
    canary_waves: bool = True
    canary_min_nodes: int = Field(default=5, ge=2, le=100_000)
    canary_window_minutes: int = Field(default=10, ge=1, le=24 * 60)
    canary_wave_growth: int = Field(default=2, ge=2, le=100)
    canary_verify_minutes: int = Field(default=60, ge=5, le=7 * 24 * 60)
    evidence_bucket: str = Field(default="", max_length=63)
    evidence_capture: bool = True
    evidence_required: bool = False
    evidence_log_window_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    evidence_max_bytes: int = Field(default=5_000_000, ge=10_000, le=100_000_000)
    evidence_time_budget_seconds: float = Field(default=20, ge=1, le=120)
    chat_topic_arn: str = ""
    notify_steps: str = Field(default="human,stuck", max_length=256)

    @field_validator("notify_steps")
    @classmethod
    def _valid_steps(cls, value: str) -> str:
        parse_steps(value)  # a clear ValueError naming the bad step, at cold start
        return value

    @property
    def steps(self) -> frozenset[NotifyStep]:
        """`notify_steps` as the steps told."""
        return parse_steps(self.notify_steps)

    @field_validator("signal_first_rung")
    @classmethod
    def _valid_first_rungs(cls, value: str) -> str:
        parse_overrides(value.split(","))  # a clear ValueError naming the bad entry, at cold start
        return value

    @property
    def first_rungs(self) -> dict[str, Rung]:
        """`signal_first_rung` as signal -> rung."""
        return parse_overrides(self.signal_first_rung.split(","))

    @property
    def ignored_xids(self) -> frozenset[int]:
        """`hma_ignored_xids` as numbers."""
        return frozenset(int(part) for part in self.hma_ignored_xids.split(",") if part)

    @property
    def policy(self) -> RemediationPolicy:
        return _policy(self)

    def require(self, *names: str) -> Settings:
        """Fail at cold start when a function's required setting is missing."""
        missing = [n for n in names if not getattr(self, n)]
        if missing:
            env = ", ".join(ENV_PREFIX + n.upper() for n in missing)
            raise SettingsError(f"missing required environment: {env}")
        return self


def _names(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


@lru_cache(maxsize=8)
def _policy(s: Settings) -> RemediationPolicy:
    # Imported here: the policy model and its parts are remediate's and reconcile's; intake, which reads
    # settings too, never builds a policy and so never imports them (its cold start).
    from autoheal.core.adaptive import Adaptive
    from autoheal.core.approvals import ApprovalGate
    from autoheal.core.canary import Canary
    from autoheal.core.fleet import FleetBreaker
    from autoheal.policy import Action, Breaker, Budget, Guards, RemediationPolicy, Step

    return RemediationPolicy(
        ladder=RemediationPolicy.with_retire(
            (
                Step(action=Action.REBOOT, timeout=timedelta(minutes=s.reboot_timeout_minutes)),
                Step(action=Action.REPLACE, timeout=timedelta(minutes=s.replace_timeout_minutes)),
            ),
            s.retire_and_restore,
            timedelta(minutes=s.restore_deadline_minutes),
        ),
        retire_and_restore=s.retire_and_restore,
        restore_deadline=timedelta(minutes=s.restore_deadline_minutes),
        escalation_window=timedelta(minutes=s.escalation_window_minutes),
        budgets={
            Action.REPLACE: Budget(
                max_actions=s.replace_budget, window=timedelta(hours=s.replace_budget_window_hours)
            )
        },
        max_transient_retries=s.max_transient_retries,
        retry_backoff=timedelta(seconds=s.retry_backoff_seconds),
        healthy_delay=timedelta(minutes=s.healthy_delay_minutes),
        redrive_after=timedelta(minutes=s.redrive_after_minutes),
        capacity_cooldown=timedelta(minutes=s.capacity_cooldown_minutes),
        hold_ceiling=timedelta(hours=s.hold_ceiling_hours),
        signal_first_rung=s.first_rungs,
        adaptive=Adaptive(
            enabled=s.adaptive_ladder,
            threshold=s.adaptive_reboot_success_threshold / 100,
            min_samples=s.adaptive_min_samples,
            window=timedelta(days=s.adaptive_window_days),
        ),
        approvals=ApprovalGate(
            required_for=_names(s.approval_required_for),
            timeout=timedelta(minutes=s.approval_timeout_minutes),
            default_approve=s.approval_default == "approve",
            auto_approve_rules=tuple(sorted(_names(s.approval_auto_approve_rules))),
            ceiling=timedelta(hours=s.hold_ceiling_hours),
        ),
        canary=Canary(
            enabled=s.canary_waves,
            min_nodes=s.canary_min_nodes,
            window=timedelta(minutes=s.canary_window_minutes),
            growth=s.canary_wave_growth,
            verify_timeout=timedelta(minutes=s.canary_verify_minutes),
        ),
        guards=Guards(
            breaker=Breaker(
                window=timedelta(minutes=s.breaker_window_minutes),
                group_max_nodes=s.breaker_group_max_nodes,
                group_max_percent=s.breaker_group_max_percent,
                cluster_max_nodes=s.breaker_cluster_max_nodes,
                cluster_max_percent=s.breaker_cluster_max_percent,
            ),
            fleet_breaker=FleetBreaker(
                clusters=s.fleet_breaker_clusters,
                percent=s.fleet_breaker_percent,
                size_ttl=timedelta(minutes=s.fleet_size_ttl_minutes),
            ),
            node_cooldown=timedelta(minutes=s.node_cooldown_minutes),
            node_budget=Budget(
                max_actions=s.node_action_budget, window=timedelta(hours=s.node_action_budget_window_hours)
            ),
            protected_node_types=_names(s.protected_node_types),
            allowed_groups=_names(s.allowed_groups),
            denied_groups=_names(s.denied_groups),
            opt_out_tag=s.opt_out_tag,
            defer_to_hyperpod=s.defer_to_hyperpod,
            max_event_age=timedelta(minutes=s.max_event_age_minutes),
            dry_run=s.dry_run,
        ),
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
