"""What `autoheal selftest` publishes and how it observes each hop of the deployed stack.

The probe is a `SageMaker HyperPod Cluster Node Health Event` shaped as AWS documents it (flat detail:
ClusterName, InstanceId, Tags, HealthSummary; https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html)
from the custom source `autoheal.selftest` (custom PutEvents cannot use an `aws.*` source), naming a
reserved cluster `autoheal-selftest-<random>` that cannot exist. The service has no special path for
it: intake reads it as a Node Health Event and queues a fault, remediate drops the fault
(`cluster_not_found`) and records that verdict in the ledger.

The hops, and what observes each:

1. rule matched: DescribeRule (enabled, its deployed pattern), TestEventPattern (the pattern matches
   the probe) and ListTargetsByRule (it targets the intake function);
2. intake parsed it, 3. fault queued: intake's log lines for the event id (FilterLogEvents on its log
   group: "faults enqueued" with the count; "ignored" or "event rejected" with the reason); without
   them, inferred from hop 4;
4. remediate's verdict: the ledger's dropped-fault item for the event (`cluster_not_found`);
5. metrics (optional): GetMetricData on intake's `FaultsEnqueued` and remediate's `FaultsIgnored`
   `Reason=cluster_not_found` in `HyperPodAutoheal`, since the event was published.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from autoheal.reserved import RESERVED_CLUSTER_PREFIX, SELFTEST_SOURCE

NODE_HEALTH_EVENT = "SageMaker HyperPod Cluster Node Health Event"
NAMESPACE = "HyperPodAutoheal"
SERVICE = "hyperpod-autoheal"  # POWERTOOLS_SERVICE_NAME in template.yaml's Globals: every metric's `service`
VERDICT = "cluster_not_found"


class Status(StrEnum):
    OK = "ok"
    INFERRED = "inferred"  # not seen, but a later hop could not have happened without it
    BROKEN = "broken"
    SKIPPED = "skipped"


SYMBOLS = {Status.OK: "✓", Status.INFERRED: "✓", Status.BROKEN: "✗", Status.SKIPPED: "-"}


@dataclass(frozen=True)
class Hop:
    number: int
    name: str
    status: Status
    detail: str
    check: str = ""  # what to look at when it is broken

    def json(self) -> dict[str, Any]:
        return {
            "hop": self.number,
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "check": self.check or None,
        }


@dataclass(frozen=True)
class Probe:
    """The synthetic fault: its reserved cluster, its node, and the event carrying it."""

    cluster: str
    instance_id: str

    @staticmethod
    def new() -> Probe:
        return Probe(f"{RESERVED_CLUSTER_PREFIX}{secrets.token_hex(4)}", f"i-{secrets.token_hex(9)[:17]}")

    def detail(self) -> dict[str, Any]:
        return {
            "ClusterName": self.cluster,
            "InstanceId": self.instance_id,
            "Tags": {},
            "HealthSummary": {
                "HealthStatus": "Unhealthy",
                "HealthStatusReason": (
                    "autoheal selftest: HyperPod Health Monitoring Agent (HMA) has detected fault type "
                    "NvidiaErrorTerminate on this node and is unhealthy."
                ),
                "RepairAction": "None",
                "Recommendation": "Synthetic event of autoheal selftest: its cluster does not exist.",
            },
        }

    def entry(self) -> dict[str, Any]:
        """The PutEvents entry."""
        return {
            "Source": SELFTEST_SOURCE,
            "DetailType": NODE_HEALTH_EVENT,
            "Detail": json.dumps(self.detail()),
        }

    def event(self, account: str, region: str, at: datetime) -> dict[str, Any]:
        """The event as EventBridge delivers it (for TestEventPattern)."""
        return {
            "version": "0",
            "id": "00000000-0000-0000-0000-000000000000",
            "detail-type": NODE_HEALTH_EVENT,
            "source": SELFTEST_SOURCE,
            "account": account,
            "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": region,
            "resources": [],
            "detail": self.detail(),
        }


def rule_hop(events: Any, rule: str, intake_arn: str, probe_event: Mapping[str, Any]) -> Hop:
    """Hop 1: the rule is enabled, its pattern matches the probe, and it targets intake."""
    name = "rule matched"
    try:
        described = events.describe_rule(Name=rule)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return Hop(
            1,
            name,
            Status.BROKEN,
            f"rule {rule}: DescribeRule failed ({code})",
            "the stack's HyperPodEventsRuleName output and events:DescribeRule",
        )
    pattern = str(described.get("EventPattern", ""))
    matched = events.test_event_pattern(EventPattern=pattern, Event=json.dumps(probe_event)).get("Result")
    targets = [str(t.get("Arn", "")) for t in events.list_targets_by_rule(Rule=rule).get("Targets", [])]
    if described.get("State") != "ENABLED":
        return Hop(
            1,
            name,
            Status.BROKEN,
            f"rule {rule} is {described.get('State')}",
            f"enable it: aws events enable-rule --name {rule} (or redeploy the stack)",
        )
    if matched is not True:
        return Hop(
            1,
            name,
            Status.BROKEN,
            f"rule {rule}'s pattern does not match a self-test event",
            "redeploy template.yaml: the HyperPodEvents rule matches source autoheal.selftest "
            f"for cluster names starting with {RESERVED_CLUSTER_PREFIX}",
        )
    if intake_arn not in targets:
        return Hop(
            1,
            name,
            Status.BROKEN,
            f"rule {rule} targets {targets or 'nothing'}, not {intake_arn}",
            "the rule's targets (aws events list-targets-by-rule); redeploy the stack",
        )
    return Hop(1, name, Status.OK, f"{rule} is enabled, matches the event (TestEventPattern), targets intake")


@dataclass
class IntakeSeen:
    """What intake's log lines say about the event (nothing yet: all None/empty)."""

    lines: int = 0
    enqueued: int | None = None
    dropped: str = ""  # "ignored: <reason>" or "rejected: <reason> (<error>)"
    missing_group: bool = False


