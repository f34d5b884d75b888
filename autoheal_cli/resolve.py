"""Which table, queue and topic a command talks to, and the settings the deployed functions run with.

Precedence, per value: an explicit flag (`--table`, `--queue-url`), then the stack's CloudFormation
Outputs (`--stack`: LedgerTableName, FaultQueueUrl, NeedsHumanTopicArn), then the environment
(AUTOHEAL_TABLE_NAME, AUTOHEAL_QUEUE_URL, AUTOHEAL_TOPIC_ARN, the same variables the functions read).
The remediation policy and alarm dimensions come from the environment's AUTOHEAL_* variables,
overridden by the stack's Parameters when `--stack` is given, so that `plan` decides as the deployed
remediate function would.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from autoheal.settings import ENV_PREFIX, Settings, SettingsError, load_settings
from autoheal_cli.errors import CliError

OUTPUT_TABLE = "LedgerTableName"
OUTPUT_QUEUE = "FaultQueueUrl"
OUTPUT_TOPIC = "NeedsHumanTopicArn"

ENV_TABLE = "AUTOHEAL_TABLE_NAME"
ENV_QUEUE = "AUTOHEAL_QUEUE_URL"
ENV_TOPIC = "AUTOHEAL_TOPIC_ARN"

#: template.yaml Parameters -> the function environment variable each one sets (a test keeps them in step).
PARAMETER_ENV: Mapping[str, str] = {
    "RebootTimeoutMinutes": "AUTOHEAL_REBOOT_TIMEOUT_MINUTES",
    "ReplaceTimeoutMinutes": "AUTOHEAL_REPLACE_TIMEOUT_MINUTES",
    "EscalationWindowMinutes": "AUTOHEAL_ESCALATION_WINDOW_MINUTES",
    "ReplaceBudget": "AUTOHEAL_REPLACE_BUDGET",
    "ReplaceBudgetWindowHours": "AUTOHEAL_REPLACE_BUDGET_WINDOW_HOURS",
    "MaxTransientRetries": "AUTOHEAL_MAX_TRANSIENT_RETRIES",
    "RetryBackoffSeconds": "AUTOHEAL_RETRY_BACKOFF_SECONDS",
    "HealthyDelayMinutes": "AUTOHEAL_HEALTHY_DELAY_MINUTES",
    "RedriveAfterMinutes": "AUTOHEAL_REDRIVE_AFTER_MINUTES",
    "CapacityCooldownMinutes": "AUTOHEAL_CAPACITY_COOLDOWN_MINUTES",
    "HoldCeilingHours": "AUTOHEAL_HOLD_CEILING_HOURS",
    "DryRun": "AUTOHEAL_DRY_RUN",
    "RetireAndRestore": "AUTOHEAL_RETIRE_AND_RESTORE",
    "RestoreDeadlineMinutes": "AUTOHEAL_RESTORE_DEADLINE_MINUTES",
    "AdaptiveLadder": "AUTOHEAL_ADAPTIVE_LADDER",
    "AdaptiveRebootSuccessThreshold": "AUTOHEAL_ADAPTIVE_REBOOT_SUCCESS_THRESHOLD",
    "AdaptiveMinSamples": "AUTOHEAL_ADAPTIVE_MIN_SAMPLES",
    "AdaptiveWindowDays": "AUTOHEAL_ADAPTIVE_WINDOW_DAYS",
    "CanaryWaves": "AUTOHEAL_CANARY_WAVES",
    "CanaryMinNodes": "AUTOHEAL_CANARY_MIN_NODES",
    "CanaryWindowMinutes": "AUTOHEAL_CANARY_WINDOW_MINUTES",
    "CanaryWaveGrowth": "AUTOHEAL_CANARY_WAVE_GROWTH",
    "CanaryVerifyMinutes": "AUTOHEAL_CANARY_VERIFY_MINUTES",
    "BreakerWindowMinutes": "AUTOHEAL_BREAKER_WINDOW_MINUTES",
    "BreakerGroupMaxNodes": "AUTOHEAL_BREAKER_GROUP_MAX_NODES",
    "BreakerGroupMaxPercent": "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT",
    "BreakerClusterMaxNodes": "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES",
    "BreakerClusterMaxPercent": "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT",
    "FleetBreakerClusters": "AUTOHEAL_FLEET_BREAKER_CLUSTERS",
    "FleetBreakerPercent": "AUTOHEAL_FLEET_BREAKER_PERCENT",
    "FleetSizeTtlMinutes": "AUTOHEAL_FLEET_SIZE_TTL_MINUTES",
    "ClusterTagsTtlSeconds": "AUTOHEAL_CLUSTER_TAGS_TTL_SECONDS",
    "NodeCooldownMinutes": "AUTOHEAL_NODE_COOLDOWN_MINUTES",
    "NodeActionBudget": "AUTOHEAL_NODE_ACTION_BUDGET",
    "NodeActionBudgetWindowHours": "AUTOHEAL_NODE_ACTION_BUDGET_WINDOW_HOURS",
    "ProtectedNodeTypes": "AUTOHEAL_PROTECTED_NODE_TYPES",
    "AllowedGroups": "AUTOHEAL_ALLOWED_GROUPS",
    "DeniedGroups": "AUTOHEAL_DENIED_GROUPS",
    "OptOutTag": "AUTOHEAL_OPT_OUT_TAG",
    "DeferToHyperPod": "AUTOHEAL_DEFER_TO_HYPERPOD",
    "MaxEventAgeMinutes": "AUTOHEAL_MAX_EVENT_AGE_MINUTES",
    "AlarmNamePrefix": "AUTOHEAL_ALARM_NAME_PREFIX",
    "AlarmNodeDimension": "AUTOHEAL_ALARM_NODE_DIMENSION",
    "AlarmClusterDimension": "AUTOHEAL_ALARM_CLUSTER_DIMENSION",
    "HmaIgnoredXids": "AUTOHEAL_HMA_IGNORED_XIDS",
    "ApprovalTimeoutMinutes": "AUTOHEAL_APPROVAL_TIMEOUT_MINUTES",
    "ApprovalDefault": "AUTOHEAL_APPROVAL_DEFAULT",
    "EvidenceCapture": "AUTOHEAL_EVIDENCE_CAPTURE",
    "EvidenceRequired": "AUTOHEAL_EVIDENCE_REQUIRED",
    "EvidenceLogWindowMinutes": "AUTOHEAL_EVIDENCE_LOG_WINDOW_MINUTES",
    "EvidenceMaxBytes": "AUTOHEAL_EVIDENCE_MAX_BYTES",
    "EvidenceTimeBudgetSeconds": "AUTOHEAL_EVIDENCE_TIME_BUDGET_SECONDS",
}


@dataclass(frozen=True)
class Service:
    """The resolved resources of one hyperpod-autoheal deployment (local or in AWS)."""

    table_name: str = ""
    queue_url: str = ""
    topic_arn: str = ""
    stack: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)  # AUTOHEAL_* the functions would see
    outputs: Mapping[str, str] = field(default_factory=dict)  # the stack's Outputs (with --stack)

    def require_table(self) -> str:
        if not self.table_name:
            raise CliError(self._missing("ledger table", "--table", ENV_TABLE, OUTPUT_TABLE))
        return self.table_name

    def require_queue(self) -> str:
        if not self.queue_url:
            raise CliError(self._missing("fault queue", "--queue-url", ENV_QUEUE, OUTPUT_QUEUE))
        return self.queue_url

    def settings(self) -> Settings:
        """The functions' settings: policy and alarm dimensions, with this service's resources."""
        env = {
            **self.environment,
            ENV_TABLE: self.table_name,
            ENV_QUEUE: self.queue_url,
            ENV_TOPIC: self.topic_arn,
        }
        try:
            return load_settings(env)
        except SettingsError as exc:
            raise CliError(str(exc)) from exc

    def _missing(self, what: str, flag: str, env: str, output: str) -> str:
        if self.stack:
            return f"stack {self.stack!r} has no {output} output: is it a hyperpod-autoheal stack?"
        return f"no {what}: pass --stack NAME or {flag}, or set {env}"


def resolve(
    clients: Callable[[str], Any],
    *,
    stack: str | None,
    table: str | None,
    queue_url: str | None,
    environ: Mapping[str, str],
    region: str | None = None,
) -> Service:
    """The service the flags (else the stack, else the environment) name. DescribeStacks only with --stack."""
    environment = {k: v for k, v in environ.items() if k.startswith(ENV_PREFIX)}
    outputs: dict[str, str] = {}
    if stack:
        outputs, parameters = describe_stack(clients("cloudformation"), stack, region)
        environment.update({PARAMETER_ENV[k]: v for k, v in parameters.items() if k in PARAMETER_ENV})
    return Service(
        table_name=table or outputs.get(OUTPUT_TABLE) or ("" if stack else environ.get(ENV_TABLE, "")),
        queue_url=queue_url or outputs.get(OUTPUT_QUEUE) or ("" if stack else environ.get(ENV_QUEUE, "")),
        topic_arn=outputs.get(OUTPUT_TOPIC) or ("" if stack else environ.get(ENV_TOPIC, "")),
        stack=stack,
        environment=environment,
        outputs=outputs,
    )


def describe_stack(
    cloudformation: Any, stack: str, region: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """A stack's Outputs and Parameters, by key."""
    where = f" in {region}" if region else ""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        # CloudFormation says "ValidationError" for a stack that does not exist (there is no other code).
        if exc.response.get("Error", {}).get("Code") in ("ValidationError", "ValidationException"):
            raise CliError(f"stack {stack!r} not found{where} (CloudFormation: ValidationError)") from exc
        raise
    if not stacks:
        raise CliError(f"stack {stack!r} not found{where}")
    found = stacks[0]
    outputs = {str(o["OutputKey"]): str(o["OutputValue"]) for o in found.get("Outputs", [])}
    parameters = {
        str(p["ParameterKey"]): str(p.get("ResolvedValue", p.get("ParameterValue", "")))
        for p in found.get("Parameters", [])
    }
    return outputs, parameters
