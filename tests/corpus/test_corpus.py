"""AWS's published event and log examples held against what a HyperPod operator expects.

One row per file of `events/` (EventBridge events) and `logs/` (HMA log records), sources and changes in
README.md beside them. Each row says, through the real path:

- where the example goes: which of template.yaml's EventBridge rules match it (moto's matcher, on the
  patterns of `hyperpod_local.stack.rules`, deployed with the template's default parameters), or, for a
  log record, which HMA log subscription's filter pattern selects it;
- what the intake handler (`functions/intake/app.py`, settings from the template's environment of the
  intake function) makes of it: faults (node, signal), ignored (why) or rejected.

A row may name a known defect (`route_defect`, `intake_defect`: a strict xfail, removed with the fix);
none does today: the sixteen issue 16 found are fixed. A row that says `Ignored()` without a reason
accepts any reason code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from autoheal import clients
from autoheal.faults import NodeFault
from functions.intake import app
from hyperpod_local.stack.events import FakeContext
from hyperpod_local.stack.hma_logs import delivery, log_stream, payload
from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.rules import (
    EventRule,
    LogSubscription,
    event_rules,
    log_subscriptions,
    rules_matching,
)
from hyperpod_local.stack.template import INTAKE_FUNCTION, load_template, template_function_env

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

CORPUS = Path(__file__).resolve().parent
EVENTS, LOGS = CORPUS / "events", CORPUS / "logs"

# The template's rules (tests/unit/test_template.py pins their patterns). No rule takes AWS Health
# events (README "AWS Health: not a trigger"): they reach intake only by `autoheal replay`, and the rows
# below still say what intake makes of them.
HYPERPOD, RECONCILE, ALARMS = "HyperPodEvents", "ClusterEvents", "AlarmEvents"
HMA_SUBSCRIPTION = "HmaLogs1"

# HMA records name no node: the test delivers each one as CloudWatch Logs would from this node's stream.
LOG_GROUP = "/aws/sagemaker/Clusters/sample-cluster/abcdef012345"
LOG_NODE = "i-0391f86fa0fe0d465"
LOG_STREAM = log_stream("p5Inst", LOG_NODE)
LOGGED_AT = datetime(2026, 6, 1, 17, 20, 25, tzinfo=UTC)


# ---------------------------------------------------------------- expected outcomes


@dataclass(frozen=True)
class Fault:
    """One fault: its node (instance id, else logical id), signal, and what else the row pins."""

    node: str
    signal: str
    logical_id: str | None = None
    cluster: str | None = None  # the cluster remediate will call (name, else ARN); None: unknown
    repair: str | None = None  # HyperPod's / HMA's repair intent (None: the trigger has none)


@dataclass(frozen=True)
class Ignored:
    reason: str | None = None  # None: any reason


@dataclass(frozen=True)
class Rejected:
    reason: str


Outcome = tuple[Fault, ...] | Ignored | Rejected


@dataclass(frozen=True)
class Row:
    file: str  # under events/ or logs/
    reaches: frozenset[str]  # template rules (events) or HMA subscriptions (log records)
    outcome: Outcome
    route_defect: str | None = None  # why today's template routes it otherwise (strict xfail)
    intake_defect: str | None = None  # why today's intake disagrees (strict xfail)


def to(*names: str | None) -> frozenset[str]:
    return frozenset(n for n in names if n)


def faults(*expected: Fault) -> tuple[Fault, ...]:
    return expected


# fmt: off
ROWS = [
    # --- SageMaker EventBridge page: the three HyperPod detail-types
    Row("sagemaker-eb-node-health.json", to(HYPERPOD), Rejected("malformed:SageMaker HyperPod Cluster Node Health Event")),
    Row("sagemaker-eb-node-health.hex-instance-id.json", to(HYPERPOD),
        faults(Fault("i-12345678abcdefabc", "NvidiaErrorTerminate", cluster="sample-cluster", repair="None"))),
    Row("sagemaker-eb-cluster-event.json", to(HYPERPOD, RECONCILE), Ignored("unknown_level_not_a_failure")),
    Row("sagemaker-eb-cluster-state-change.json", to(HYPERPOD), Ignored("state_change")),
    # --- HyperPod cluster events reference
    Row("hyperpod-events-ref-insufficient-capacity.json", to(HYPERPOD, RECONCILE),
        faults(Fault("i-0391f86fa0fe0d465", "InsufficientCapacity", logical_id="df268d19-f035-4f28-9b80-b956b92ae21e",
                     cluster="sample-cluster"))),
    # --- AWS Health EventBridge schema page
    Row("health-schema-ec2-operational-issue.json", to(), Ignored("no_node")),
    Row("health-schema-elb-api-issue.json", to(), Ignored("health_not_ec2")),
    Row("health-schema-ec2-instance-store-backup.json", to(), Ignored("health_backup_copy")),
    Row("health-schema-ec2-instance-retirement.json", to(),
        faults(Fault("i-1234567890abcdef0", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"))),
    Row("health-schema-lambda-planned-lifecycle.json", to(), Ignored("health_not_ec2")),
    # --- aws/aws-health-tools test events, a captured event in a Cloud Custodian fork
    Row("aws-health-tools-instance-store-testevent.json", to(),
        faults(Fault("i-abcd1111", "AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED"))),
    Row("aws-health-tools-sms-notifier-test.json", to(), Ignored("health_not_ec2")),
    Row("cloud-custodian-fork-phd-ec2-retire.json", to(),
        faults(Fault("i-0c608386538544571", "AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED"))),
    # --- CloudWatch alarm events: none is named autoheal:<cluster>:<instance-id>; the state changes but one are muted
    Row("cloudwatch-single-metric-alarm.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-metric-math-alarm.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-anomaly-detection-alarm.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-composite-alarm.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-multi-time-series-contributor.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-multi-time-series-alarm.json", to(), Ignored("alarm_prefix_mismatch")),
    Row("cloudwatch-configuration-change-create-composite.json", to(), Ignored("unsupported_detail_type")),
    Row("cloudwatch-configuration-change-update-metric.json", to(), Ignored("unsupported_detail_type")),
    Row("cloudwatch-configuration-change-delete-suppressed.json", to(), Ignored("unsupported_detail_type")),
    # --- HMA log records: the HMA documentation page, the awslabs HMA bridge sample
    Row("hma-eks-doc-npd-xid71.json", to(HMA_SUBSCRIPTION),
        faults(Fault(LOG_NODE, "NvidiaErrorReboot", cluster="sample-cluster", repair="Reboot"))),
    Row("awslabs-hma-bridge-slurm-dcgm-xid79.json", to(HMA_SUBSCRIPTION),
        faults(Fault(LOG_NODE, "XidError:79", cluster="sample-cluster", repair="Unknown"))),
    Row("awslabs-hma-bridge-eks-event-detail.json", to(),
        faults(Fault(LOG_NODE, "NvidiaGPUUnhealthy", cluster="sample-cluster", repair="Replace"))),
]
# fmt: on


def _params(defect_of: str) -> list[Any]:
    return [
        pytest.param(row, id=row.file, marks=pytest.mark.xfail(strict=True, reason=defect))
        if (defect := getattr(row, defect_of))
        else pytest.param(row, id=row.file)
        for row in ROWS
    ]


# ---------------------------------------------------------------- the path: rules, then intake


def _is_log(row: Row) -> bool:
    return (LOGS / row.file).is_file()


def _text(row: Row) -> str:
    return ((LOGS if _is_log(row) else EVENTS) / row.file).read_text(encoding="utf-8")


def _record(row: Row) -> str:
    """The log record as HMA writes it: one line (a record printed over several lines is compacted)."""
    return json.dumps(json.loads(_text(row)), separators=(",", ":"), ensure_ascii=False)


@cache
def _template() -> dict[str, Any]:
    return load_template()


@cache
def _rules() -> tuple[EventRule, ...]:
    """The EventBridge rules as deployed with the template's default parameters."""
    return event_rules(template=_template())


