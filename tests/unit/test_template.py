"""template.yaml agrees with the code and with what it promises: rules, queues, ledger, IAM, env."""

from __future__ import annotations

import ast
import base64
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from autoheal import observability
from autoheal.intake.hma_records import DETECTION_MARKER, HMA_STREAM_DIMENSION
from autoheal.intake.normalise import ROUTES, normalise
from autoheal.intake.wiring import rule_config
from autoheal.reserved import RESERVED_CLUSTER_PREFIX, SELFTEST_SOURCE
from autoheal.settings import Settings, load_settings
from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.resources import create_stack_resources
from hyperpod_local.stack.template import (
    FAULT_DLQ,
    FAULT_QUEUE,
    FUNCTIONS,
    HMA_INTAKE_FUNCTION,
    INTAKE_DLQ,
    INTAKE_FUNCTION,
    LEDGER_TABLE,
    NEEDS_HUMAN_TOPIC,
    RECONCILE_FUNCTION,
    REMEDIATE_FUNCTION,
    REPO_ROOT,
    TEMPLATE_PATH,
    load_template,
    template_function_env,
    template_properties,
)
from tests.fixtures import REPLAY_ONLY_ROUTES
from tools.lint_template import transform
from tools.metrics_insights import ALARM_CONTRIBUTOR_CEILING

T = load_template(TEMPLATE_PATH)
RESOURCES: Mapping[str, Any] = T["Resources"]
GLOBAL_FUNCTION: Mapping[str, Any] = T["Globals"]["Function"]
RULES = ("HyperPodEvents", "AlarmEvents")
RECONCILE_DLQ = "ReconcileDLQ"
#: Each EventBridge-invoked function: its events (rules) and the dead-letter queue they and it fail to.
EVENT_FUNCTIONS = {
    INTAKE_FUNCTION: (RULES, INTAKE_DLQ),
    RECONCILE_FUNCTION: (("Schedule", "ClusterEvents"), RECONCILE_DLQ),
}
#: Each asynchronously invoked function (EventBridge, CloudWatch Logs) and the DLQ its failures go to.
ASYNC_FUNCTIONS = {
    **{fn: dlq for fn, (_, dlq) in EVENT_FUNCTIONS.items()},
    HMA_INTAKE_FUNCTION: INTAKE_DLQ,
}
FOURTEEN_DAYS = 14 * 24 * 3600
ACCOUNT = "123456789012"
CLUSTER_A = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:cluster/aaaaaaaaaaaa"
CLUSTER_B = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:cluster/bbbbbbbbbbbb"
CLUSTER_C = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:cluster/cccccccccccc"


@cache
def transformed() -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of template.yaml (offline)."""
    return transform(load_template(TEMPLATE_PATH))


def props(logical_id: str) -> dict[str, Any]:
    return template_properties(T, logical_id)


def function_setting(logical_id: str, name: str) -> Any:
    return props(logical_id).get(name, GLOBAL_FUNCTION.get(name))


# ---------------------------------------------------------------- shape


def test_template_parses_into_the_expected_resources() -> None:
    assert T["Transform"] == "AWS::Serverless-2016-10-31"
    expected = {
        "AutohealLayer": "AWS::Serverless::LayerVersion",
        INTAKE_FUNCTION: "AWS::Serverless::Function",
        REMEDIATE_FUNCTION: "AWS::Serverless::Function",
        RECONCILE_FUNCTION: "AWS::Serverless::Function",
        FAULT_QUEUE: "AWS::SQS::Queue",
        FAULT_DLQ: "AWS::SQS::Queue",
        INTAKE_DLQ: "AWS::SQS::Queue",
        RECONCILE_DLQ: "AWS::SQS::Queue",
        LEDGER_TABLE: "AWS::DynamoDB::Table",
        NEEDS_HUMAN_TOPIC: "AWS::SNS::Topic",
        "IntakeLogGroup": "AWS::Logs::LogGroup",
        "RemediateLogGroup": "AWS::Logs::LogGroup",
        "ReconcileLogGroup": "AWS::Logs::LogGroup",
        HMA_INTAKE_FUNCTION: "AWS::Serverless::Function",
        "HmaIntakeLogGroup": "AWS::Logs::LogGroup",
        "HmaAlarmTransformer": "AWS::Logs::Transformer",
        "HmaAlarmMetricFilter": "AWS::Logs::MetricFilter",
        "HmaDetectionsAlarm": "AWS::CloudWatch::Alarm",
    }
    assert {lid: RESOURCES[lid]["Type"] for lid in expected} == expected


def test_functions_run_python313_on_arm64_with_tracing_and_the_shared_layer() -> None:
    assert GLOBAL_FUNCTION["Runtime"] == "python3.13"
    assert GLOBAL_FUNCTION["Architectures"] == ["arm64"]
    assert GLOBAL_FUNCTION["Tracing"] == "Active"
    assert GLOBAL_FUNCTION["Layers"] == [{"Ref": "AutohealLayer"}]
    layer = RESOURCES["AutohealLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.13"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    content = REPO_ROOT / layer["Properties"]["ContentUri"]
    assert (content / "requirements.txt").is_file()
    assert (content / "autoheal" / "__init__.py").is_file()


def test_powertools_names_come_from_globals_and_match_observability() -> None:
    env = GLOBAL_FUNCTION["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == observability.SERVICE
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == observability.NAMESPACE
    assert "POWERTOOLS_LOG_LEVEL" in env


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_each_handler_exists_where_the_template_says(logical_id: str) -> None:
    module, function = props(logical_id)["Handler"].rsplit(".", 1)
    source = REPO_ROOT / props(logical_id)["CodeUri"] / f"{module.replace('.', '/')}.py"
    assert source.is_file(), f"{logical_id}: {source} is missing"
    defined = {n.name for n in ast.parse(source.read_text()).body if isinstance(n, ast.FunctionDef)}
    assert function in defined


# ---------------------------------------------------------------- event rules

Event = dict[str, Any]


def envelope(source: str, detail_type: str, detail: Mapping[str, Any], resources: list[str]) -> Event:
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2026-11-25T07:00:00Z",
        "region": "us-east-1",
        "resources": resources,
        "detail": dict(detail),
    }


def node_health(cluster: str = CLUSTER_A) -> Event:
    detail = {
        "ClusterName": "train",
        "ClusterArn": cluster,
        "InstanceId": "i-0123456789abcdef0",
        "Tags": {},
        "HealthSummary": {
            "HealthStatus": "Unhealthy",
            "HealthStatusReason": "HMA has detected fault type NvidiaErrorTerminate on this node",
            "RepairAction": "None",
            "Recommendation": "Please Replace the Faulty Node.",
        },
    }
    return envelope("aws.sagemaker", "SageMaker HyperPod Cluster Node Health Event", detail, [cluster])


def cluster_event(cluster: str = CLUSTER_A) -> Event:
    detail = {
        "EventDetails": {
            "EventId": "0d3c5f5e-6f5e-4f43-9d1b-0e6d1d2a9c11",
            "ClusterArn": cluster,
            "ClusterName": "train",
            "EventTime": 1748794825350,
            "ResourceType": "Instance",
            "EventLevel": "Error",
            "InstanceGroupName": "workers",
            "InstanceId": "i-0123456789abcdef0",
            "Description": "Reboot of EC2 Instance i-0123456789abcdef0 failed",
        }
    }
    return envelope("aws.sagemaker", "SageMaker HyperPod Cluster Event", detail, [cluster])


def cluster_scope_event(cluster: str = CLUSTER_A) -> Event:
    event = cluster_event(cluster)
    details = event["detail"]["EventDetails"]
    for key in ("InstanceGroupName", "InstanceId"):
        del details[key]
    details.update(ResourceType="Cluster", EventLevel="Info", Description="Cluster train is InService")
    return event


def cluster_state(cluster: str = CLUSTER_A) -> Event:
    detail = {
        "ClusterArn": cluster,
        "ClusterName": "train",
        "ClusterStatus": "InService",
        "NodeRecovery": "None",
    }
    return envelope("aws.sagemaker", "SageMaker HyperPod Cluster State Change", detail, [cluster])


def training_job() -> Event:
    detail = {"TrainingJobName": "x", "TrainingJobStatus": "Failed"}
    return envelope("aws.sagemaker", "SageMaker Training Job State Change", detail, [])


def spoofed_node_health() -> Event:
    event = node_health()
    event["source"] = "custom.hyperpod"
    return event


def selftest_node_health(cluster_name: str = f"{RESERVED_CLUSTER_PREFIX}0a1b2c3d") -> Event:
    """`autoheal selftest`'s event: the self-test source, a Node Health Event naming a cluster by name."""
    event = node_health()
    event["source"] = SELFTEST_SOURCE
    event["resources"] = []
    detail = dict(event["detail"])
    detail["ClusterName"] = cluster_name
    del detail["ClusterArn"]
    event["detail"] = detail
    return event


