"""template.yaml agrees with the code and with what it promises: rules, queues, ledger, IAM, env."""

from __future__ import annotations

import ast
import fnmatch
import importlib
import json
import pkgutil
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.events.models import EventPattern

from autoheal import adapters, observability
from autoheal.intake.normalise import ROUTES
from autoheal.settings import Settings, load_settings
from hyperpod_local.intrinsics import Resolver, UnresolvedError
from hyperpod_local.stack import (
    FAULT_DLQ,
    FAULT_QUEUE,
    FUNCTIONS,
    INTAKE_DLQ,
    INTAKE_FUNCTION,
    LEDGER_TABLE,
    NEEDS_HUMAN_TOPIC,
    REMEDIATE_FUNCTION,
    REPO_ROOT,
    TEMPLATE_PATH,
    create_stack_resources,
    load_template,
    template_function_env,
    template_properties,
)
from tests.tools.lint_template import transform

T = load_template(TEMPLATE_PATH)
RESOURCES: Mapping[str, Any] = T["Resources"]
GLOBAL_FUNCTION: Mapping[str, Any] = T["Globals"]["Function"]
RULES = ("HyperPodEvents", "HealthEvents", "AlarmEvents")
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
        FAULT_QUEUE: "AWS::SQS::Queue",
        FAULT_DLQ: "AWS::SQS::Queue",
        INTAKE_DLQ: "AWS::SQS::Queue",
        LEDGER_TABLE: "AWS::DynamoDB::Table",
        NEEDS_HUMAN_TOPIC: "AWS::SNS::Topic",
        "IntakeLogGroup": "AWS::Logs::LogGroup",
        "RemediateLogGroup": "AWS::Logs::LogGroup",
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


def alarm(name: str = "gpu-xid-train", state: str = "ALARM", previous: str = "OK") -> Event:
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


def rule_pattern(rule: str, **parameters: str) -> dict[str, Any]:
    pattern = props(INTAKE_FUNCTION)["Events"][rule]["Properties"]["Pattern"]
    resolved: dict[str, Any] = Resolver(T, parameters=parameters).resolve(pattern)
    return resolved


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
    "health EC2": (health(), {"HealthEvents"}),
    "health RDS": (health(service="RDS"), set()),
    "health abuse event": (health(detail_type="AWS Health Abuse Event"), set()),
    "alarm OK -> ALARM": (alarm(), {"AlarmEvents"}),
    "alarm INSUFFICIENT_DATA -> ALARM": (alarm(previous="INSUFFICIENT_DATA"), {"AlarmEvents"}),
    "alarm ALARM -> OK": (alarm(state="OK", previous="ALARM"), set()),
    "alarm -> INSUFFICIENT_DATA": (alarm(state="INSUFFICIENT_DATA"), set()),
    "alarm configuration change": (alarm_configuration_change(), set()),
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
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="hyperpod-gpu-xid"), {"AlarmEvents"}),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="gpu-xid-hyperpod-"), set()),
        ({"AlarmNamePrefix": "hyperpod-"}, alarm(name="hyperpod-gpu", state="OK"), set()),
        ({"AlarmNamePrefix": ""}, alarm(name="anything"), {"AlarmEvents"}),
    ],
    ids=[
        "cluster in scope",
        "second cluster in scope (spaces trimmed)",
        "cluster out of scope",
        "empty scope means all clusters",
        "alarm name has prefix",
        "prefix only matches at the start",
        "prefix still needs ALARM",
        "empty prefix means all alarms",
    ],
)
def test_optional_scoping_parameters(parameters: dict[str, str], event: Event, expected: set[str]) -> None:
    assert matching_rules(event, **parameters) == expected


def test_unscoped_patterns_have_no_leftover_filters() -> None:
    assert "resources" not in rule_pattern("HyperPodEvents")
    assert "alarmName" not in rule_pattern("AlarmEvents")["detail"]
    assert rule_pattern("AlarmEvents", AlarmNamePrefix="hp-")["detail"]["alarmName"] == [{"prefix": "hp-"}]