def intake_lines(logs: Any, log_group: str, event_id: str, since: datetime) -> IntakeSeen:
    """Intake's log lines that carry the event id (FilterLogEvents, every page)."""
    seen = IntakeSeen()
    kwargs: dict[str, Any] = {
        "logGroupName": log_group,
        "filterPattern": f'"{event_id}"',
        "startTime": int(since.timestamp() * 1000),
    }
    try:
        for page in logs.get_paginator("filter_log_events").paginate(**kwargs):
            for event in page.get("events", []):
                _read_line(seen, str(event.get("message", "")), event_id)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        seen.missing_group = True
    return seen


def _read_line(seen: IntakeSeen, message: str, event_id: str) -> None:
    try:
        line = json.loads(message[message.find("{") :]) if "{" in message else {}
    except ValueError:
        line = {}
    if not isinstance(line, dict) or line.get("event_id") != event_id:
        return
    seen.lines += 1
    what = line.get("message")
    if what == "faults enqueued":
        seen.enqueued = int(line.get("enqueued", 0))
    elif what == "ignored":
        seen.dropped = f"ignored: {line.get('reason')}"
    elif what == "event rejected":
        seen.dropped = f"rejected: {line.get('reason')} ({line.get('error')})"


@dataclass
class Observed:
    """Everything seen so far for the probe."""

    intake: IntakeSeen = field(default_factory=IntakeSeen)
    verdicts: list[str] = field(default_factory=list)  # reasons of the ledger's dropped-fault items