def health(service: str = "EC2", detail_type: str = "AWS Health Event") -> Event:
    instance = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"
    detail = {
        "eventArn": "arn:aws:health:us-east-1::event/EC2/AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED/x",
        "service": service,
        "eventTypeCode": f"AWS_{service}_INSTANCE_RETIREMENT_SCHEDULED",
        "eventTypeCategory": "scheduledChange",
        "statusCode": "upcoming",
        "affectedEntities": [{"entityValue": instance}],
    }
    return envelope("aws.health", detail_type, detail, [instance])


def alarm(name: str = "autoheal:gpu-xid-train", state: str = "ALARM", previous: str = "OK") -> Event:
    detail = {
        "alarmName": name,
        "state": {"value": state, "reason": "threshold crossed", "reasonData": "{}"},
        "previousState": {"value": previous, "reason": "", "reasonData": "{}"},
        "configuration": {
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "namespace": "Custom/HyperPod",
                            "name": "XidErrors",
                            "dimensions": {"InstanceId": "i-0123456789abcdef0", "ClusterName": "train"},
                        },
                        "period": 60,
                        "stat": "Sum",
                    },
                }
            ]
        },
    }
    arn = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}"
    return envelope("aws.cloudwatch", "CloudWatch Alarm State Change", detail, [arn])


def alarm_configuration_change() -> Event:
    event = alarm()
    event["detail-type"] = "CloudWatch Alarm Configuration Change"
    return event


def contributor(
    name: str = "autoheal:hma-train", state: str = "ALARM", attributes: Mapping[str, str] | None = None
) -> Event:
    """`CloudWatch Alarm Contributor State Change`: one time series of a Metrics Insights alarm (no
    previousState; the contributor's attributes are its GROUP BY dimensions)."""
    stream = "SagemakerHealthMonitoringAgent/gpu/i-0123456789abcdef0"
    detail = {
        "alarmName": name,
        "alarmContributor": {
            "id": "6d442278dba546f6",
            "attributes": dict(attributes or {"ClusterName": "train", HMA_STREAM_DIMENSION: stream}),
        },
        "state": {"value": state, "reason": "threshold crossed", "timestamp": "2026-11-25T07:00:00.000+0000"},
        "configuration": {"metrics": [{"id": "q1", "expression": "SELECT ...", "returnData": True}]},
    }
    arn = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}"
    return envelope("aws.cloudwatch", "CloudWatch Alarm Contributor State Change", detail, [arn])


def _pattern(function: str, rule: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    pattern = props(function)["Events"][rule]["Properties"]["Pattern"]
    resolved: dict[str, Any] = Resolver(T, parameters=parameters).resolve(pattern)
    return resolved


def rule_pattern(rule: str, **parameters: str) -> dict[str, Any]:
    return _pattern(INTAKE_FUNCTION, rule, parameters)


def branches(pattern: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A pattern's alternatives: the branches of a top-level `$or`, else the pattern itself."""
    return [dict(b) for b in pattern["$or"]] if "$or" in pattern else [dict(pattern)]


def reconcile_matches(event: Event, **parameters: str) -> bool:
    """Whether reconcile's Cluster Event rule (as deployed with `parameters`) matches `event`."""
    pattern = json.dumps(_pattern(RECONCILE_FUNCTION, "ClusterEvents", parameters))
    return bool(EventPattern.load(pattern).matches_event(event))  # type: ignore[arg-type]


def matching_rules(event: Event, **parameters: str) -> set[str]:
    """Rules whose pattern (as deployed with `parameters`) matches `event`, per moto's EventBridge."""
    return {
        rule
        for rule in RULES
        if EventPattern.load(json.dumps(rule_pattern(rule, **parameters))).matches_event(event)  # type: ignore[arg-type]
    }


SAMPLES: dict[str, tuple[Event, set[str]]] = {
    "node health": (node_health(), {"HyperPodEvents"}),
    "cluster event": (cluster_event(), {"HyperPodEvents"}),
    "cluster state change": (cluster_state(), {"HyperPodEvents"}),
    "training job (other SageMaker)": (training_job(), set()),
    "HyperPod detail-type from a custom source": (spoofed_node_health(), set()),
    "self-test, reserved cluster name": (selftest_node_health(), {"HyperPodEvents"}),
    "self-test naming a real cluster": (selftest_node_health("train"), set()),
    "self-test with the prefix inside the name": (selftest_node_health("x-autoheal-selftest-1"), set()),
    "health EC2 (no rule: replay only)": (health(), set()),
    "health RDS": (health(service="RDS"), set()),
    "health abuse event": (health(detail_type="AWS Health Abuse Event"), set()),
    "alarm OK -> ALARM": (alarm(), {"AlarmEvents"}),
    "alarm INSUFFICIENT_DATA -> ALARM": (alarm(previous="INSUFFICIENT_DATA"), {"AlarmEvents"}),
    "alarm ALARM -> OK": (alarm(state="OK", previous="ALARM"), set()),
    "alarm -> INSUFFICIENT_DATA": (alarm(state="INSUFFICIENT_DATA"), set()),
    "alarm configuration change": (alarm_configuration_change(), set()),
    "alarm contributor -> ALARM": (contributor(), {"AlarmEvents"}),
    "alarm contributor -> OK": (contributor(state="OK"), set()),
}


@pytest.mark.parametrize(("event", "expected"), SAMPLES.values(), ids=SAMPLES.keys())
def test_each_sample_event_matches_exactly_its_rule(event: Event, expected: set[str]) -> None:
    assert matching_rules(event) == expected


@pytest.mark.parametrize(
    ("parameters", "event", "expected"),
    [
        ({"ClusterArns": f"{CLUSTER_A},{CLUSTER_B}"}, node_health(CLUSTER_A), {"HyperPodEvents"}),
        ({"ClusterArns": f"{CLUSTER_A}, {CLUSTER_B}"}, cluster_event(CLUSTER_B), {"HyperPodEvents"}),
        ({"ClusterArns": f"{CLUSTER_A},{CLUSTER_B}"}, cluster_state(CLUSTER_C), set()),
        ({"ClusterArns": ""}, node_health(CLUSTER_C), {"HyperPodEvents"}),
        ({"ClusterArns": f"{CLUSTER_A},{CLUSTER_B}"}, selftest_node_health(), {"HyperPodEvents"}),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="hyperpod-gpu-xid"), {"AlarmEvents"}),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="gpu-xid-hyperpod-"), set()),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="hyperpod-gpu", state="OK"), set()),
        ({"AlarmNamePrefix": ""}, alarm(name="anything"), {"AlarmEvents"}),
        ({"AlarmNamePrefix": "hyperpod-"}, contributor(name="hyperpod-hma"), {"AlarmEvents"}),
        ({"AlarmNamePrefix": "hyperpod-"}, contributor(name="hma-hyperpod-"), set()),
        ({}, alarm(name="ServerCpuTooHigh"), set()),
        ({}, alarm(name="hyperpod-autoheal-intake-errors"), set()),
        ({"AlarmNamePrefix": ""}, alarm(name="hyperpod-autoheal-intake-errors"), set()),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="hyperpod-autoheal-intake-errors"), set()),
    ],
    ids=[
        "cluster in scope",
        "second cluster in scope (spaces trimmed)",
        "cluster out of scope",
        "empty scope means all clusters",
        "the self-test is not scoped (its cluster cannot exist)",
        "alarm name has prefix",
        "prefix only matches at the start",
        "prefix still needs ALARM",
        "empty prefix means all alarms",
        "contributor of an alarm with the prefix",
        "contributor of an alarm without it",
        "default prefix: an alarm not named for autoheal",
        "default prefix: the stack's own alarm",
        "empty prefix: still not the stack's own alarm",
        "a prefix the stack's own alarm names start with",
    ],
)
def test_optional_scoping_parameters(parameters: dict[str, str], event: Event, expected: set[str]) -> None:
    assert matching_rules(event, **parameters) == expected