def test_rules_subscribe_to_exactly_the_pairs_intake_can_parse() -> None:
    subscribed = {
        (source, detail_type)
        for rule in RULES
        for source in rule_pattern(rule)["source"]
        for detail_type in rule_pattern(rule)["detail-type"]
    }
    assert subscribed == set(ROUTES)


def _expected_rule(event: Mapping[str, Any]) -> set[str]:
    """What a sample file should hit, from the documented shapes (independent of the template)."""
    source, detail_type, detail = event.get("source"), event.get("detail-type"), event.get("detail", {})
    if source == "aws.sagemaker" and str(detail_type).startswith("SageMaker HyperPod Cluster"):
        return {"HyperPodEvents"}
    if (source, detail_type) == ("aws.health", "AWS Health Event") and detail.get("service") == "EC2":
        return {"HealthEvents"}
    alarm_change = (source, detail_type) == ("aws.cloudwatch", "CloudWatch Alarm State Change")
    if alarm_change and detail.get("state", {}).get("value") == "ALARM":
        return {"AlarmEvents"}
    return set()


def _event_files() -> Iterator[Path]:
    yield from sorted((REPO_ROOT / "events").glob("**/*.json"))


@pytest.mark.parametrize("path", list(_event_files()), ids=lambda p: p.name)
def test_sample_event_files_match_the_rule_they_are_for(path: Path) -> None:
    event = json.loads(path.read_text())
    if not isinstance(event, dict) or "detail-type" not in event:
        pytest.skip(f"{path.name} is not a single EventBridge event")
    assert matching_rules(event) == _expected_rule(event)


def test_every_rule_retries_and_dead_letters_to_the_intake_dlq() -> None:
    for rule in RULES:
        rule_props = props(INTAKE_FUNCTION)["Events"][rule]["Properties"]
        assert props(INTAKE_FUNCTION)["Events"][rule]["Type"] == "EventBridgeRule"
        assert set(rule_props["RetryPolicy"]) == {"MaximumRetryAttempts", "MaximumEventAgeInSeconds"}
        assert rule_props["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [INTAKE_DLQ, "Arn"]}}


def test_intake_dlq_policy_lets_exactly_our_rules_write() -> None:
    cfn = transformed()["Resources"]
    rules = {lid for lid, r in cfn.items() if r["Type"] == "AWS::Events::Rule"}
    assert rules == {INTAKE_FUNCTION + rule for rule in RULES}
    for lid in rules:
        (target,) = cfn[lid]["Properties"]["Targets"]
        assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [INTAKE_DLQ, "Arn"]}}
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    (statement,) = cfn["IntakeDLQPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {s["Fn::GetAtt"][0] for s in sources} == rules


def test_intake_handler_failures_go_to_the_intake_dlq() -> None:
    config = props(INTAKE_FUNCTION)["EventInvokeConfig"]
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": [INTAKE_DLQ, "Arn"]},
    }


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


@pytest.mark.parametrize("logical_id", [FAULT_QUEUE, FAULT_DLQ, INTAKE_DLQ])
def test_queues_are_encrypted(logical_id: str) -> None:
    p = props(logical_id)
    assert p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p


@pytest.mark.parametrize("logical_id", [FAULT_DLQ, INTAKE_DLQ])
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
    assert props(NEEDS_HUMAN_TOPIC)["KmsMasterKeyId"] == "alias/aws/sns"
    subscriptions = [r for r in RESOURCES.values() if r["Type"] == "AWS::SNS::Subscription"]
    assert subscriptions, "no email subscription"
    for subscription in subscriptions:
        assert subscription["Condition"] == "HasNotificationEmail"
    assert Resolver(T).condition("HasNotificationEmail") is False
    assert Resolver(T, parameters={"NotificationEmail": "ops@example.com"}).condition("HasNotificationEmail")


