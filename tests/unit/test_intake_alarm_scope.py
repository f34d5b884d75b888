"""Which CloudWatch alarms reach intake as faults: only the ones meant for it.

Through the real intake handler (`functions/intake/app.py`) with the environment template.yaml gives the
intake function, and through the template's `AlarmEvents` rule pattern evaluated by moto's EventBridge
matcher. The AWS documentation's alarm examples (tests/corpus/events/cloudwatch-*.json, as published on
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html)
are alarms on an EC2 instance that have nothing to do with this service: none may become a fault.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from moto.events.models import EventPattern

from autoheal import clients
from autoheal.intake.hma_records import HMA_STREAM_DIMENSION
from autoheal.observability import metrics
from functions.intake import app
from hyperpod_local.stack.events import FakeContext
from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.template import (
    FAULT_QUEUE,
    INTAKE_FUNCTION,
    TEMPLATE_PATH,
    load_template,
    template_function_env,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

T = load_template(TEMPLATE_PATH)
CORPUS = Path(__file__).parents[1] / "corpus" / "events"
EXAMPLES: dict[str, dict[str, Any]] = {
    name: json.loads((CORPUS / f"cloudwatch-{name}.json").read_text(encoding="utf-8"))
    for name in (
        "single-metric-alarm",
        "metric-math-alarm",
        "anomaly-detection-alarm",
        "multi-time-series-contributor",
        "multi-time-series-alarm",
    )
}
AWS_DOC_ALARMS = ("single-metric-alarm", "metric-math-alarm", "anomaly-detection-alarm")
URL = "https://sqs.us-east-1.amazonaws.com/123456789012/autoheal-faults"
STACK = "hyperpod-autoheal"  # the Resolver's stack name
ACCOUNT, REGION = "123456789012", "us-east-1"
CLUSTER, NODE = "ml-cluster", "i-0d4c2b1a0f9e8d7c6"
HMA_LOG_GROUP = "/aws/sagemaker/Clusters/ml-cluster/abcdef012345"
OPERATIONAL_ALARMS = sorted(
    lid
    for lid, r in T["Resources"].items()
    if r["Type"] == "AWS::CloudWatch::Alarm" and lid != "HmaDetectionsAlarm"
)

Event = dict[str, Any]


def deployment(**parameters: str) -> Resolver:
    """The stack as deployed with `parameters` (every optional part on, for the alarm names)."""
    return Resolver(T, parameters={"HmaLogGroupNames": HMA_LOG_GROUP, **parameters}).with_resources(
        {FAULT_QUEUE: URL, "HmaIntakeFunction": "hma-intake", "ReconcileFunction": "reconcile"},
        {(lid, "QueueName"): lid for lid in T["Resources"]},
    )


def alarm_name(logical_id: str, **parameters: str) -> str:
    name: str = deployment(HmaAlarmLogGroupName=HMA_LOG_GROUP, **parameters).resolve(
        T["Resources"][logical_id]["Properties"]["AlarmName"]
    )
    return name


def renamed(event: Event, name: str) -> Event:
    """`event` for an alarm called `name` (the detail's name and the alarm ARN in `resources`)."""
    out = copy.deepcopy(event)
    out["detail"]["alarmName"] = name
    out["resources"] = [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"]
    return out


def unmuted(event: Event) -> Event:
    out = copy.deepcopy(event)
    out["detail"].pop("muteDetail", None)
    return out


def hma_contributor(name: str) -> Event:
    """A contributor of the template's HMA alarm going to ALARM: its attributes are the metric
    filter's dimensions (cluster, node stream)."""
    event = renamed(unmuted(EXAMPLES["multi-time-series-contributor"]), name)
    event["detail"]["alarmContributor"]["attributes"] = {
        "ClusterName": CLUSTER,
        HMA_STREAM_DIMENSION: f"SagemakerHealthMonitoringAgent/gpu/{NODE}",
    }
    return event


# ---------------------------------------------------------------- the handler, as the template deploys it


Deliver = Callable[..., dict[str, Any]]


class FakeSqs:
    """The one SQS call intake makes; every entry succeeds, and the bodies are kept."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        assert QueueUrl == URL
        self.sent.extend(json.loads(entry["MessageBody"]) for entry in Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in Entries], "Failed": []}


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> FakeSqs:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "hyperpod-autoheal")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "HyperPodAutohealTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setattr(metrics, "namespace", "HyperPodAutohealTest")
    fake = FakeSqs()
    monkeypatch.setattr(clients, "client", lambda service, region=None: fake)
    return fake


@pytest.fixture
def deliver(sqs: FakeSqs, monkeypatch: pytest.MonkeyPatch) -> Deliver:
    """`deliver(event, **parameters)`: the intake handler's summary for `event`, with the environment
    template.yaml gives the intake function in a deployment with `parameters`."""

    def run(event: Event, **parameters: str) -> dict[str, Any]:
        env = deployment(**parameters).resolve(template_function_env(T, INTAKE_FUNCTION))
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        summary: dict[str, Any] = app.lambda_handler(copy.deepcopy(event), FakeContext())
        return summary

    return run


def ignored(summary: Mapping[str, Any]) -> dict[str, int]:
    assert (summary["enqueued"], summary.get("rejected", {})) == (0, {}), summary
    return dict(summary["ignored"])


@pytest.mark.parametrize("example", AWS_DOC_ALARMS)
def test_the_aws_documentation_alarm_examples_are_not_faults(deliver: Deliver, example: str) -> None:
    """A CPU-high alarm, a metric-math network alarm, an anomaly-detection alarm on an instance: alarms
    of the account that are not meant for autoheal, whether muted or not."""
    assert ignored(deliver(EXAMPLES[example])) == {"alarm_prefix_mismatch": 1}
    assert ignored(deliver(unmuted(EXAMPLES[example]))) == {"alarm_prefix_mismatch": 1}


@pytest.mark.parametrize("example", AWS_DOC_ALARMS)
def test_an_alarm_named_by_the_convention_is_a_fault(deliver: Deliver, example: str) -> None:
    event = renamed(unmuted(EXAMPLES[example]), f"autoheal:{CLUSTER}:{NODE}")
    assert deliver(event)["enqueued"] == 1


def test_a_prefixed_alarm_names_its_node_by_its_dimension(deliver: Deliver) -> None:
    """With the default prefix, an alarm whose name after `autoheal:` is free text takes its node from
    the InstanceId dimension, as before."""
    event = renamed(unmuted(EXAMPLES["single-metric-alarm"]), "autoheal:gpu-xid-errors")
    assert deliver(event)["enqueued"] == 1


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hyperpod-", f"{STACK}-"])
@pytest.mark.parametrize("logical_id", OPERATIONAL_ALARMS)
def test_the_stacks_own_alarms_are_never_faults(deliver: Deliver, logical_id: str, prefix: str) -> None:
    """Whatever AlarmNamePrefix is (even one its names start with), and even on an instance metric."""
    event = renamed(unmuted(EXAMPLES["single-metric-alarm"]), alarm_name(logical_id, AlarmNamePrefix=prefix))
    assert ignored(deliver(event, AlarmNamePrefix=prefix)) == {"own_operational_alarm": 1}


def test_an_empty_prefix_is_an_opt_in_to_every_alarm_on_a_node(deliver: Deliver) -> None:
    assert deliver(unmuted(EXAMPLES["single-metric-alarm"]), AlarmNamePrefix="")["enqueued"] == 1
    assert ignored(deliver(EXAMPLES["single-metric-alarm"], AlarmNamePrefix="")) == {"alarm_muted": 1}


MUTE_BLOCKS: dict[str, Any] = {
    "as documented": EXAMPLES["single-metric-alarm"]["detail"]["muteDetail"],
    "rule only": {"mutedByArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm-mute-rule:maint"},
    "window only": {"muteWindowStart": "2026-01-01T10:00:00.000+0000"},
    "unknown fields only": {"muteRuleName": "maint", "muted": True},
    "odd value types": {"mutedByArn": 42, "muteWindowStart": None, "muteWindowEnd": ["x"]},
}


@pytest.mark.parametrize("block", MUTE_BLOCKS.values(), ids=MUTE_BLOCKS.keys())
def test_a_muted_alarm_is_ignored(deliver: Deliver, block: Any) -> None:
    event = renamed(EXAMPLES["single-metric-alarm"], f"autoheal:{CLUSTER}:{NODE}")
    event["detail"]["muteDetail"] = block
    assert ignored(deliver(event)) == {"alarm_muted": 1}


@pytest.mark.parametrize("block", [None, {}], ids=["null", "empty"])
def test_an_empty_mute_block_says_nothing(deliver: Deliver, block: Any) -> None:
    event = renamed(EXAMPLES["single-metric-alarm"], f"autoheal:{CLUSTER}:{NODE}")
    event["detail"]["muteDetail"] = block
    assert deliver(event)["enqueued"] == 1


def test_a_muted_contributor_is_ignored(deliver: Deliver) -> None:
    """Muting a Metrics Insights alarm mutes all its contributors (alarm-mute-rules-behaviour.html)."""
    event = hma_contributor(alarm_name("HmaDetectionsAlarm"))
    event["detail"]["muteDetail"] = EXAMPLES["multi-time-series-contributor"]["detail"]["muteDetail"]
    assert ignored(deliver(event)) == {"alarm_muted": 1}


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hp-"])
def test_the_hma_alarm_still_reaches_intake_and_its_contributors_are_faults(
    deliver: Deliver, prefix: str
) -> None:
    name = alarm_name("HmaDetectionsAlarm", AlarmNamePrefix=prefix)
    assert name.startswith(prefix) and not name.startswith(f"{STACK}-")
    assert deliver(hma_contributor(name), AlarmNamePrefix=prefix)["enqueued"] == 1


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hp-"])
def test_the_hma_alarms_own_state_change_is_ignored_not_malformed(deliver: Deliver, prefix: str) -> None:
    """Its aggregate `CloudWatch Alarm State Change` ("6 out of 6 time series evaluated to ALARM")
    names no node: its contributors' events do."""
    name = alarm_name("HmaDetectionsAlarm", AlarmNamePrefix=prefix)
    event = renamed(EXAMPLES["multi-time-series-alarm"], name)
    assert ignored(deliver(event, AlarmNamePrefix=prefix)) == {"alarm_multi_time_series": 1}


# ---------------------------------------------------------------- the AlarmEvents rule, as deployed


def rule_matches(event: Event, **parameters: str) -> bool:
    """Whether the template's AlarmEvents rule (deployed with `parameters`) matches, per moto."""
    rule = T["Resources"][INTAKE_FUNCTION]["Properties"]["Events"]["AlarmEvents"]["Properties"]
    pattern = deployment(**parameters).resolve(rule["Pattern"])
    return bool(EventPattern.load(json.dumps(pattern)).matches_event(event))  # type: ignore[arg-type]


@pytest.mark.parametrize("example", AWS_DOC_ALARMS)
def test_the_rule_leaves_the_aws_documentation_alarms_out(example: str) -> None:
    assert not rule_matches(EXAMPLES[example])
    assert rule_matches(renamed(EXAMPLES[example], f"autoheal:{CLUSTER}:{NODE}"))


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hyperpod-", f"{STACK}-"])
def test_the_rule_leaves_the_stacks_own_alarms_out_whatever_the_prefix(prefix: str) -> None:
    for logical_id in OPERATIONAL_ALARMS:
        event = renamed(EXAMPLES["single-metric-alarm"], alarm_name(logical_id, AlarmNamePrefix=prefix))
        assert not rule_matches(event, AlarmNamePrefix=prefix), logical_id


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hp-"])
def test_the_rule_lets_the_hma_alarms_contributors_through(prefix: str) -> None:
    name = alarm_name("HmaDetectionsAlarm", AlarmNamePrefix=prefix)
    assert rule_matches(hma_contributor(name), AlarmNamePrefix=prefix)


def test_with_an_empty_prefix_the_rule_takes_every_other_alarm() -> None:
    assert all(rule_matches(EXAMPLES[example], AlarmNamePrefix="") for example in AWS_DOC_ALARMS)