@cache
def _subscriptions() -> tuple[LogSubscription, ...]:
    """The HMA log subscriptions, deployed with defaults and the one log group the records come from."""
    return log_subscriptions({"HmaLogGroupNames": LOG_GROUP}, _template())


def reached(row: Row) -> frozenset[str]:
    if _is_log(row):
        return frozenset(s.name for s in _subscriptions() if s.matches(LOG_GROUP, _record(row)))
    return frozenset(rule.name for rule in rules_matching(json.loads(_text(row)), _rules()))


class _Queue:
    """The SQS client intake's queue adapter calls: it takes every message and keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.bodies.extend(entry["MessageBody"] for entry in Entries)
        ok = [{"Id": e["Id"], "MessageId": e["Id"], "MD5OfMessageBody": "0" * 32} for e in Entries]
        return {"Successful": ok, "Failed": []}


@cache
def _intake_env() -> dict[str, str]:
    """The intake function's AUTOHEAL_* environment as the template deploys it with default
    parameters (resource references become placeholders)."""

    class _Any(dict[Any, Any]):
        def __contains__(self, key: object) -> bool:
            return True

        def __missing__(self, key: Any) -> str:
            return f"local-{key}"

    template = _template()
    resources = _Any({lid: f"local-{lid}" for lid in template["Resources"]})
    resolver = Resolver(template, refs=resources, attrs=_Any())
    env = resolver.resolve(template_function_env(template, INTAKE_FUNCTION))
    return {k: str(v) for k, v in env.items() if k.startswith("AUTOHEAL_")}


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Queue]:
    for name, value in _intake_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    fake = _Queue()

    def client_for(service: str, region: str | None = None) -> Any:
        assert service == "sqs", f"intake asked for a {service} client"
        return fake

    monkeypatch.setattr(clients, "client", client_for)
    yield fake


def run_intake(row: Row, queue: _Queue) -> tuple[Mapping[str, Any], list[NodeFault]]:
    if _is_log(row):
        event = delivery(payload(LOG_GROUP, LOG_STREAM, [(LOGGED_AT, _record(row))]))
    else:
        event = json.loads(_text(row))
    report = app.lambda_handler(event, FakeContext())
    return report, [NodeFault.model_validate_json(body) for body in queue.bodies]


def _seen(fault: NodeFault) -> Fault:
    return Fault(
        node=fault.instance_id or fault.node_logical_id or "",
        signal=fault.signal,
        logical_id=fault.node_logical_id if fault.instance_id else None,
        cluster=fault.cluster_ref,
        repair=str(fault.repair_action) if fault.repair_action is not None else None,
    )


def check(outcome: Outcome, report: Mapping[str, Any], enqueued: list[NodeFault]) -> None:
    if isinstance(outcome, Rejected):
        assert (report["rejected"], enqueued) == ({outcome.reason: 1}, [])
    elif isinstance(outcome, Ignored):
        assert (report["rejected"], enqueued) == ({}, [])
        assert report["ignored"], "ignored, but no reason was counted"
        if outcome.reason is not None:
            assert set(report["ignored"]) == {outcome.reason}
    else:
        assert report["rejected"] == {}
        assert sorted(map(_seen, enqueued), key=repr) == sorted(outcome, key=repr)


# ---------------------------------------------------------------- the table


@pytest.mark.parametrize("row", _params("route_defect"))
def test_where_each_example_goes(row: Row) -> None:
    assert reached(row) == row.reaches


@pytest.mark.parametrize("row", _params("intake_defect"))
def test_what_intake_makes_of_each_example(row: Row, queue: _Queue) -> None:
    report, enqueued = run_intake(row, queue)
    check(row.outcome, report, enqueued)


# ---------------------------------------------------------------- AWS's own event patterns

HYPERPOD_EVENTS = {"sagemaker-eb-cluster-event.json", "hyperpod-events-ref-insufficient-capacity.json"}
NODE_HEALTH = {"sagemaker-eb-node-health.json", "sagemaker-eb-node-health.hex-instance-id.json"}
HEALTH_EVENTS = {
    row.file for row in ROWS if row.file.startswith(("health-", "aws-health-", "cloud-custodian-"))
}

#: The patterns AWS documents (and the samples' rules), and which examples of the corpus each selects.
PATTERNS: dict[str, set[str]] = {
    "hyperpod-events-ref-all-cluster-events.json": HYPERPOD_EVENTS,
    "hyperpod-events-ref-error-events.json": {"hyperpod-events-ref-insufficient-capacity.json"},
    "hyperpod-events-ref-specific-cluster.json": set(),
    "hyperpod-events-ref-node-health.json": NODE_HEALTH,
    "eventbridge-ref-health-all.json": HEALTH_EVENTS,
    "eventbridge-ref-health-event.json": HEALTH_EVENTS,
    "awsome-distributed-training-email-rule.json": NODE_HEALTH | {"sagemaker-eb-cluster-state-change.json"},
    "awslabs-devops-agent-webhook-rule.json": HYPERPOD_EVENTS
    | NODE_HEALTH
    | {"sagemaker-eb-cluster-state-change.json"},
}


def _selected(pattern_file: str) -> set[str]:
    pattern = (CORPUS / "patterns" / pattern_file).read_text(encoding="utf-8")
    return {
        p.name
        for p in EVENTS.glob("*.json")
        if EventPattern.load(pattern).matches_event(json.loads(p.read_text()))
    }


@pytest.mark.parametrize("pattern_file", sorted(PATTERNS))
def test_what_each_documented_pattern_selects(pattern_file: str) -> None:
    assert _selected(pattern_file) == PATTERNS[pattern_file]


@pytest.mark.parametrize(
    "pattern_file", sorted(p for p in PATTERNS if '"aws.sagemaker"' in (CORPUS / "patterns" / p).read_text())
)
def test_every_hyperpod_event_a_documented_pattern_selects_reaches_intake(pattern_file: str) -> None:
    rules = [rule for rule in _rules() if rule.name == HYPERPOD]
    assert all(rules_matching(json.loads((EVENTS / f).read_text()), rules) for f in _selected(pattern_file))


def test_every_example_has_one_row_and_a_source() -> None:
    files = sorted(p.name for directory in (EVENTS, LOGS) for p in directory.glob("*.json"))
    assert sorted(row.file for row in ROWS) == files
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    patterns = sorted(p.name for p in (CORPUS / "patterns").glob("*.json"))
    assert [f for f in files + patterns if f"`{f}`" not in readme] == []