def test_one_log_group_per_function_with_retention() -> None:
    groups = [r["Properties"] for r in RESOURCES.values() if r["Type"] == "AWS::Logs::LogGroup"]
    names = sorted(g["LogGroupName"]["Fn::Sub"] for g in groups)
    assert names == sorted(f"/aws/lambda/${{{fn}}}" for fn in FUNCTIONS)
    assert all(g["RetentionInDays"] == {"Ref": "LogRetentionDays"} for g in groups)
    assert T["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_outputs_name_the_queues_table_topic_and_functions() -> None:
    values = [o["Value"] for o in T["Outputs"].values()]
    for logical_id in (FAULT_QUEUE, FAULT_DLQ, INTAKE_DLQ, LEDGER_TABLE, NEEDS_HUMAN_TOPIC):
        assert {"Ref": logical_id} in values
    for logical_id in FUNCTIONS:
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in values


# ---------------------------------------------------------------- settings agree with the env


def _bounds(field_name: str) -> tuple[Any, Any]:
    ge = le = None
    for constraint in Settings.model_fields[field_name].metadata:
        ge = getattr(constraint, "ge", ge)
        le = getattr(constraint, "le", le)
    return ge, le


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_every_autoheal_variable_is_a_settings_field(logical_id: str) -> None:
    names = [n for n in template_function_env(T, logical_id) if n.startswith("AUTOHEAL_")]
    assert names
    unknown = [n for n in names if n.removeprefix("AUTOHEAL_").lower() not in Settings.model_fields]
    assert unknown == []


def test_parameter_defaults_and_ranges_agree_with_settings() -> None:
    for fn in FUNCTIONS:
        for name, value in template_function_env(T, fn).items():
            if not name.startswith("AUTOHEAL_") or "Ref" not in value or value["Ref"] not in T["Parameters"]:
                continue
            field_name = name.removeprefix("AUTOHEAL_").lower()
            spec = T["Parameters"][value["Ref"]]
            assert str(spec["Default"]) == str(Settings.model_fields[field_name].default), name
            ge, le = _bounds(field_name)
            if ge is not None:
                assert spec["MinValue"] >= ge, name
            if le is not None:
                assert spec["MaxValue"] <= le, name


def test_remediate_gets_every_policy_knob_from_a_constrained_parameter() -> None:
    knobs = {
        "AUTOHEAL_REBOOT_TIMEOUT_MINUTES": "RebootTimeoutMinutes",
        "AUTOHEAL_REPLACE_TIMEOUT_MINUTES": "ReplaceTimeoutMinutes",
        "AUTOHEAL_ESCALATION_WINDOW_MINUTES": "EscalationWindowMinutes",
        "AUTOHEAL_REPLACE_BUDGET": "ReplaceBudget",
        "AUTOHEAL_REPLACE_BUDGET_WINDOW_HOURS": "ReplaceBudgetWindowHours",
        "AUTOHEAL_MAX_TRANSIENT_RETRIES": "MaxTransientRetries",
    }
    env = template_function_env(T, REMEDIATE_FUNCTION)
    for variable, parameter in knobs.items():
        assert env[variable] == {"Ref": parameter}
        assert {"Default", "MinValue", "MaxValue"} <= set(T["Parameters"][parameter])


# ---------------------------------------------------------------- IAM


def _statements(role: str) -> list[dict[str, Any]]:
    policies = transformed()["Resources"][role]["Properties"].get("Policies", [])
    return [s for p in policies for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: Mapping[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _resources(statement: Mapping[str, Any], resolver: Resolver) -> list[Any]:
    """The statement's resources, evaluated where they depend on parameters only."""
    try:
        value = resolver.resolve(statement["Resource"])
    except UnresolvedError:  # refers to a resource's physical id: keep the intrinsic
        value = statement["Resource"]
    return value if isinstance(value, list) else [value]


def _role_actions(role: str, service: str) -> set[str]:
    return {a for s in _statements(role) for a in _actions(s) if a.startswith(service + ":")}


def test_no_role_grants_anything_but_list_clusters_on_star() -> None:
    cfn = transformed()
    for lid, resource in cfn["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in _statements(lid):
            if "*" in _resources(statement, Resolver(cfn)):
                assert _actions(statement) == ["sagemaker:ListClusters"], (lid, statement)


@pytest.mark.parametrize("parameters", [{}, {"ClusterArnPattern": CLUSTER_A}])
def test_sagemaker_actions_are_scoped_to_cluster_arns(parameters: dict[str, str]) -> None:
    cfn = transformed()
    resolver = Resolver(cfn, parameters=parameters)
    for statement in _statements("RemediateFunctionRole"):
        actions = [a for a in _actions(statement) if a.startswith("sagemaker:")]
        if not actions or actions == ["sagemaker:ListClusters"]:
            continue
        resources = _resources(statement, resolver)
        assert resources == [
            parameters.get("ClusterArnPattern", f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:cluster/*")
        ]


def test_remediate_role_grants_exactly_the_sagemaker_and_ledger_actions() -> None:
    assert _role_actions("RemediateFunctionRole", "sagemaker") == {
        "sagemaker:BatchRebootClusterNodes",
        "sagemaker:BatchReplaceClusterNodes",
        "sagemaker:DescribeClusterNode",
        "sagemaker:ListClusterNodes",
        "sagemaker:DescribeCluster",
        "sagemaker:ListClusters",
    }
    assert _role_actions("RemediateFunctionRole", "dynamodb") == {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:UpdateItem",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:Query",
    }
    (ledger,) = (s for s in _statements("RemediateFunctionRole") if "dynamodb:Query" in _actions(s))
    assert ledger["Resource"] == [
        {"Fn::GetAtt": [LEDGER_TABLE, "Arn"]},
        {"Fn::Sub": f"${{{LEDGER_TABLE}.Arn}}/index/*"},
    ]
    assert _role_actions("RemediateFunctionRole", "sns") == {"sns:Publish"}


def test_intake_role_only_sends_to_queues() -> None:
    assert _role_actions("IntakeFunctionRole", "sagemaker") == set()
    assert _role_actions("IntakeFunctionRole", "dynamodb") == set()
    sqs_targets = set()
    for statement in _statements("IntakeFunctionRole"):
        assert all(a.startswith("sqs:SendMessage") for a in _actions(statement))
        sqs_targets.add(json.dumps(statement["Resource"], sort_keys=True))
    assert any(FAULT_QUEUE in t for t in sqs_targets)
    assert all(FAULT_QUEUE in t or INTAKE_DLQ in t for t in sqs_targets)


def _granted(role: str, action: str) -> bool:
    granted = (a for s in _statements(role) if s.get("Effect") == "Allow" for a in _actions(s))
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


def _adapter_iam_actions() -> dict[str, tuple[str, ...]]:
    """`IAM_ACTIONS` declared by each autoheal.adapters module (c7n style: adapters say what they call)."""
    declared: dict[str, tuple[str, ...]] = {}
    for info in pkgutil.iter_modules(adapters.__path__, adapters.__name__ + "."):
        actions = getattr(importlib.import_module(info.name), "IAM_ACTIONS", None)
        if actions:
            declared[info.name] = tuple(actions)
    return declared


def test_roles_grant_every_action_the_adapters_declare() -> None:
    declared = _adapter_iam_actions()
    assert declared, "no adapter declares IAM_ACTIONS"
    for module, actions in declared.items():
        roles = ["RemediateFunctionRole"] + (["IntakeFunctionRole"] if module.endswith(".queue") else [])
        for role in roles:
            missing = [a for a in actions if not _granted(role, a)]
            assert missing == [], f"{role} lacks {missing} that {module} calls"


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
    assert topic["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"

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
