"""hyperpod_local.stack.rules: the template's rules and subscriptions as a deployment has them."""

from __future__ import annotations

from typing import Any

import pytest

from hyperpod_local.stack.rules import (
    event_rules,
    filter_pattern_matches,
    log_subscriptions,
    rules_matching,
)
from hyperpod_local.stack.template import (
    HMA_INTAKE_FUNCTION,
    INTAKE_FUNCTION,
    RECONCILE_FUNCTION,
    load_template,
)

HMA_PATTERN = '{ $.HealthMonitoringAgentDetectionEvent = "HealthEvent" }'
GROUP_A = "/aws/sagemaker/Clusters/a/abcdef012345"
GROUP_B = "/aws/sagemaker/Clusters/b/abcdef012346"
T = load_template()


def test_the_rules_of_a_default_deployment() -> None:
    rules = {(rule.function, rule.name) for rule in event_rules(template=T)}
    assert rules == {
        (INTAKE_FUNCTION, "HyperPodEvents"),
        (INTAKE_FUNCTION, "AlarmEvents"),
        (RECONCILE_FUNCTION, "ClusterEvents"),
    }


def test_patterns_are_resolved_with_the_deployments_parameters() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345"
    scoped = {rule.name: rule.pattern for rule in event_rules({"ClusterArns": arn}, T)}
    assert aws_branch(scoped["HyperPodEvents"])["resources"] == [arn]
    unscoped = {rule.name: rule.pattern for rule in event_rules(template=T)}
    assert "resources" not in aws_branch(unscoped["HyperPodEvents"])


def aws_branch(pattern: dict[str, Any]) -> dict[str, Any]:
    """The HyperPod rule's branch for AWS's own events (the other one is the self-test source's)."""
    return next(b for b in pattern.get("$or", [pattern]) if b["source"] == ["aws.sagemaker"])


def test_an_event_matches_the_rules_whose_pattern_selects_it() -> None:
    name = "autoheal:ml-cluster:i-0123456789abcdef0"
    event = {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "resources": [f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"],
        "detail": {"alarmName": name, "state": {"value": "ALARM"}},
    }
    assert [rule.name for rule in rules_matching(event, event_rules(template=T))] == ["AlarmEvents"]
    cpu = {**event, "detail": {"alarmName": "cpu-high", "state": {"value": "ALARM"}}}
    assert rules_matching(cpu, event_rules(template=T)) == ()


def test_no_log_subscription_without_log_groups_and_one_per_log_group() -> None:
    assert log_subscriptions(template=T) == ()
    subscriptions = log_subscriptions({"HmaLogGroupNames": f"{GROUP_A},{GROUP_B}"}, T)
    assert [(s.function, s.log_group, s.filter_pattern) for s in subscriptions] == [
        (HMA_INTAKE_FUNCTION, GROUP_A, HMA_PATTERN),
        (HMA_INTAKE_FUNCTION, GROUP_B, HMA_PATTERN),
    ]
    assert subscriptions[1].matches(GROUP_B, '{"HealthMonitoringAgentDetectionEvent": "HealthEvent"}')
    assert not subscriptions[1].matches(GROUP_A, '{"HealthMonitoringAgentDetectionEvent": "HealthEvent"}')


@pytest.mark.parametrize(
    ("message", "selected"),
    [
        ('{"HealthMonitoringAgentDetectionEvent": "HealthEvent", "msg": "x"}', True),
        ('{"HealthMonitoringAgentDetectionEvent": "Other"}', False),
        ('{"msg": "HealthMonitoringAgentDetectionEvent HealthEvent"}', False),
        ("plain text HealthMonitoringAgentDetectionEvent", False),
        ('["HealthMonitoringAgentDetectionEvent"]', False),
    ],
)
def test_the_hma_json_filter_pattern(message: str, selected: bool) -> None:
    assert filter_pattern_matches(HMA_PATTERN, message) is selected


def test_nested_paths_and_unquoted_values() -> None:
    assert filter_pattern_matches("{ $.data.ErrNum = 79 }", '{"data": {"ErrNum": 79}}')
    assert not filter_pattern_matches("{ $.data.ErrNum = 79 }", '{"data": {"ErrNum": true}}')


@pytest.mark.parametrize(
    "pattern", ["HealthEvent", "{ $.a != 1 }", '{ ($.a = "x") || ($.b = "y") }', "[ip, user]"]
)
def test_other_filter_syntax_is_refused_rather_than_guessed(pattern: str) -> None:
    with pytest.raises(ValueError, match="not supported"):
        filter_pattern_matches(pattern, "{}")