def intake_hops(seen: Observed, log_group: str) -> tuple[Hop, Hop]:
    """Hops 2 and 3, from intake's log lines, else inferred from the verdict."""
    i, verdict = seen.intake, bool(seen.verdicts)
    where = f"intake's log group {log_group}"
    if i.dropped:
        parsed = Hop(
            2,
            "intake parsed it",
            Status.BROKEN,
            f"intake {i.dropped}",
            "the intake function deployed is older than the template (redeploy), or its logs",
        )
        return parsed, Hop(3, "fault queued", Status.SKIPPED, "intake queued nothing")
    if i.enqueued is not None:
        parsed = Hop(2, "intake parsed it", Status.OK, f"intake logged the event ({where})")
        if i.enqueued > 0:
            return parsed, Hop(3, "fault queued", Status.OK, f"intake enqueued {i.enqueued} fault")
        return parsed, Hop(
            3,
            "fault queued",
            Status.BROKEN,
            "intake enqueued nothing",
            "the fault queue (FaultQueueUrl) and intake's sqs:SendMessage permission",
        )
    if verdict:
        why = "no log group" if i.missing_group else "no log line seen yet"
        return (
            Hop(2, "intake parsed it", Status.INFERRED, f"remediate got its fault ({why} in {where})"),
            Hop(3, "fault queued", Status.INFERRED, "remediate took its fault off the queue"),
        )
    check = (
        "EventBridge's invocations of intake (the rule's FailedInvocations metric), the IntakeDLQ, " + where
    )
    return (
        Hop(2, "intake parsed it", Status.BROKEN, "no sign of intake reading the event", check),
        Hop(3, "fault queued", Status.SKIPPED, "not seen"),
    )


def verdict_hop(seen: Observed, table: str) -> Hop:
    """Hop 4: remediate's verdict on the fault, in the ledger."""
    name = "remediate's verdict"
    if VERDICT in seen.verdicts:
        return Hop(4, name, Status.OK, f"ledger {table}: fault dropped, {VERDICT}")
    if any(v.startswith("reserved_cluster_unreachable") for v in seen.verdicts):
        return Hop(
            4,
            name,
            Status.BROKEN,
            f"ledger {table}: fault dropped, {', '.join(seen.verdicts)}",
            "remediate could not ask SageMaker about the cluster: its role (ClusterArnPattern) and "
            "sagemaker:ListClusterNodes",
        )
    if seen.verdicts:
        return Hop(
            4,
            name,
            Status.BROKEN,
            f"ledger {table}: fault dropped, {', '.join(seen.verdicts)}",
            f"remediate should find no cluster named like {RESERVED_CLUSTER_PREFIX}...",
        )
    return Hop(
        4,
        name,
        Status.BROKEN,
        f"no verdict in ledger {table}",
        "remediate's SQS event source mapping (enabled?), the FaultDLQ, remediate's log group and errors",
    )


def metric_queries(since: datetime, until: datetime) -> dict[str, Any]:
    """GetMetricData for intake's FaultsEnqueued and remediate's FaultsIgnored{cluster_not_found}."""

    def query(qid: str, metric: str, **dims: str) -> dict[str, Any]:
        dimensions = [{"Name": "service", "Value": SERVICE}] + [
            {"Name": k, "Value": v} for k, v in dims.items()
        ]
        return {
            "Id": qid,
            "ReturnData": True,
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": metric, "Dimensions": dimensions},
                "Period": 60,
                "Stat": "Sum",
            },
        }

    return {
        "MetricDataQueries": [
            query("enqueued", "FaultsEnqueued"),
            query("dropped", "FaultsIgnored", Reason=VERDICT),
        ],
        "StartTime": since - timedelta(minutes=1),
        "EndTime": until + timedelta(minutes=1),
    }


def metric_sums(cloudwatch: Any, since: datetime, until: datetime) -> dict[str, float]:
    sums: dict[str, float] = {}
    for page in cloudwatch.get_paginator("get_metric_data").paginate(**metric_queries(since, until)):
        for result in page.get("MetricDataResults", []):
            sums[result["Id"]] = sums.get(result["Id"], 0.0) + sum(result.get("Values", []))
    return sums


def metrics_hop(sums: Mapping[str, float] | None) -> Hop:
    name = "metrics arrived"
    if sums is None:
        return Hop(5, name, Status.SKIPPED, "not checked (--wait-metrics)")
    enqueued, dropped = sums.get("enqueued", 0.0), sums.get("dropped", 0.0)
    detail = f"{NAMESPACE}: FaultsEnqueued {enqueued:g}, FaultsIgnored{{Reason={VERDICT}}} {dropped:g} since the event"
    if enqueued >= 1 and dropped >= 1:
        return Hop(5, name, Status.OK, detail)
    return Hop(
        5,
        name,
        Status.BROKEN,
        detail,
        "the functions' EMF output in their log groups (POWERTOOLS_METRICS_NAMESPACE); "
        "CloudWatch can take minutes: a longer --timeout",
    )