def test_unscoped_patterns_have_no_leftover_filters() -> None:
    assert all("resources" not in branch for branch in branches(rule_pattern("HyperPodEvents")))
    assert "alarmName" not in rule_pattern("AlarmEvents", AlarmNamePrefix="")["detail"]
    assert rule_pattern("AlarmEvents")["detail"]["alarmName"] == [{"prefix": "autoheal:"}]
    assert rule_pattern("AlarmEvents", AlarmNamePrefix="hp-")["detail"]["alarmName"] == [{"prefix": "hp-"}]


def test_rules_subscribe_to_exactly_the_pairs_intake_can_parse_but_health() -> None:
    """Intake parses AWS Health events for `autoheal replay`; no rule subscribes it to them."""
    subscribed = {
        (source, detail_type)
        for rule in RULES
        for branch in branches(rule_pattern(rule))
        for source in branch["source"]
        for detail_type in branch["detail-type"]
    }
    assert subscribed == set(ROUTES) - REPLAY_ONLY_ROUTES


def test_no_rule_of_any_function_matches_aws_health() -> None:
    """HyperPod's instances live in the SageMaker HyperPod service account: an EC2 Health event in this
    account is about one of its own instances, never a cluster node (README, "AWS Health")."""
    cfn = transformed()["Resources"]
    rules = [r["Properties"] for r in cfn.values() if r["Type"] == "AWS::Events::Rule"]
    patterns = [r["EventPattern"] for r in rules if "EventPattern" in r]
    assert patterns and all("aws.health" not in json.dumps(p) for p in patterns)
    assert "HealthEvents" not in props(INTAKE_FUNCTION)["Events"]


def test_the_selftest_source_is_matched_only_for_the_reserved_cluster_prefix() -> None:
    """The rule's branch for the self-test source names the prefix intake and remediate enforce."""
    (selftest,) = [b for b in branches(rule_pattern("HyperPodEvents")) if b["source"] == [SELFTEST_SOURCE]]
    assert selftest["detail"] == {"ClusterName": [{"prefix": RESERVED_CLUSTER_PREFIX}]}
    assert "resources" not in selftest  # ClusterArns scopes real clusters; the self-test's cannot exist


def _expected_rule(event: Mapping[str, Any]) -> set[str]:
    """What a sample file should hit, from the documented shapes (independent of the template)."""
    source, detail_type, detail = event.get("source"), event.get("detail-type"), event.get("detail", {})
    if source == "aws.sagemaker" and str(detail_type).startswith("SageMaker HyperPod Cluster"):
        return {"HyperPodEvents"}
    if source == SELFTEST_SOURCE and str(detail.get("ClusterName", "")).startswith(RESERVED_CLUSTER_PREFIX):
        return {"HyperPodEvents"}
    alarm_change = source == "aws.cloudwatch" and detail_type in (
        "CloudWatch Alarm State Change",
        "CloudWatch Alarm Contributor State Change",
    )
    if alarm_change and detail.get("state", {}).get("value") == "ALARM":
        return {"AlarmEvents"}
    return set()


#: Samples that are not EventBridge events: CloudWatch Logs deliveries of HMA records (decoded, and as
#: the `{"awslogs": ...}` Lambda event, `*.invoke.json`).
HMA_SAMPLES = REPO_ROOT / "events" / "hma"


def _event_files() -> Iterator[Path]:
    events = REPO_ROOT / "events"
    yield from sorted(p for p in events.glob("**/*.json") if not p.is_relative_to(HMA_SAMPLES))


def _hma_invoke_files() -> list[Path]:
    return sorted(HMA_SAMPLES.glob("*.invoke.json"))


@pytest.mark.parametrize("path", list(_event_files()), ids=lambda p: p.name)
def test_sample_event_files_match_the_rule_they_are_for(path: Path) -> None:
    event = json.loads(path.read_text())
    if not isinstance(event, dict) or "detail-type" not in event:
        pytest.skip(f"{path.name} is not a single EventBridge event")
    assert matching_rules(event) == _expected_rule(event)


def test_the_alarm_contributor_sample_is_among_the_rule_samples() -> None:
    names = {p.name for p in _event_files()}
    assert "alarm-contributor-hma-stream.json" in names
    assert not any(p.is_relative_to(HMA_SAMPLES) for p in _event_files())


@pytest.mark.parametrize("path", _hma_invoke_files(), ids=lambda p: p.name)
def test_hma_invoke_samples_are_cloudwatch_logs_lambda_events(path: Path) -> None:
    """What the subscription filter hands the function: `{"awslogs": {"data": <base64>}}`, nothing else."""
    event = json.loads(path.read_text())
    assert isinstance(event, dict) and set(event) == {"awslogs"}
    assert set(event["awslogs"]) == {"data"} and isinstance(event["awslogs"]["data"], str)
    base64.b64decode(event["awslogs"]["data"], validate=True)  # a deliberately broken sample may not gunzip


def test_there_are_hma_invoke_samples() -> None:
    assert len(_hma_invoke_files()) >= 3


@pytest.mark.parametrize("function", EVENT_FUNCTIONS)
def test_every_rule_retries_and_dead_letters_to_its_function_dlq(function: str) -> None:
    rules, dlq = EVENT_FUNCTIONS[function]
    events = props(function)["Events"]
    assert set(events) == set(rules)
    for rule in rules:
        rule_props = events[rule]["Properties"]
        assert events[rule]["Type"] in ("EventBridgeRule", "Schedule")
        assert set(rule_props["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
        assert rule_props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}


def test_each_dlq_policy_lets_exactly_its_function_rules_write() -> None:
    cfn = transformed()["Resources"]
    rules = {lid for lid, r in cfn.items() if r["Type"] == "AWS::Events::Rule"}
    assert rules == {fn + rule for fn, (fn_rules, _) in EVENT_FUNCTIONS.items() for rule in fn_rules}
    for function, (fn_rules, dlq) in EVENT_FUNCTIONS.items():
        own = {function + rule for rule in fn_rules}
        for lid in own:
            (target,) = cfn[lid]["Properties"]["Targets"]
            assert target["Arn"] == {"Fn::GetAtt": [function, "Arn"]}
            assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [dlq, "Arn"]}}
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        (statement,) = cfn[f"{dlq}Policy"]["Properties"]["PolicyDocument"]["Statement"]
        assert cfn[f"{dlq}Policy"]["Properties"]["Queues"] == [{"Ref": dlq}]
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [dlq, "Arn"]}
        sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
        assert {s["Fn::GetAtt"][0] for s in sources} == own


@pytest.mark.parametrize("function", ASYNC_FUNCTIONS)
def test_handler_failures_go_to_the_function_dlq(function: str) -> None:
    config = props(function)["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": [ASYNC_FUNCTIONS[function], "Arn"]},
    }


# ---------------------------------------------------------------- reconcile: schedule and Cluster Events

# EventBridge's rate(): "rate(1 minute)", "rate(N minutes)" for N > 1; "rate(1 minutes)" is rejected.
RATE = re.compile(r"rate\((?:1 minute|(?:[2-9]|[1-9][0-9]+) minutes)\)")


@pytest.mark.parametrize(
    ("interval", "expression"),
    [
        (None, "rate(2 minutes)"),
        ("1", "rate(1 minute)"),
        ("2", "rate(2 minutes)"),
        ("60", "rate(60 minutes)"),
    ],
)
def test_reconcile_runs_on_a_schedule_set_by_its_parameter(interval: str | None, expression: str) -> None:
    event = props(RECONCILE_FUNCTION)["Events"]["Schedule"]
    assert event["Type"] == "Schedule"
    parameters = {} if interval is None else {"ReconcileIntervalMinutes": interval}
    resolved = Resolver(T, parameters=parameters).resolve(event["Properties"]["Schedule"])
    assert resolved == expression
    assert RATE.fullmatch(resolved)
    spec = T["Parameters"]["ReconcileIntervalMinutes"]
    assert (spec["Type"], spec["Default"], spec["MinValue"], spec["MaxValue"]) == ("Number", 2, 1, 60)


