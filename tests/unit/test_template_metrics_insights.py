"""Every CloudWatch Metrics Insights query template.yaml deploys reads as the documented grammar and
double-quotes its identifiers, the reserved keywords above all (issue 16: `Action` and `Scope` are on
CloudWatch's reserved list, so the failed-entries and breaker alarms would not have evaluated).

The rules and the documented keyword list are in tools.metrics_insights; tools.template_queries finds
the queries (alarms' `Metrics[].Expression`, dashboard widgets' `expression`) as CloudFormation would
deploy them, and `make template-lint` runs it through tools.lint_template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hyperpod_local.stack.template import TEMPLATE_PATH, load_template
from tools.lint_template import check
from tools.metrics_insights import (
    ALARM_CONTRIBUTOR_CEILING,
    ALARM_LIMITS_URL,
    RESERVED_KEYWORDS,
    RESERVED_KEYWORDS_URL,
    QueryError,
    alarm_problems,
    parse,
    problems,
)
from tools.template_queries import PROBE, check_template, deployments, find_queries

T = load_template(TEMPLATE_PATH)
QUERY_ALARMS = {"FailedEntriesAlarm", "BreakerTripsAlarm", "HmaDetectionsAlarm"}


# ---------------------------------------------------------------- the template


def test_every_metrics_insights_query_in_the_template_reads_and_quotes_its_identifiers() -> None:
    assert check_template(T) == []


def test_the_check_sees_every_alarm_query_with_defaults_and_with_reserved_parameter_values() -> None:
    checked = deployments(T)
    assert len(checked) == 2
    for deployed in checked.values():
        found = find_queries(T, deployed)
        assert {q.where.split()[0] for q in found if q.alarm} == QUERY_ALARMS
    probed = checked[f"free-text parameters = {PROBE!r}"]
    assert probed.parameter("AlarmClusterDimension") == PROBE  # the HMA alarm's SCHEMA and GROUP BY


def _query(logical_id: str, **parameters: str) -> str:
    (deployed,) = (d for name, d in deployments(T).items() if name == "defaults")
    if parameters:
        deployed = type(deployed)(T, {**deployed.parameters, **parameters}, deployed.refs, deployed.attrs)
    (found,) = (q for q in find_queries(T, deployed) if q.where.startswith(f"{logical_id} "))
    return " ".join(found.text.split())


def test_the_failed_entries_and_breaker_alarms_quote_action_and_scope() -> None:
    assert _query("FailedEntriesAlarm") == (
        'SELECT SUM("FailedEntries") FROM SCHEMA("HyperPodAutoheal", "Action", "ErrorCode", "service") '
        "WHERE \"service\" = 'hyperpod-autoheal'"
    )
    assert _query("BreakerTripsAlarm") == (
        'SELECT SUM("BreakerTrips") FROM SCHEMA("HyperPodAutoheal", "Scope", "service") '
        "WHERE \"service\" = 'hyperpod-autoheal'"
    )


@pytest.mark.parametrize("dimension", ["ClusterName", "Cluster", "cluster_name"])
def test_the_hma_alarm_quotes_the_cluster_dimension_whatever_its_value(dimension: str) -> None:
    query = parse(_query("HmaDetectionsAlarm", AlarmClusterDimension=dimension))
    assert alarm_problems(query) == []
    assert [(i.name, i.quoted) for i in query.schema or ()] == [(dimension, True), ("HmaLogStream", True)]
    assert [c.label.name for c in query.where] == [dimension]
    assert [i.name for i in query.group_by] == [dimension, "HmaLogStream"]


def test_the_cluster_dimension_parameter_cannot_break_the_quoting() -> None:
    """A double quote or a backslash in the value would end or escape the quoted identifier."""
    pattern = T["Parameters"]["AlarmClusterDimension"]["AllowedPattern"]
    assert re.fullmatch(pattern, "ClusterName") and re.fullmatch(pattern, PROBE)
    for value in ('Clus"ter', "Cluster\\", ""):
        assert not re.fullmatch(pattern, value), value


# ---------------------------------------------------------------- the documented keyword list


def test_the_reserved_keywords_are_the_documented_list() -> None:
    assert RESERVED_KEYWORDS_URL.startswith("https://docs.aws.amazon.com/AmazonCloudWatch/")
    assert len(RESERVED_KEYWORDS) == 917
    assert {
        "ACTION",
        "SCOPE",
        "CLUSTER",
        "LIMIT",
        "RESULT",
        "SIGNAL",
        "STATE",
        "END-EXEC",
    } <= RESERVED_KEYWORDS
    assert {"FALLBACK", "FALSE"} <= RESERVED_KEYWORDS  # the page's one unclosed quote, between these
    our_names = {"SERVICE", "ERRORCODE", "REASON", "CLUSTERNAME", "HMALOGSTREAM", "INSTANCEID"}
    assert not our_names & RESERVED_KEYWORDS
    assert all(word == word.upper() for word in RESERVED_KEYWORDS)


@pytest.mark.parametrize("label", ["Action", "ACTION", "action", "Scope", "Cluster"])
def test_a_reserved_label_must_be_double_quoted_whatever_its_case(label: str) -> None:
    bare = parse(f"SELECT SUM(x) FROM SCHEMA(\"ns\", {label}) WHERE {label} = 'a' GROUP BY {label}")
    (problem,) = problems(bare)
    assert f"label {label!r} is a reserved keyword" in problem and RESERVED_KEYWORDS_URL in problem
    quoted = parse(f'SELECT SUM(x) FROM SCHEMA("ns", "{label}") WHERE "{label}" = \'a\' GROUP BY "{label}"')
    assert problems(quoted) == []


def test_quote_all_requires_every_identifier_quoted() -> None:
    query = parse("SELECT SUM(Errors) FROM SCHEMA(\"AWS/Lambda\", FunctionName) WHERE FunctionName = 'f'")
    assert problems(query) == []
    assert problems(query, quote_all=True) == [
        "metric 'Errors' is not double-quoted",
        "label 'FunctionName' is not double-quoted",
    ]


# ---------------------------------------------------------------- the grammar basics


@pytest.mark.parametrize(
    "text",
    [
        'SELECT AVG(CPUUtilization) FROM "AWS/EC2"',
        'SELECT AVG(CPUUtilization) FROM SCHEMA("AWS/EC2")',
        'select max("My.Metric") from SCHEMA("AWS/EC2", InstanceId) where InstanceId != \'i-1\'',
        'SELECT SUM(RequestCount) FROM SCHEMA("AWS/ApplicationELB", LoadBalancer, AvailabilityZone) '
        "WHERE LoadBalancer = 'app/load-balancer-1' GROUP BY AvailabilityZone ORDER BY MAX() DESC LIMIT 5",
        'SELECT MAX(mem_used_percent) FROM "CWAgent" GROUP BY InstanceId ORDER BY MAX() DESC',
        'SELECT AVG("Bytes\\"Input\\"") FROM ns;',
    ],
)
def test_documented_queries_parse(text: str) -> None:
    parse(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("SELECT SUM(x) FROM AWS/EC2", "unexpected character '/'"),
        ("SELECT P99(x) FROM ns", "is not one of AVG, COUNT, MAX, MIN, SUM"),
        ("SELECT SUM(x) FROM ns WHERE a = b", "must be single-quoted"),
        ("SELECT SUM(x) FROM ns WHERE a LIKE 'b'", "not an operator this check reads"),
        ("SELECT SUM(x) FROM ns WHERE a = 'b' OR c = 'd'", "unexpected text before 'OR'"),
        ("SELECT SUM(x) FROM ns LIMIT ten", "LIMIT takes a number"),
        ("SELECT SUM(x) FROM ns ORDER BY MAX DESC", "expected '('"),
        ('SELECT SUM(x) FROM SCHEMA("ns", a', "expected ')' at the end"),
        ("SELECT SUM(x)", "expected FROM at the end"),
        ("SEARCH('{AWS/EC2,InstanceId} MetricName=\"CPUUtilization\"', 'Average', 300)", "expected SELECT"),
    ],
)
def test_what_is_not_the_grammar_is_refused(text: str, reason: str) -> None:
    with pytest.raises(QueryError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


def test_labels_outside_the_schema_and_limits_outside_the_range_are_problems() -> None:
    query = parse("SELECT SUM(x) FROM SCHEMA(\"ns\", a) WHERE b = 'v' GROUP BY c LIMIT 501")
    assert problems(query) == [
        "label 'b' is not in SCHEMA(...)",
        "label 'c' is not in SCHEMA(...)",
        "LIMIT 501 is outside 1-500",
    ]


def test_an_alarm_over_group_by_orders_its_series_and_keeps_at_most_the_contributor_ceiling() -> None:
    assert ALARM_CONTRIBUTOR_CEILING == 100 and ALARM_LIMITS_URL.endswith("alarm-limits.html")
    head = 'SELECT SUM("x") FROM SCHEMA("ns", "node") GROUP BY "node"'
    assert alarm_problems(parse(f"{head} ORDER BY SUM() DESC LIMIT 100")) == []
    (unordered,) = alarm_problems(parse(head))
    assert "needs ORDER BY ... LIMIT" in unordered
    (unlimited,) = alarm_problems(parse(f"{head} ORDER BY SUM() DESC"))
    assert "needs ORDER BY ... LIMIT" in unlimited
    (too_many,) = alarm_problems(parse(f"{head} ORDER BY SUM() DESC LIMIT 101"))
    assert "at most 100 contributors in ALARM" in too_many
    assert alarm_problems(parse('SELECT SUM("x") FROM SCHEMA("ns", "node")')) == []  # one series


# ---------------------------------------------------------------- finding queries in a template


def _alarm(expression: str, **extra: Any) -> dict[str, Any]:
    metric = {"Id": "q", "Expression": expression, "Period": 60, "ReturnData": True}
    properties = {
        "Metrics": [metric],
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    }
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties, **extra}


def test_dashboard_widget_queries_are_found_and_checked_and_searches_left_alone() -> None:
    widget = {
        "type": "metric",
        "properties": {
            "title": "trips",
            "metrics": [
                [
                    {
                        "id": "q",
                        "expression": 'SELECT SUM("BreakerTrips") FROM SCHEMA("HyperPodAutoheal", Scope)',
                    }
                ],
                [
                    {
                        "id": "s",
                        "expression": "SEARCH('{HyperPodAutoheal,Scope} MetricName=\"X\"', 'Sum', 300)",
                    }
                ],
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "q"],
            ],
        },
    }
    template = {
        "Resources": {
            "Board": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {"DashboardBody": json.dumps({"widgets": [widget]})},
            }
        }
    }
    (problem,) = check_template(template)
    assert problem.startswith("Board widget 'trips' (defaults): label 'Scope' is a reserved keyword")


def test_an_alarm_no_checked_deployment_creates_is_reported() -> None:
    template = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {"Hidden": _alarm('SELECT SUM("x") FROM "ns"', Condition="Never")},
    }
    (problem,) = check_template(template)
    assert problem.startswith("Hidden: created in no deployment this check evaluates")


def test_lint_template_fails_on_a_query_problem(tmp_path: Path) -> None:
    """`make template-lint` (tools.lint_template) reports query problems as findings of their own."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {"Trips": _alarm('SELECT SUM(BreakerTrips) FROM SCHEMA("HyperPodAutoheal", Scope)')},
    }
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template), encoding="utf-8")
    queries = [f for f in check(path) if f.stage == "query"]
    assert len(queries) == 2  # Scope (reserved) and BreakerTrips (unquoted)
    assert "label 'Scope' is a reserved keyword" in queries[0].render(path.name)


def test_a_template_whose_conditions_cannot_be_evaluated_is_a_problem_not_a_crash() -> None:
    template = {"Resources": {"Orphan": _alarm('SELECT SUM("x") FROM "ns"', Condition="Undefined")}}
    (problem,) = check_template(template)
    assert problem.startswith("the template's conditions cannot be evaluated")