def test_reconcile_schedule_gives_up_on_a_tick_the_next_one_supersedes() -> None:
    retry = props(RECONCILE_FUNCTION)["Events"]["Schedule"]["Properties"]["RetryPolicy"]
    assert retry["MaximumEventAgeInSeconds"] == 60  # EventBridge's minimum, and the shortest interval


def test_reconcile_code_handler_and_timeout() -> None:
    assert function_setting(RECONCILE_FUNCTION, "Timeout") == 300
    assert props(RECONCILE_FUNCTION)["CodeUri"] == "functions/reconcile/"
    assert props(RECONCILE_FUNCTION)["Handler"] == "app.lambda_handler"
    assert "Layers" not in props(RECONCILE_FUNCTION)  # the shared layer comes from Globals


def test_reconcile_cluster_event_rule_matches_the_replacement_failed_sample() -> None:
    event = json.loads((REPO_ROOT / "events" / "cluster-event-replacement-failed.json").read_text())
    assert reconcile_matches(event)


@pytest.mark.parametrize(
    "path", sorted((REPO_ROOT / "events").glob("cluster-event-*.json")), ids=lambda p: p.name
)
def test_reconcile_sees_every_instance_cluster_event_sample(path: Path) -> None:
    event = json.loads(path.read_text())
    assert event["detail"]["EventDetails"]["ResourceType"] == "Instance"
    assert reconcile_matches(event)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (cluster_event(), True),
        (cluster_scope_event(), False),
        (node_health(), False),
        (cluster_state(), False),
        (training_job(), False),
        ({**cluster_event(), "source": "custom.hyperpod"}, False),
    ],
    ids=["instance event", "cluster-scope event", "node health", "state change", "training job", "spoofed"],
)
def test_reconcile_rule_takes_only_instance_cluster_events(event: Event, expected: bool) -> None:
    assert reconcile_matches(event) is expected


def test_reconcile_rule_is_scoped_like_intake() -> None:
    scope = {"ClusterArns": f"{CLUSTER_A},{CLUSTER_B}"}
    assert reconcile_matches(cluster_event(CLUSTER_B), **scope)
    assert not reconcile_matches(cluster_event(CLUSTER_C), **scope)
    assert "resources" not in _pattern(RECONCILE_FUNCTION, "ClusterEvents", {})
    assert (
        props(RECONCILE_FUNCTION)["Events"]["ClusterEvents"]["Properties"]["Pattern"]["resources"]
        == props(INTAKE_FUNCTION)["Events"]["HyperPodEvents"]["Properties"]["Pattern"]["$or"][0]["resources"]
    )


# ---------------------------------------------------------------- fault queue and remediate


def test_remediate_polls_the_fault_queue_with_partial_batch_failures() -> None:
    events = props(REMEDIATE_FUNCTION)["Events"]
    (sqs,) = (e for e in events.values() if e["Type"] == "SQS")
    p = sqs["Properties"]
    assert p["Queue"] == {"Fn::GetAtt": [FAULT_QUEUE, "Arn"]}
    assert p["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert p["BatchSize"] == {"Ref": "BatchSize"}
    assert p["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchingWindowSeconds"}
    params = T["Parameters"]
    assert (
        params["BatchSize"]["Default"],
        params["BatchSize"]["MinValue"],
        params["BatchSize"]["MaxValue"],
    ) == (
        1000,
        1,
        10000,
    )
    window = params["BatchingWindowSeconds"]
    assert (window["Default"], window["MinValue"], window["MaxValue"]) == (20, 0, 300)


def test_dead_letters_are_on_the_queue_not_the_sqs_polled_function() -> None:
    assert "DeadLetterQueue" not in props(REMEDIATE_FUNCTION)
    assert "DeadLetterQueue" not in GLOBAL_FUNCTION
    redrive = props(FAULT_QUEUE)["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [FAULT_DLQ, "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert T["Parameters"]["MaxReceiveCount"]["Default"] == 5


def test_visibility_timeout_covers_six_remediate_timeouts_plus_the_batching_window() -> None:
    timeout = int(function_setting(REMEDIATE_FUNCTION, "Timeout"))
    longest_window = int(T["Parameters"]["BatchingWindowSeconds"]["MaxValue"])
    assert int(props(FAULT_QUEUE)["VisibilityTimeout"]) >= 6 * timeout + longest_window


@pytest.mark.parametrize("logical_id", [FAULT_QUEUE, FAULT_DLQ, INTAKE_DLQ, RECONCILE_DLQ])
def test_queues_are_encrypted(logical_id: str) -> None:
    p = props(logical_id)
    assert p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p


@pytest.mark.parametrize("logical_id", [FAULT_DLQ, INTAKE_DLQ, RECONCILE_DLQ])
def test_dead_letter_queues_keep_messages_fourteen_days(logical_id: str) -> None:
    assert props(logical_id)["MessageRetentionPeriod"] == FOURTEEN_DAYS


# ---------------------------------------------------------------- ledger, topic, logs, outputs


def test_ledger_table_keys_index_ttl_pitr_and_encryption() -> None:
    p = props(LEDGER_TABLE)
    assert p["BillingMode"] == "PAY_PER_REQUEST"
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    types = {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "open_cluster": "S", "updated_at": "S"}
    (gsi,) = p["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == "open-index"
    assert gsi["KeySchema"] == [
        {"AttributeName": "open_cluster", "KeyType": "HASH"},
        {"AttributeName": "updated_at", "KeyType": "RANGE"},
    ]
    assert gsi["Projection"] == {"ProjectionType": "ALL"}
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["SSESpecification"]["SSEEnabled"] is True


def test_needs_human_topic_is_encrypted_and_email_is_optional() -> None:
    # our own key (tests/unit/test_dashboard.py checks its policy): alarms cannot publish under aws/sns
    assert props(NEEDS_HUMAN_TOPIC)["KmsMasterKeyId"] == {"Fn::GetAtt": ["NeedsHumanTopicKey", "Arn"]}
    subscriptions = [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscriptions, "no email subscription"
    for subscription in subscriptions:
        assert subscription["Condition"] == "HasNotificationEmail"
    assert Resolver(T).condition("HasNotificationEmail") is False
    assert Resolver(T, parameters={"NotificationEmail": "ops@example.com"}).condition("HasNotificationEmail")


def test_one_log_group_per_function_with_retention() -> None:
    groups = [r for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    names = sorted(g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups)
    assert names == sorted(f"/aws/lambda/${{{fn}}}" for fn in FUNCTIONS)
    assert all(g["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    assert T["Parameters"]["LogRetentionDays"]["Default"] == 30
    for group in groups:  # a conditional function's log group exists exactly when the function does
        function = group["Properties"]["LogGroupName"]["Fn::Sub"].removeprefix("/aws/lambda/${")[:-1]
        assert group.get("Condition") == RESOURCES[function].get("Condition"), function


def test_outputs_name_the_queues_table_topic_and_functions() -> None:
    values = [o["Value"] for o in T["Outputs"].values()]
    for logical_id in (FAULT_QUEUE, FAULT_DLQ, INTAKE_DLQ, RECONCILE_DLQ, LEDGER_TABLE, NEEDS_HUMAN_TOPIC):
        assert {"Ref": logical_id} in values
    for logical_id in FUNCTIONS:
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in values
    for output in T["Outputs"].values():  # an output of a conditional function shares its condition
        target = output["Value"].get("Fn::GetAtt", [None])[0] if isinstance(output["Value"], dict) else None
        if target in FUNCTIONS:
            assert output.get("Condition") == RESOURCES[target].get("Condition"), target


# ---------------------------------------------------------------- settings agree with the env


#: pydantic constraint -> (template parameter key, how the parameter's value must relate to it).
_CONSTRAINTS: dict[str, tuple[str, Any]] = {
    "ge": ("MinValue", lambda spec, bound: spec >= bound),
    "gt": ("MinValue", lambda spec, bound: spec > bound),
    "le": ("MaxValue", lambda spec, bound: spec <= bound),
    "lt": ("MaxValue", lambda spec, bound: spec < bound),
    "min_length": ("MinLength", lambda spec, bound: spec >= bound),
    "max_length": ("MaxLength", lambda spec, bound: spec <= bound),
}


def _constraints(field_name: str) -> dict[str, Any]:
    """The Field constraints (ge, gt, le, lt, min_length, max_length) of a Settings field."""
    found: dict[str, Any] = {}
    for constraint in Settings.model_fields[field_name].metadata:
        for attr in _CONSTRAINTS:
            if getattr(constraint, attr, None) is not None:
                found[attr] = getattr(constraint, attr)
    return found


def _field(variable: str) -> str:
    return variable.removeprefix("AUTOHEAL_").lower()


def _from_env(variable: str, raw: str) -> Any:
    """What a function's settings make of `variable=raw` (Lambda passes every value as a string)."""
    return getattr(load_settings({variable: raw}), _field(variable))


#: AUTOHEAL_* variable -> the template parameter it is set from (in any function).
PARAMETER_VARIABLES = {
    name: value["Ref"]
    for fn in FUNCTIONS
    for name, value in template_function_env(T, fn).items()
    if name.startswith("AUTOHEAL_") and isinstance(value, dict) and value.get("Ref") in T["Parameters"]
}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_autoheal_variable_is_a_settings_field(logical_id: str) -> None:
    names = [n for n in template_function_env(T, logical_id) if n.startswith("AUTOHEAL_")]
    assert names
    unknown = [n for n in names if n.removeprefix("AUTOHEAL_").lower() not in Settings.model_fields]
    assert unknown == []


@pytest.mark.parametrize(("variable", "parameter"), sorted(PARAMETER_VARIABLES.items()))
def test_parameter_defaults_and_ranges_agree_with_settings(variable: str, parameter: str) -> None:
    """Through the string CloudFormation hands the function: the default parses back to the Settings
    default, the bounds lie within the Field's and are themselves accepted, booleans are "true"/"false"."""
    spec = T["Parameters"][parameter]
    field = Settings.model_fields[_field(variable)]
    assert _from_env(variable, str(spec["Default"])) == field.default
    for attr, bound in _constraints(_field(variable)).items():
        key, within = _CONSTRAINTS[attr]
        assert key in spec, f"{parameter} lacks {key} for the field's {attr}={bound}"
        assert within(spec[key], bound), f"{parameter}: {key}={spec[key]} vs {attr}={bound}"
    for key in ("MinValue", "MaxValue"):
        if key in spec:
            _from_env(variable, str(spec[key]))  # raises SettingsError when the bound is not accepted
    if field.annotation in (int, float):
        assert spec["Type"] == "Number"
        assert {"MinValue", "MaxValue"} <= set(spec)
    if field.annotation is float:  # a Number parameter may carry decimals; a float field takes them
        assert _from_env(variable, "12.5") == 12.5
    if field.annotation is bool:
        assert (spec["Type"], spec["AllowedValues"]) == ("String", ["true", "false"])
        assert [_from_env(variable, v) for v in spec["AllowedValues"]] == [True, False]
    for allowed in spec.get("AllowedValues", []):
        _from_env(variable, str(allowed))


POLICY_KNOBS = {
    "AUTOHEAL_REBOOT_TIMEOUT_MINUTES": "RebootTimeoutMinutes",
    "AUTOHEAL_REPLACE_TIMEOUT_MINUTES": "ReplaceTimeoutMinutes",
    "AUTOHEAL_ESCALATION_WINDOW_MINUTES": "EscalationWindowMinutes",
    "AUTOHEAL_REPLACE_BUDGET": "ReplaceBudget",
    "AUTOHEAL_REPLACE_BUDGET_WINDOW_HOURS": "ReplaceBudgetWindowHours",
    "AUTOHEAL_MAX_TRANSIENT_RETRIES": "MaxTransientRetries",
    "AUTOHEAL_RETRY_BACKOFF_SECONDS": "RetryBackoffSeconds",
    "AUTOHEAL_HEALTHY_DELAY_MINUTES": "HealthyDelayMinutes",
    "AUTOHEAL_REDRIVE_AFTER_MINUTES": "RedriveAfterMinutes",
    "AUTOHEAL_CAPACITY_COOLDOWN_MINUTES": "CapacityCooldownMinutes",
    "AUTOHEAL_HOLD_CEILING_HOURS": "HoldCeilingHours",
}
#: The safety guards (issue 5): part of the same RemediationPolicy, so remediate and reconcile get them all.
GUARD_KNOBS = {
    "AUTOHEAL_DRY_RUN": "DryRun",
    "AUTOHEAL_BREAKER_WINDOW_MINUTES": "BreakerWindowMinutes",
    "AUTOHEAL_BREAKER_GROUP_MAX_NODES": "BreakerGroupMaxNodes",
    "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT": "BreakerGroupMaxPercent",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES": "BreakerClusterMaxNodes",
    "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT": "BreakerClusterMaxPercent",
    "AUTOHEAL_FLEET_BREAKER_CLUSTERS": "FleetBreakerClusters",
    "AUTOHEAL_FLEET_BREAKER_PERCENT": "FleetBreakerPercent",
    "AUTOHEAL_FLEET_SIZE_TTL_MINUTES": "FleetSizeTtlMinutes",
    "AUTOHEAL_NODE_COOLDOWN_MINUTES": "NodeCooldownMinutes",
    "AUTOHEAL_NODE_ACTION_BUDGET": "NodeActionBudget",
    "AUTOHEAL_NODE_ACTION_BUDGET_WINDOW_HOURS": "NodeActionBudgetWindowHours",
    "AUTOHEAL_PROTECTED_NODE_TYPES": "ProtectedNodeTypes",
    "AUTOHEAL_ALLOWED_GROUPS": "AllowedGroups",
    "AUTOHEAL_DENIED_GROUPS": "DeniedGroups",
    "AUTOHEAL_OPT_OUT_TAG": "OptOutTag",
    "AUTOHEAL_DEFER_TO_HYPERPOD": "DeferToHyperPod",
    "AUTOHEAL_MAX_EVENT_AGE_MINUTES": "MaxEventAgeMinutes",
}
#: Policy knobs a function does not read (remediate never re-drives: reconcile does).
NOT_READ = {REMEDIATE_FUNCTION: {"AUTOHEAL_REDRIVE_AFTER_MINUTES"}, RECONCILE_FUNCTION: set[str]()}


@pytest.mark.parametrize("function", [REMEDIATE_FUNCTION, RECONCILE_FUNCTION])
def test_policy_functions_get_their_knobs_from_constrained_parameters(function: str) -> None:
    env = template_function_env(T, function)
    expected = {v: {"Ref": p} for v, p in POLICY_KNOBS.items() if v not in NOT_READ[function]}
    assert {v: env[v] for v in POLICY_KNOBS if v in env} == expected
    for parameter in POLICY_KNOBS.values():
        assert {"Type", "Default", "MinValue", "MaxValue"} <= set(T["Parameters"][parameter])
    for variable in ("AUTOHEAL_TABLE_NAME", "AUTOHEAL_QUEUE_URL", "AUTOHEAL_TOPIC_ARN"):
        assert env[variable] == template_function_env(T, REMEDIATE_FUNCTION)[variable]


@pytest.mark.parametrize("function", [REMEDIATE_FUNCTION, RECONCILE_FUNCTION])
def test_policy_functions_get_every_safety_guard_from_its_parameter(function: str) -> None:
    env = template_function_env(T, function)
    assert {v: env.get(v) for v in GUARD_KNOBS} == {v: {"Ref": p} for v, p in GUARD_KNOBS.items()}


def _parameter_groups() -> dict[str, list[str]]:
    interface = T["Metadata"]["AWS::CloudFormation::Interface"]
    return {g["Label"]["default"]: g["Parameters"] for g in interface["ParameterGroups"]}


def test_every_parameter_is_in_one_console_group_and_the_guards_in_theirs() -> None:
    grouped = [p for parameters in _parameter_groups().values() for p in parameters]
    assert sorted(grouped) == sorted(T["Parameters"])
    assert set(_parameter_groups()["Safety guards"]) == set(GUARD_KNOBS.values())


PATTERN_CASES = [
    ("ProtectedNodeTypes", "Controller,Login", True),
    ("ProtectedNodeTypes", "Controller", True),
    ("ProtectedNodeTypes", "Login,Controller,Compute", True),
    ("ProtectedNodeTypes", "Login", False),  # the controller is never replaced (issue 5)
    ("ProtectedNodeTypes", "", False),
    ("ProtectedNodeTypes", "Controller, Login", False),
    ("ProtectedNodeTypes", "Controller,Worker", False),
    ("AllowedGroups", "", True),
    ("AllowedGroups", "workers", True),
    ("AllowedGroups", "gpu-workers,cpu--pool2", True),
    ("DeniedGroups", "login-group", True),
    ("DeniedGroups", "workers,", False),
    ("DeniedGroups", "-workers", False),
    ("DeniedGroups", "a b", False),
    ("DeniedGroups", "gpu_workers", False),
    ("HmaIgnoredXids", "", True),
    ("HmaIgnoredXids", "13", True),
    ("HmaIgnoredXids", "13,31,43,45,94", True),
    ("HmaIgnoredXids", "13, 31", False),
    ("HmaIgnoredXids", "1234", False),
    ("HmaIgnoredXids", "13,", False),
    ("HmaIgnoredXids", "xid13", False),
    ("HmaAlarmLogGroupName", "", True),
    ("HmaAlarmLogGroupName", "/aws/sagemaker/Clusters/ml-cluster/abcdef012345", True),
    ("HmaAlarmLogGroupName", "/aws/sagemaker/Clusters/ml-cluster/abcdef01234", False),
    ("HmaAlarmLogGroupName", "/aws/sagemaker/Clusters/ml-cluster", False),
    ("HmaAlarmLogGroupName", "/aws/sagemaker/Clusters/-ml/abcdef012345", False),
    ("HmaAlarmLogGroupName", "/aws/lambda/ml-cluster/abcdef012345", False),
    # a CommaDelimitedList's AllowedPattern applies to each name of the list
    ("SignalFirstRung", "", True),
    ("SignalFirstRung", "XidError:64=replace", True),
    ("SignalFirstRung", "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED=reboot", True),
    ("SignalFirstRung", "XidError:31=none", True),
    ("SignalFirstRung", "XidError:31=ignore", False),
    ("SignalFirstRung", "XidError:31", False),
    ("SignalFirstRung", "Xid Error=reboot", False),
    ("HmaLogGroupNames", "", True),
    ("HmaLogGroupNames", "/aws/sagemaker/Clusters/a/abcdef012345", True),
    ("HmaLogGroupNames", "/aws/sagemaker/Clusters/a/abcdef012345/", False),
    ("HmaLogGroupNames", "/aws/sagemaker/Clusters/a b/abcdef012345", False),
]


@pytest.mark.parametrize(("parameter", "value", "accepted"), PATTERN_CASES)
def test_list_parameters_accept_only_what_settings_understands(
    parameter: str, value: str, accepted: bool
) -> None:
    spec = T["Parameters"][parameter]
    assert bool(re.fullmatch(spec["AllowedPattern"], value)) is accepted
    assert re.fullmatch(spec["AllowedPattern"], str(spec["Default"]))


def test_hma_ignored_xids_parameter_allows_exactly_the_settings_pattern() -> None:
    """HmaIgnoredXids is a String with a pattern (no Number bounds to compare): the same regex both sides."""
    (pattern,) = (
        m.pattern for m in Settings.model_fields["hma_ignored_xids"].metadata if hasattr(m, "pattern")
    )
    assert T["Parameters"]["HmaIgnoredXids"]["AllowedPattern"] == pattern
    assert PARAMETER_VARIABLES["AUTOHEAL_HMA_IGNORED_XIDS"] == "HmaIgnoredXids"


@pytest.mark.parametrize("function", [REMEDIATE_FUNCTION, RECONCILE_FUNCTION])
def test_the_signal_table_overrides_reach_both_policy_functions_as_one_string(function: str) -> None:
    """SignalFirstRung is a CommaDelimitedList (its pattern checks each entry); Lambda takes a string."""
    env = template_function_env(T, function)
    assert env["AUTOHEAL_SIGNAL_FIRST_RUNG"] == {"Fn::Join": [",", {"Ref": "SignalFirstRung"}]}
    spec = T["Parameters"]["SignalFirstRung"]
    assert (spec["Type"], spec["Default"]) == ("CommaDelimitedList", "")
    assert load_settings({"AUTOHEAL_SIGNAL_FIRST_RUNG": "XidError:64=replace,XidError:31=none"})


def test_every_settings_field_is_set_by_the_template() -> None:
    """A field added to Settings with no parameter behind it would silently keep its default when deployed."""
    set_somewhere = {
        name for fn in FUNCTIONS for name in template_function_env(T, fn) if name.startswith("AUTOHEAL_")
    }
    assert set_somewhere == {f"AUTOHEAL_{name.upper()}" for name in Settings.model_fields}


@pytest.mark.parametrize("function", [INTAKE_FUNCTION, HMA_INTAKE_FUNCTION])
def test_intake_gets_no_policy_knobs(function: str) -> None:
    assert not set(template_function_env(T, function)) & (set(POLICY_KNOBS) | set(GUARD_KNOBS))


# ---------------------------------------------------------------- HMA log records (issue 9, docs/hma.md)

HMA_SLOTS = 5
HMA_LOG_GROUP = "/aws/sagemaker/Clusters/ml-cluster/abcdef012345"
HMA_NODE = "i-0123456789abcdef0"
HMA_STREAM = f"SagemakerHealthMonitoringAgent/gpu/{HMA_NODE}"
HMA_ALARM_RESOURCES = ("HmaAlarmTransformer", "HmaAlarmMetricFilter", "HmaDetectionsAlarm")


def hma_log_groups(count: int) -> list[str]:
    return [f"/aws/sagemaker/Clusters/cluster-{i}/{i:012d}" for i in range(1, count + 1)]


def deployed(parameters: Mapping[str, str]) -> tuple[Resolver, dict[str, Any]]:
    """The transformed template's resources that a deployment with `parameters` creates."""
    cfn = transformed()
    resolver = Resolver(cfn, parameters=parameters)
    resources = {
        lid: r
        for lid, r in cfn["Resources"].items()
        if "Condition" not in r or resolver.condition(r["Condition"])
    }
    return resolver, resources


def _hma_resources(resources: Mapping[str, Any]) -> set[str]:
    return {lid for lid in resources if lid.startswith("Hma")}


def test_hma_parameters() -> None:
    params = T["Parameters"]
    names = params["HmaLogGroupNames"]
    assert (names["Type"], names["Default"]) == ("CommaDelimitedList", "")
    assert f"at most {HMA_SLOTS}" in names["Description"]
    assert (
        params["HmaFilterPattern"]["Default"] == '{ $.HealthMonitoringAgentDetectionEvent = "HealthEvent" }'
    )
    assert (params["HmaIgnoredXids"]["Type"], params["HmaIgnoredXids"]["Default"]) == (
        "String",
        "13,31,43,45,94",
    )
    assert params["HmaAlarmLogGroupName"]["Default"] == ""
    assert params["HmaAlarmLogGroupName"]["AllowedPattern"] == names["AllowedPattern"]


def test_the_default_filter_pattern_selects_hma_detection_records() -> None:
    """The pattern is `{ $.<marker> = "<value>" }` on the key intake recognises HMA records by, and the
    records of the Slurm sample carry it."""
    pattern = T["Parameters"]["HmaFilterPattern"]["Default"]
    match = re.fullmatch(r'\{ \$\.(\w+) = "(\w+)" \}', pattern)
    assert match, pattern
    key, value = match.groups()
    assert key == DETECTION_MARKER
    sample = json.loads((HMA_SAMPLES / "slurm-dcgm-xid79.json").read_text())
    records = [json.loads(e["message"]) for e in sample["logEvents"]]
    assert records and all(r.get(key) == value for r in records)


def test_by_default_nothing_of_the_hma_trigger_is_deployed() -> None:
    _, resources = deployed({})
    assert _hma_resources(resources) == set()


def test_hma_intake_runs_intakes_code_with_intakes_settings_grants_and_dlq() -> None:
    hma, intake = props(HMA_INTAKE_FUNCTION), props(INTAKE_FUNCTION)
    for key in ("CodeUri", "Handler", "Environment", "Policies", "EventInvokeConfig"):
        assert hma[key] == intake[key], key
    xids = template_function_env(T, HMA_INTAKE_FUNCTION)["AUTOHEAL_HMA_IGNORED_XIDS"]
    assert xids == {"Ref": "HmaIgnoredXids"}
    assert RESOURCES[HMA_INTAKE_FUNCTION]["Condition"] == "HasHmaLogGroups"
    skips = [s["id"] for s in RESOURCES[HMA_INTAKE_FUNCTION]["Metadata"]["checkov"]["skip"]]
    assert skips == [s["id"] for s in RESOURCES[INTAKE_FUNCTION]["Metadata"]["checkov"]["skip"]]
    assert hma["Events"] == {
        "HmaLogs1": {
            "Type": "CloudWatchLogs",
            "Properties": {
                "LogGroupName": {"Fn::Select": [0, {"Ref": "HmaLogGroupNames"}]},
                "FilterPattern": {"Ref": "HmaFilterPattern"},
            },
        }
    }


def test_sam_gives_the_hma_functions_condition_to_what_its_event_makes() -> None:
    """The design rests on this: SAM copies a function's Condition to the resources it generates for it
    (samtranslator's get_passthrough_resource_attributes), the subscription filter and permission too."""
    cfn = transformed()["Resources"]
    made = {lid for lid in cfn if lid.startswith(HMA_INTAKE_FUNCTION)}
    subscription, permission = f"{HMA_INTAKE_FUNCTION}HmaLogs1", f"{HMA_INTAKE_FUNCTION}HmaLogs1Permission"
    expected = {HMA_INTAKE_FUNCTION, f"{HMA_INTAKE_FUNCTION}Role", f"{HMA_INTAKE_FUNCTION}EventInvokeConfig"}
    assert made >= expected | {subscription, permission}
    assert {lid: cfn[lid].get("Condition") for lid in made} == dict.fromkeys(made, "HasHmaLogGroups")
    assert cfn[subscription]["Type"] == "AWS::Logs::SubscriptionFilter"
    assert cfn[subscription]["DependsOn"] == [permission]
    assert cfn[permission]["Properties"]["Principal"] == "logs.amazonaws.com"


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 6])
def test_hma_subscriptions_follow_the_first_five_log_groups(count: int) -> None:
    names = hma_log_groups(count)
    resolver, resources = deployed({"HmaLogGroupNames": ",".join(names)})
    filters = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::Logs::SubscriptionFilter"}
    subscribed = [resolver.resolve(f["Properties"]["LogGroupName"]) for f in filters.values()]
    assert sorted(subscribed) == sorted(names[:HMA_SLOTS])  # a sixth name is beyond the slots
    assert (HMA_INTAKE_FUNCTION in resources) is (count > 0)
    assert ("HmaIntakeLogGroup" in resources) is (count > 0)
    permissions = {
        lid
        for lid, r in resources.items()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "logs.amazonaws.com"
    }
    assert len(permissions) == len(filters)
    for subscription in filters.values():
        p = subscription["Properties"]
        assert p["DestinationArn"] == {"Fn::GetAtt": [HMA_INTAKE_FUNCTION, "Arn"]}
        assert p["FilterPattern"] == {"Ref": "HmaFilterPattern"}
        depends = subscription["DependsOn"]
        (permission_id,) = depends if isinstance(depends, list) else [depends]
        assert permission_id in permissions  # deployed together: the filter is created after it
        permission = resources[permission_id]["Properties"]
        assert permission["FunctionName"] == {"Ref": HMA_INTAKE_FUNCTION}
        assert (permission["Action"], permission["Principal"]) == (
            "lambda:InvokeFunction",
            "logs.amazonaws.com",
        )
        group = resolver.resolve(p["LogGroupName"])
        arn = f"arn:aws:logs:{resolver.region}:{resolver.account_id}:log-group:{group}:*"
        assert resolver.resolve(permission["SourceArn"]) == arn  # exactly this log group, no wildcard
        assert permission.get("SourceAccount", {"Ref": "AWS::AccountId"}) == {"Ref": "AWS::AccountId"}


def test_hma_slots_two_to_five_are_written_like_sams_first() -> None:
    for n in range(2, HMA_SLOTS + 1):
        permission, subscription = RESOURCES[f"HmaLogs{n}Permission"], RESOURCES[f"HmaLogs{n}"]
        assert permission["Condition"] == subscription["Condition"] == f"HasHmaLogGroup{n}"
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert subscription["DependsOn"] == f"HmaLogs{n}Permission"
    assert f"HmaLogs{HMA_SLOTS + 1}" not in RESOURCES


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", [False] * HMA_SLOTS),
        ("/aws/sagemaker/Clusters/a/000000000001", [True] + [False] * 4),
        (
            "/aws/sagemaker/Clusters/a/000000000001, /aws/sagemaker/Clusters/b/000000000002",
            [True, True, False, False, False],
        ),
        (",".join(hma_log_groups(7)), [True] * HMA_SLOTS),
        # slot 1 empty: nothing at all (slot 2 alone would name a function that is not there)
        (",/aws/sagemaker/Clusters/b/000000000002", [False] * HMA_SLOTS),
    ],
    ids=["empty", "one", "two with a space", "seven", "first empty"],
)
def test_hma_slot_conditions(value: str, expected: list[bool]) -> None:
    resolver = Resolver(T, parameters={"HmaLogGroupNames": value})
    names = ["HasHmaLogGroups", *(f"HasHmaLogGroup{n}" for n in range(2, HMA_SLOTS + 1))]
    assert [resolver.condition(name) for name in names] == expected


def _alarm_section(**parameters: str) -> tuple[Resolver, dict[str, Any]]:
    resolver = Resolver(T, parameters={"HmaAlarmLogGroupName": HMA_LOG_GROUP, **parameters})
    return resolver, {lid: resolver.resolve(props(lid)) for lid in HMA_ALARM_RESOURCES}


def test_the_hma_alarm_section_is_there_only_with_its_log_group() -> None:
    for lid in HMA_ALARM_RESOURCES:
        assert RESOURCES[lid]["Condition"] == "HasHmaAlarm"
    assert not Resolver(T).condition("HasHmaAlarm")
    _, resources = deployed({"HmaAlarmLogGroupName": HMA_LOG_GROUP})
    assert _hma_resources(resources) == set(HMA_ALARM_RESOURCES)  # the subscriptions are separate


def test_hma_alarm_transformer_parses_then_names_the_node_stream_and_the_cluster() -> None:
    _, section = _alarm_section()
    transformer = section["HmaAlarmTransformer"]
    assert transformer["LogGroupIdentifier"] == HMA_LOG_GROUP
    parse, copy, add = transformer["TransformerConfig"]
    assert list(parse) == ["ParseJSON"]  # a transformer must start with a parser
    assert copy == {"CopyValue": {"Entries": [{"Source": "@logGroupStream", "Target": "autoheal_stream"}]}}
    assert add == {"AddKeys": {"Entries": [{"Key": "autoheal_cluster", "Value": "ml-cluster"}]}}


@pytest.mark.parametrize("cluster_dimension", [None, "Cluster"])
def test_hma_metric_filter_counts_detections_per_node_stream(cluster_dimension: str | None) -> None:
    parameters = {"AlarmClusterDimension": cluster_dimension} if cluster_dimension else {}
    _, section = _alarm_section(**parameters)
    metric_filter = section["HmaAlarmMetricFilter"]
    assert RESOURCES["HmaAlarmMetricFilter"]["DependsOn"] == "HmaAlarmTransformer"
    assert metric_filter["LogGroupName"] == HMA_LOG_GROUP
    assert metric_filter["FilterPattern"] == T["Parameters"]["HmaFilterPattern"]["Default"]
    assert metric_filter["ApplyOnTransformedLogs"] is True
    (transformation,) = metric_filter["MetricTransformations"]
    assert {k: transformation[k] for k in ("MetricNamespace", "MetricName", "MetricValue", "Unit")} == {
        "MetricNamespace": "HyperPodAutoheal/HMA",
        "MetricName": "HmaDetections",
        "MetricValue": "1",
        "Unit": "Count",
    }
    assert "DefaultValue" not in transformation  # not allowed with dimensions
    dimensions = {d["Key"]: d["Value"] for d in transformation["Dimensions"]}
    assert dimensions == {
        cluster_dimension or "ClusterName": "$.autoheal_cluster",
        HMA_STREAM_DIMENSION: "$.autoheal_stream",
    }
    written = {
        entry.get("Target") or entry.get("Key")
        for processor in section["HmaAlarmTransformer"]["TransformerConfig"]
        for config in processor.values()
        for entry in config.get("Entries", [])
    }
    assert {v.removeprefix("$.") for v in dimensions.values()} <= written


def test_hma_alarm_is_a_metrics_insights_query_per_node_stream_of_the_cluster() -> None:
    _, section = _alarm_section()
    alarm_props = section["HmaDetectionsAlarm"]
    (query,) = alarm_props["Metrics"]
    (transformation,) = section["HmaAlarmMetricFilter"]["MetricTransformations"]
    namespace, name = transformation["MetricNamespace"], transformation["MetricName"]
    assert " ".join(query["Expression"].split()) == (
        f'SELECT SUM("{name}") FROM SCHEMA("{namespace}", "ClusterName", "{HMA_STREAM_DIMENSION}") '
        f'WHERE "ClusterName" = \'ml-cluster\' GROUP BY "ClusterName", "{HMA_STREAM_DIMENSION}" '
        f"ORDER BY SUM() DESC LIMIT {ALARM_CONTRIBUTOR_CEILING}"  # the nodes with the most detections
    )
    assert (query["Period"], query["ReturnData"]) == (60, True)
    expected = {
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
    }
    assert {k: alarm_props[k] for k in expected} == expected
    actions = {"AlarmActions", "OKActions", "InsufficientDataActions"}
    assert not actions & set(alarm_props)  # a trigger for intake, not a page


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hyperpod-"])
def test_a_contributor_of_the_hma_alarm_becomes_a_fault_of_its_node(prefix: str) -> None:
    """The alarm's name passes the AlarmEvents rule's prefix filter (and is not named like the stack's
    operational alarms), and a contributor with the metric filter's dimensions as attributes is one
    fault of the node its stream names, with the settings the deployment gives intake."""
    resolver, section = _alarm_section(AlarmNamePrefix=prefix)
    name = section["HmaDetectionsAlarm"]["AlarmName"]
    assert name == f"{prefix}hma-detections-{resolver.stack_name}"
    (transformation,) = section["HmaAlarmMetricFilter"]["MetricTransformations"]
    values = {"$.autoheal_cluster": "ml-cluster", "$.autoheal_stream": HMA_STREAM}
    attributes = {d["Key"]: values[d["Value"]] for d in transformation["Dimensions"]}
    event = contributor(name=name, attributes=attributes)
    assert matching_rules(event, AlarmNamePrefix=prefix) == {"AlarmEvents"}
    env = resolver.with_resources({"FaultQueue": "q"}).resolve(template_function_env(T, INTAKE_FUNCTION))
    intake = normalise(event, rule_config(load_settings(env)))
    assert (intake.rejected, intake.ignored) == (None, [])
    (fault,) = intake.faults
    assert (fault.cluster_name, fault.instance_group, fault.instance_id) == ("ml-cluster", "gpu", HMA_NODE)


def test_the_contributor_sample_has_the_shape_of_the_template_alarm() -> None:
    sample = json.loads((REPO_ROOT / "events" / "alarm-contributor-hma-stream.json").read_text())
    _, section = _alarm_section()
    (transformation,) = section["HmaAlarmMetricFilter"]["MetricTransformations"]
    assert set(sample["detail"]["alarmContributor"]["attributes"]) == {
        d["Key"] for d in transformation["Dimensions"]
    }
    assert matching_rules(sample) == {"AlarmEvents"}


def test_the_alarm_rule_takes_contributor_changes_to_alarm_only() -> None:
    pattern = rule_pattern("AlarmEvents")
    assert pattern["detail-type"] == [
        "CloudWatch Alarm State Change",
        "CloudWatch Alarm Contributor State Change",
    ]
    assert pattern["detail"]["state"] == {"value": ["ALARM"]}


def test_everything_of_the_hma_trigger_together() -> None:
    parameters = {
        "HmaLogGroupNames": ",".join(hma_log_groups(HMA_SLOTS)),
        "HmaAlarmLogGroupName": HMA_LOG_GROUP,
    }
    _, resources = deployed(parameters)
    slots = {f"HmaLogs{n}{suffix}" for n in range(2, HMA_SLOTS + 1) for suffix in ("", "Permission")}
    function = {lid for lid in resources if lid.startswith(HMA_INTAKE_FUNCTION)}
    assert _hma_resources(resources) == (
        slots | function | set(HMA_ALARM_RESOURCES) | {"HmaIntakeLogGroup", "HmaIntakeErrorsAlarm"}
    )


# ---------------------------------------------------------------- IAM: tests/integration/test_iam.py


# ---------------------------------------------------------------- local stack built from the template


def test_create_stack_resources_builds_the_template_table_queues_and_topic() -> None:
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        stack = create_stack_resources(session, TEMPLATE_PATH, suffix="unit")
        table = session.client("dynamodb").describe_table(TableName=stack.table_name)["Table"]
        ttl = session.client("dynamodb").describe_time_to_live(TableName=stack.table_name)
        backups = session.client("dynamodb").describe_continuous_backups(TableName=stack.table_name)
        queue = session.client("sqs").get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=["All"])
        topic = session.client("sns").get_topic_attributes(TopicArn=stack.topic_arn)

    p = props(LEDGER_TABLE)
    assert table["KeySchema"] == p["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(p["AttributeDefinitions"], key=str)
    (gsi,) = table["GlobalSecondaryIndexes"]
    (declared_gsi,) = p["GlobalSecondaryIndexes"]
    assert (gsi["IndexName"], gsi["KeySchema"], gsi["Projection"]) == (
        declared_gsi["IndexName"],
        declared_gsi["KeySchema"],
        declared_gsi["Projection"],
    )
    assert ttl["TimeToLiveDescription"]["AttributeName"] == p["TimeToLiveSpecification"]["AttributeName"]
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
    pitr = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert pitr["PointInTimeRecoveryStatus"] == "ENABLED"

    attributes = queue["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.dlq_arn,
        "maxReceiveCount": 5,
    }
    assert int(attributes["VisibilityTimeout"]) == props(FAULT_QUEUE)["VisibilityTimeout"]
    assert topic["Attributes"]["KmsMasterKeyId"].startswith("arn:aws:kms:")  # the template's key, local

    env = stack.env()
    assert env["AUTOHEAL_TABLE_NAME"] == stack.table_name
    assert env["AUTOHEAL_QUEUE_URL"] == stack.queue_url
    assert env["AUTOHEAL_TOPIC_ARN"] == stack.topic_arn
    assert set(stack.env(INTAKE_FUNCTION)) == {
        n for n in template_function_env(T, INTAKE_FUNCTION) if n.startswith("AUTOHEAL_")
    }
    settings = load_settings(env)
    assert (settings.table_name, settings.queue_url, settings.topic_arn) == (
        stack.table_name,
        stack.queue_url,
        stack.topic_arn,
    )
    assert settings.replace_budget == T["Parameters"]["ReplaceBudget"]["Default"]

    reconcile = load_settings(stack.env(RECONCILE_FUNCTION))
    assert (reconcile.table_name, reconcile.queue_url, reconcile.topic_arn) == (
        stack.table_name,
        stack.queue_url,
        stack.topic_arn,
    )
    assert reconcile.redrive_after_minutes == T["Parameters"]["RedriveAfterMinutes"]["Default"]
    assert reconcile.policy == load_settings(stack.env(REMEDIATE_FUNCTION)).policy
    assert reconcile.policy.guards == Settings().policy.guards  # the deployed defaults are the model's


@pytest.mark.parametrize(("create", "expected"), [("true", True), ("false", False)])
def test_the_dashboard_and_its_url_only_with_create_dashboard(create: str, expected: bool) -> None:
    """`CreateDashboard=false` leaves out the stack's largest fixed cost; nothing else refers to it."""
    resolver, resources = deployed({"CreateDashboard": create})
    assert ("AutohealDashboard" in resources) is expected
    assert resolver.condition(T["Outputs"]["DashboardUrl"]["Condition"]) is expected
    cfn = transformed()
    others = {lid: r for lid, r in cfn["Resources"].items() if lid != "AutohealDashboard"}
    assert "AutohealDashboard" not in json.dumps(others)
