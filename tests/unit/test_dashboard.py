"""The dashboard and the alarms in template.yaml watch metrics the code really emits.

The contract is the EMF the code writes, not a list kept by hand: `emitted()` flushes a `MetricCounts`
holding one value of every `Metric` through `flush_counts` (and the shared Powertools `Metrics`, as
`log_metrics` does at the end of an invocation) and reads back each blob's namespace, metric names and
dimension sets. CloudWatch matches a metric by its exact dimension set, so a widget or an alarm that
leaves out a dimension (Powertools' `service` on every metric, say) shows nothing and never fires: each
one here must name exactly a set the code emits. Renaming a metric, or a dimension, in the code or in the
template fails these tests until the other side follows.

The optional HMA parts (docs/hma.md) add a function, an errors alarm and an alarm on a metric the
template's own metric filter makes (not the code's EMF); the dashboard shows them only when they are
deployed. Everything here is checked with every optional part on (`DEPLOYED`), and the dashboard also
with everything off, where it must not name a resource that is not there.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import redirect_stdout
from dataclasses import dataclass
from functools import cache
from typing import Any
from unittest import mock

import pytest
from moto.events.models import EventPattern

from autoheal import observability
from autoheal.core.reconcile import Verdict
from autoheal.intake.normalise import normalise
from autoheal.intake.wiring import rule_config
from autoheal.observability import (
    GAUGES,
    METRIC_DIMENSIONS,
    TIMINGS,
    Metric,
    MetricCounts,
    flush_counts,
    signal_class,
)
from autoheal.policy import Action
from autoheal.settings import load_settings
from hyperpod_local.stack.intrinsics import Resolver
from hyperpod_local.stack.template import (
    FUNCTIONS,
    NEEDS_HUMAN_TOPIC,
    RECONCILE_FUNCTION,
    TEMPLATE_PATH,
    load_template,
    template_function_env,
)
from tools.metrics_insights import QueryError
from tools.metrics_insights import parse as parse_insights

T = load_template(TEMPLATE_PATH)
RESOURCES: Mapping[str, Any] = T["Resources"]
ENV: Mapping[str, str] = T["Globals"]["Function"]["Environment"]["Variables"]
NAMESPACE: str = ENV["POWERTOOLS_METRICS_NAMESPACE"]
SERVICE: str = ENV["POWERTOOLS_SERVICE_NAME"]
DASHBOARD = "AutohealDashboard"
TOPIC_KEY = "NeedsHumanTopicKey"
ALARMS = sorted(lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm")
#: Alarms that are triggers, not pages: intake hears their (contributor) state changes through EventBridge.
TRIGGER_ALARMS = ("HmaDetectionsAlarm",)
OPS_ALARMS = [lid for lid in ALARMS if lid not in TRIGGER_ALARMS]

#: Every optional part of the stack on: the HMA subscriptions and the HMA alarm section.
ALL_ON = {
    "HmaLogGroupNames": "/aws/sagemaker/Clusters/ml-cluster/abcdef012345",
    "HmaAlarmLogGroupName": "/aws/sagemaker/Clusters/ml-cluster/abcdef012345",
}


def deployment(parameters: Mapping[str, str]) -> Resolver:
    """One deployment: each resource it creates gets a Ref and an Arn / QueueName, made up but distinct;
    a resource whose Condition is false gets none, so naming it fails to resolve."""
    resolver = Resolver(T, parameters=parameters)
    created = [
        lid for lid, r in RESOURCES.items() if "Condition" not in r or resolver.condition(r["Condition"])
    ]
    return resolver.with_resources(
        {lid: f"phys-{lid}" for lid in created},
        {(lid, attr): f"{attr.lower()}-{lid}" for lid in created for attr in ("Arn", "QueueName")},
    )


DEPLOYED = deployment(ALL_ON)
FUNCTION_NAMES = {DEPLOYED.resolve({"Ref": fn}): fn for fn in FUNCTIONS}
QUEUES = sorted(lid for lid, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue")
QUEUE_NAMES = {DEPLOYED.resolve({"Fn::GetAtt": [q, "QueueName"]}): q for q in QUEUES}

#: Dimension values the code takes from a closed set; the template may only filter on these.
KNOWN_VALUES: Mapping[str, frozenset[str]] = {
    "service": frozenset({SERVICE}),
    "Action": frozenset(a.value for a in Action),
    "Result": frozenset(v.value for v in (Verdict.HEALED, Verdict.FAILED, Verdict.TIMED_OUT, Verdict.GONE)),
}
#: What issue 6 asks the dashboard to show, from our namespace.
ON_THE_DASHBOARD = {
    Metric.APPROVALS_PENDING,  # the approval gate (issue 18 §1)
    Metric.APPROVAL_OLDEST_AGE_SECONDS,
    Metric.APPROVAL_DECISIONS,
    Metric.FAULTS_RECEIVED,
    Metric.FAULTS_IGNORED,
    Metric.EVENTS_REJECTED,
    Metric.REBOOT_REQUESTS,
    Metric.REPLACE_REQUESTS,
    Metric.RETIRE_REQUESTS,
    Metric.RESTORED_NODES,
    Metric.RESTORE_FAILURES,
    Metric.BATCH_CALLS,
    Metric.FAILED_ENTRIES,
    Metric.BREAKER_TRIPS,
    Metric.NEEDS_HUMAN,
    Metric.FAULTS_HELD,
    Metric.CLAIM_CONFLICTS,
    Metric.TIME_TO_ACTION,
    Metric.TIME_TO_HEALTHY,
    Metric.ACTION_RESULTS,
    Metric.LADDER_SUCCESS_RATE,  # issue 17 §2: the adaptive ladder's rates
    Metric.EVIDENCE_CAPTURED,  # issue 18 §2: bundles per outcome, and their bytes
    Metric.EVIDENCE_BYTES,
}


# ---------------------------------------------------------------- what the code emits


@dataclass(frozen=True)
class Emitted:
    namespaces: frozenset[str]
    services: frozenset[str]
    dimension_sets: Mapping[str, frozenset[frozenset[str]]]  # metric name -> its dimension sets


@cache
def emitted() -> Emitted:
    """Flush one value of every metric as the deployed functions would, and read the EMF back."""
    counts = MetricCounts()
    for metric in Metric:
        dimensions = {name: "x" for name in METRIC_DIMENSIONS.get(metric, ())}
        if metric in TIMINGS:
            counts.observe(metric, 1.0, **dimensions)
        elif metric in GAUGES:
            counts.gauge(metric, 50.0, **dimensions)
        else:
            counts.add(metric, **dimensions)
    out = io.StringIO()
    env = {"POWERTOOLS_SERVICE_NAME": SERVICE, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}
    with mock.patch.dict(os.environ, env), redirect_stdout(out):
        flush_counts(counts)
        observability.metrics.flush_metrics()  # what log_metrics does when the handler returns
    namespaces: set[str] = set()
    services: set[str] = set()
    sets: dict[str, set[frozenset[str]]] = {}
    for line in out.getvalue().splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            namespaces.add(directive["Namespace"])
            for metric in directive["Metrics"]:
                for dimension_set in directive["Dimensions"]:
                    sets.setdefault(metric["Name"], set()).add(frozenset(dimension_set))
        if "service" in blob:
            services.add(blob["service"])
    return Emitted(
        frozenset(namespaces), frozenset(services), {name: frozenset(s) for name, s in sets.items()}
    )


def test_the_code_emits_every_metric_in_one_namespace_with_the_service_dimension() -> None:
    """The rule the template relies on: undimensioned metrics (shared `Metrics`), dimensioned ones
    (`single_metric`) and timings (`EphemeralMetrics`) all carry `service` next to their own."""
    e = emitted()
    assert e.namespaces == {NAMESPACE} == {observability.NAMESPACE}
    assert e.services == {SERVICE} == {observability.SERVICE}
    expected = {str(m): frozenset({frozenset({*METRIC_DIMENSIONS.get(m, ()), "service"})}) for m in Metric}
    assert dict(e.dimension_sets) == expected


# ---------------------------------------------------------------- what the template's metric filters emit


@cache
def filter_metrics() -> Mapping[tuple[str, str], frozenset[str]]:
    """(namespace, metric name) -> the dimension set of each metric a template metric filter publishes."""
    found: dict[tuple[str, str], frozenset[str]] = {}
    for r in RESOURCES.values():
        if r["Type"] != "AWS::Logs::MetricFilter":
            continue
        for t in DEPLOYED.resolve(r["Properties"])["MetricTransformations"]:
            dimensions = frozenset(d["Key"] for d in t.get("Dimensions", []))
            found[(t["MetricNamespace"], t["MetricName"])] = dimensions
    return found


# ---------------------------------------------------------------- what the template watches


@dataclass(frozen=True)
class MetricRef:
    """One metric a widget or alarm reads; a dimension's value is None when a search leaves it open."""

    where: str
    namespace: str
    name: str
    dimensions: Mapping[str, str | None]

    def __str__(self) -> str:
        dims = ",".join(f"{k}={v}" if v is not None else k for k, v in sorted(self.dimensions.items()))
        return f"{self.where}: {self.namespace}/{self.name}{{{dims}}}"


_SEARCH = re.compile(r"SEARCH\(\s*'([^']*)'")
_SEARCH_SCHEMA = re.compile(r"^\s*\{([^}]*)\}(.*)$")
_SEARCH_TERM = re.compile(r'(\w+)="([^"]*)"')


def search_refs(expression: str, where: str) -> list[MetricRef]:
    """The metrics of every SEARCH in a metric-math expression: `{Namespace,Dim,...} MetricName="X" Dim="v"`."""
    refs = []
    for query in _SEARCH.findall(expression):
        schema = _SEARCH_SCHEMA.match(query)
        assert schema, f"{where}: SEARCH without a {{namespace,dimensions}} schema: {query}"
        namespace, *names = (part.strip() for part in schema.group(1).split(","))
        terms = dict(_SEARCH_TERM.findall(schema.group(2)))
        assert "MetricName" in terms, f"{where}: SEARCH must name its metric: {query}"
        dimensions: dict[str, str | None] = dict.fromkeys(names)
        for key, value in terms.items():
            if key != "MetricName":
                assert key in dimensions, f"{where}: SEARCH filters on {key}, not in its schema: {query}"
                dimensions[key] = value
        refs.append(MetricRef(where, namespace, terms["MetricName"], dimensions))
    assert len(refs) == expression.count("SEARCH("), f"{where}: a SEARCH this test cannot read: {expression}"
    return refs


def insights_ref(query: str, where: str) -> MetricRef:
    """`SELECT FN(Metric) FROM SCHEMA("Namespace", Dim, ...) [WHERE Dim = 'v' AND ...] [GROUP BY Dim, ...]
    [ORDER BY FN() ... LIMIT n]` (Metrics Insights, read by tools.metrics_insights, which also checks the
    grammar and the quoting: tests/unit/test_template_metrics_insights.py)."""
    try:
        parsed = parse_insights(query)
    except QueryError as exc:
        raise AssertionError(f"{where}: not a Metrics Insights query this test can read: {query}") from exc
    assert parsed.schema is not None, f"{where}: FROM without SCHEMA matches any dimension set: {query}"
    dimensions: dict[str, str | None] = dict.fromkeys(label.name for label in parsed.schema)
    for grouped in parsed.group_by:
        assert grouped.name in dimensions, f"{where}: GROUP BY {grouped.name}, not in its SCHEMA"
    for condition in parsed.where:
        key = condition.label.name
        assert condition.operator == "=", f"{where}: a WHERE condition this test cannot read: {query}"
        assert key in dimensions, f"{where}: WHERE on {key}, not in its SCHEMA: {query}"
        dimensions[key] = condition.value
    return MetricRef(where, parsed.namespace.name, parsed.metric.name, dimensions)


def metric_array_ref(entry: list[Any], where: str) -> MetricRef:
    """A dashboard metric row `[namespace, name, dim, value, ..., {options}]`."""
    fields = entry[:-1] if isinstance(entry[-1], dict) else entry
    assert "." not in fields, f"{where}: spell out every row ('.' repeats the previous one): {entry}"
    namespace, name, *pairs = fields
    assert len(pairs) % 2 == 0, f"{where}: dimension without a value: {entry}"
    return MetricRef(where, namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True)))


def render_dashboard(deployed: Resolver) -> dict[str, Any]:
    body = deployed.resolve(RESOURCES[DASHBOARD]["Properties"]["DashboardBody"])
    assert isinstance(body, str)
    parsed: dict[str, Any] = json.loads(body)
    return parsed


@cache
def dashboard() -> dict[str, Any]:
    return render_dashboard(DEPLOYED)


def _widgets(kind: str) -> Iterator[dict[str, Any]]:
    yield from (w for w in dashboard()["widgets"] if w["type"] == kind)


def widget_refs(widget: Mapping[str, Any]) -> list[MetricRef]:
    title = widget["properties"]["title"]
    refs = []
    for entry in widget["properties"]["metrics"]:
        if isinstance(entry[0], dict):  # [{"expression": ..., "id": ...}]
            (options,) = entry
            refs += search_refs(options["expression"], title)
        else:
            refs.append(metric_array_ref(entry, title))
    return refs


def dashboard_refs() -> list[MetricRef]:
    return [ref for widget in _widgets("metric") for ref in widget_refs(widget)]


def _metric_widget_titles() -> list[str]:
    titles = [w["properties"]["title"] for w in _widgets("metric")]
    assert len(titles) == len(set(titles)), "widget titles must be unique"
    return titles


def alarm_refs(logical_id: str) -> list[MetricRef]:
    p = DEPLOYED.resolve(RESOURCES[logical_id]["Properties"])
    if "MetricName" in p:
        dims = {d["Name"]: d["Value"] for d in p.get("Dimensions", [])}
        return [MetricRef(logical_id, p["Namespace"], p["MetricName"], dims)]
    refs = []
    for query in p["Metrics"]:
        if "MetricStat" in query:
            m = query["MetricStat"]["Metric"]
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
            refs.append(MetricRef(logical_id, m["Namespace"], m["MetricName"], dims))
        elif query["Expression"].lstrip().upper().startswith("SELECT"):
            refs.append(insights_ref(query["Expression"], logical_id))
        else:
            assert "SEARCH(" not in query["Expression"], f"{logical_id}: alarms cannot use SEARCH"
    assert refs, f"{logical_id} watches no metric"
    return refs


def problems(ref: MetricRef) -> list[str]:
    """Why CloudWatch would show nothing for `ref` (empty when it names a metric that is emitted)."""
    dims = set(ref.dimensions)
    if ref.namespace == NAMESPACE:
        if ref.name not in {str(m) for m in Metric}:
            return [f"{ref}: no metric {ref.name!r} in autoheal.observability.Metric (renamed?)"]
        emitted_sets = emitted().dimension_sets[ref.name]
        found = []
        if frozenset(dims) not in emitted_sets:
            found.append(
                f"{ref}: dimensions {sorted(dims)}; the code emits {sorted(map(sorted, emitted_sets))}"
            )
        for key, value in ref.dimensions.items():
            if value is not None and key in KNOWN_VALUES and value not in KNOWN_VALUES[key]:
                found.append(f"{ref}: {key}={value!r} is never emitted (one of {sorted(KNOWN_VALUES[key])})")
        return found
    if (ref.namespace, ref.name) in filter_metrics():
        declared = filter_metrics()[(ref.namespace, ref.name)]
        ok = frozenset(dims) == declared
        return [] if ok else [f"{ref}: the template's metric filter publishes {sorted(declared)}"]
    if ref.namespace == "AWS/Lambda":
        ok = dims == {"FunctionName"} and ref.dimensions["FunctionName"] in FUNCTION_NAMES
        return [] if ok else [f"{ref}: not one of our functions by FunctionName"]
    if ref.namespace == "AWS/SQS":
        ok = dims == {"QueueName"} and ref.dimensions["QueueName"] in QUEUE_NAMES
        return [] if ok else [f"{ref}: not one of our queues by QueueName"]
    return [f"{ref}: a namespace the stack does not publish to"]


# ---------------------------------------------------------------- dashboard


def test_the_dashboard_is_named_after_the_stack_and_renders_to_json() -> None:
    assert RESOURCES[DASHBOARD]["Type"] == "AWS::CloudWatch::Dashboard"
    assert RESOURCES[DASHBOARD]["Properties"]["DashboardName"] == {"Fn::Sub": "${AWS::StackName}"}
    widgets = dashboard()["widgets"]
    assert widgets and all(w["type"] in ("text", "alarm", "metric") for w in widgets)
    for widget in _widgets("metric"):
        assert widget["properties"]["region"] == DEPLOYED.region
        assert widget["x"] + widget["width"] <= 24


@pytest.mark.parametrize("title", _metric_widget_titles())
def test_each_dashboard_widget_shows_metrics_the_code_emits(title: str) -> None:
    (widget,) = (w for w in _widgets("metric") if w["properties"]["title"] == title)
    refs = widget_refs(widget)
    assert refs, f"{title}: no metric"
    assert [p for ref in refs for p in problems(ref)] == []


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    refs = dashboard_refs()
    ours = {r.name for r in refs if r.namespace == NAMESPACE}
    assert {str(m) for m in ON_THE_DASHBOARD} <= ours
    lambda_metrics = {
        (r.name, FUNCTION_NAMES[str(r.dimensions["FunctionName"])])
        for r in refs
        if r.namespace == "AWS/Lambda"
    }
    assert {(m, fn) for m in ("Errors", "Throttles", "Duration") for fn in FUNCTIONS} <= lambda_metrics
    depths = {
        QUEUE_NAMES[str(r.dimensions["QueueName"])]
        for r in refs
        if (r.namespace, r.name) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    }
    assert depths == set(QUEUES)
    timings = {(r.name, r.dimensions.get("Action")) for r in refs if r.name in TIMINGS}
    assert timings == {(str(m), a.value) for m in TIMINGS for a in Action}


def test_the_alarm_widget_shows_every_alarm() -> None:
    (widget,) = _widgets("alarm")
    arns = {DEPLOYED.resolve({"Fn::GetAtt": [lid, "Arn"]}) for lid in ALARMS}
    assert sorted(widget["properties"]["alarms"]) == sorted(arns)


def test_without_the_optional_parts_the_dashboard_names_only_what_is_deployed() -> None:
    """Default parameters: no HMA function or alarms, so no row or alarm of theirs (resolving a Ref or
    an Arn of a resource that is not created raises), and the JSON stays valid."""
    off = deployment({})
    body = render_dashboard(off)
    (widget,) = (w for w in body["widgets"] if w["type"] == "alarm")
    created = [lid for lid in ALARMS if "Condition" not in RESOURCES[lid]]
    arns = [off.resolve({"Fn::GetAtt": [lid, "Arn"]}) for lid in created]
    assert sorted(widget["properties"]["alarms"]) == sorted(arns)
    named = {
        str(r.dimensions["FunctionName"])
        for w in body["widgets"]
        if w["type"] == "metric"
        for r in widget_refs(w)
        if r.namespace == "AWS/Lambda"
    }
    assert named == {off.resolve({"Ref": fn}) for fn in FUNCTIONS if "Condition" not in RESOURCES[fn]}


def test_the_dashboard_url_is_an_output() -> None:
    url = DEPLOYED.resolve(T["Outputs"]["DashboardUrl"]["Value"])
    name = DEPLOYED.resolve({"Ref": DASHBOARD})
    region = DEPLOYED.region
    assert (
        url
        == f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={name}"
    )


# ---------------------------------------------------------------- alarms


@pytest.mark.parametrize("logical_id", ALARMS)
def test_each_alarm_watches_a_metric_the_code_emits(logical_id: str) -> None:
    assert [p for ref in alarm_refs(logical_id) for p in problems(ref)] == []


@pytest.mark.parametrize("logical_id", OPS_ALARMS)
def test_each_alarm_notifies_the_needs_human_topic_on_alarm_and_ok(logical_id: str) -> None:
    p = RESOURCES[logical_id]["Properties"]
    assert p["AlarmActions"] == [{"Ref": NEEDS_HUMAN_TOPIC}]
    assert p["OKActions"] == [{"Ref": NEEDS_HUMAN_TOPIC}]
    assert p["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")  # the key's SourceArn pattern
    assert p["TreatMissingData"] in ("notBreaching", "breaching")


@pytest.mark.parametrize("logical_id", TRIGGER_ALARMS)
def test_trigger_alarms_page_nobody_and_pass_the_alarm_rules_prefix(logical_id: str) -> None:
    """Their contributors' ALARM are faults for intake (the AlarmEvents rule), not a human's page."""
    p = RESOURCES[logical_id]["Properties"]
    assert not {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(p)
    assert p["AlarmName"]["Fn::Sub"].startswith("${AlarmNamePrefix}")
    prefixed = deployment({**ALL_ON, "AlarmNamePrefix": "hp-"})
    assert prefixed.resolve(p["AlarmName"]).startswith("hp-")


def _alarms_on(namespace: str, name: str) -> dict[str, str]:
    """Alarm logical id -> the resource its single metric is about, for alarms on `namespace/name`."""
    found = {}
    for lid in ALARMS:
        for ref in alarm_refs(lid):
            if (ref.namespace, ref.name) == (namespace, name):
                found[lid] = str(next(iter(ref.dimensions.values()))) if ref.dimensions else ""
    return found


def _dead_letter_queues() -> set[str]:
    """Queues the template sends failures to: redrive targets, rule DLQs, async on-failure destinations."""
    found: set[str] = set()

    def walk(value: Any, inside: bool) -> None:
        if isinstance(value, dict):
            if inside and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][0] in QUEUES:
                found.add(value["Fn::GetAtt"][0])
            for key, item in value.items():
                walk(item, inside or key in ("deadLetterTargetArn", "DeadLetterConfig", "OnFailure"))
        elif isinstance(value, list):
            for item in value:
                walk(item, inside)

    walk(RESOURCES, False)
    return found


def test_the_alarms_issue_6_asks_for() -> None:
    errors = _alarms_on("AWS/Lambda", "Errors")
    assert sorted(FUNCTION_NAMES[v] for v in errors.values()) == sorted(FUNCTIONS)
    dlqs = _alarms_on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert (
        {QUEUE_NAMES[v] for v in dlqs.values()}
        == _dead_letter_queues()
        == {
            "FaultDLQ",
            "IntakeDLQ",
            "ReconcileDLQ",
        }
    )
    for lid in [*errors, *dlqs]:
        p = RESOURCES[lid]["Properties"]
        assert (p["ComparisonOperator"], p["Threshold"]) in (
            ("GreaterThanThreshold", 0),
            ("GreaterThanOrEqualToThreshold", 1),
        )
    (failed,) = _alarms_on(NAMESPACE, str(Metric.FAILED_ENTRIES))
    assert RESOURCES[failed]["Properties"]["Threshold"] == {"Ref": "FailedEntriesAlarmThreshold"}
    assert T["Parameters"]["FailedEntriesAlarmThreshold"]["Default"] == 10
    for metric in (Metric.BREAKER_TRIPS, Metric.NEEDS_HUMAN):
        (lid,) = _alarms_on(NAMESPACE, str(metric))
        p = RESOURCES[lid]["Properties"]
        assert (p["ComparisonOperator"], p["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_reconcile_not_running_fires_after_three_silent_intervals() -> None:
    (lid,) = _alarms_on("AWS/Lambda", "Invocations")
    assert FUNCTION_NAMES[_alarms_on("AWS/Lambda", "Invocations")[lid]] == RECONCILE_FUNCTION
    p = RESOURCES[lid]["Properties"]
    assert (p["Statistic"], p["ComparisonOperator"], p["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert p["TreatMissingData"] == "breaching"  # a function that never runs publishes no datapoints
    assert p["EvaluationPeriods"] == 1
    spec = T["Parameters"]["ReconcileIntervalMinutes"]
    for minutes in range(spec["MinValue"], spec["MaxValue"] + 1):
        deployed = Resolver(T, parameters={"ReconcileIntervalMinutes": str(minutes)})
        period = int(deployed.resolve(p["Period"]))
        assert period == 3 * minutes * 60, minutes
        assert period % 60 == 0 and period * p["EvaluationPeriods"] <= 86400


@pytest.mark.parametrize("prefix", ["autoheal:", "", "hyperpod-"])
def test_our_own_alarms_are_not_faults_to_intake(prefix: str) -> None:
    """Whatever AlarmNamePrefix is (empty: every alarm; or one our names start with), the AlarmEvents
    rule leaves our operational alarms out, and intake ignores them as ours if they reach it anyway."""
    deployed = deployment({**ALL_ON, "AlarmNamePrefix": prefix})
    settings = load_settings(deployed.resolve(template_function_env(T, "IntakeFunction")))
    rule = T["Resources"]["IntakeFunction"]["Properties"]["Events"]["AlarmEvents"]["Properties"]
    pattern = EventPattern.load(json.dumps(deployed.resolve(rule["Pattern"])))
    for lid in OPS_ALARMS:
        p = deployed.resolve(RESOURCES[lid]["Properties"])
        if "MetricName" in p:
            metric = {"namespace": p["Namespace"], "name": p["MetricName"]}
            metric["dimensions"] = {d["Name"]: d["Value"] for d in p["Dimensions"]}
            metrics: list[dict[str, Any]] = [{"id": "m1", "metricStat": {"metric": metric, "period": 300}}]
        else:
            metrics = [
                {"id": q["Id"], "expression": q["Expression"], "returnData": True} for q in p["Metrics"]
            ]
        event = {
            "version": "0",
            "id": f"alarm-{lid}",
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": DEPLOYED.account_id,
            "time": "2026-11-25T07:00:00Z",
            "region": DEPLOYED.region,
            "resources": [
                f"arn:aws:cloudwatch:{DEPLOYED.region}:{DEPLOYED.account_id}:alarm:{p['AlarmName']}"
            ],
            "detail": {
                "alarmName": p["AlarmName"],
                "state": {"value": "ALARM", "reason": "threshold crossed"},
                "previousState": {"value": "OK", "reason": ""},
                "configuration": {"metrics": metrics},
            },
        }
        assert not pattern.matches_event(event), lid  # type: ignore[arg-type]
        intake = normalise(event, rule_config(settings))
        assert (intake.faults, intake.rejected) == ([], None), lid
        assert [i.reason for i in intake.ignored] == ["own_operational_alarm"], lid


# ---------------------------------------------------------------- the topic's key


def test_the_topic_key_lets_our_alarms_and_in_account_sns_publishers_use_it() -> None:
    key = RESOURCES[TOPIC_KEY]
    assert key["Type"] == "AWS::KMS::Key"
    assert RESOURCES[NEEDS_HUMAN_TOPIC]["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [TOPIC_KEY, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    statements = {s["Sid"]: DEPLOYED.resolve(s) for s in key["Properties"]["KeyPolicy"]["Statement"]}
    use = ["kms:Decrypt", "kms:GenerateDataKey*"]
    account, region = DEPLOYED.account_id, DEPLOYED.region

    cloudwatch = statements["CloudWatchAlarmsOfThisStack"]
    assert (cloudwatch["Principal"], cloudwatch["Action"]) == ({"Service": "cloudwatch.amazonaws.com"}, use)
    assert cloudwatch["Condition"]["StringEquals"] == {"aws:SourceAccount": account}
    pattern = cloudwatch["Condition"]["ArnLike"]["aws:SourceArn"]
    assert pattern == f"arn:aws:cloudwatch:{region}:{account}:alarm:{DEPLOYED.stack_name}-*"

    publishers = statements["PublishersInThisAccountThroughSns"]
    assert (publishers["Principal"], publishers["Action"]) == ({"AWS": "*"}, use)
    assert publishers["Condition"] == {
        "StringEquals": {"kms:CallerAccount": account, "kms:ViaService": f"sns.{region}.amazonaws.com"}
    }
    skips = key["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skips] == ["CKV_AWS_33"] and all(s["comment"].strip() for s in skips)


# ---------------------------------------------------------------- the check itself


def test_the_check_catches_a_renamed_metric_a_missing_dimension_and_a_stray_value() -> None:
    good = MetricRef("w", NAMESPACE, "FailedEntries", {"Action": None, "ErrorCode": None, "service": SERVICE})
    assert problems(good) == []
    renamed = MetricRef("w", NAMESPACE, "FailedEntry", dict(good.dimensions))
    no_service = MetricRef("w", NAMESPACE, "FailedEntries", {"Action": None, "ErrorCode": None})
    stray = MetricRef("w", NAMESPACE, "BatchCalls", {"Action": "terminate", "service": SERVICE})
    other_service = MetricRef("w", NAMESPACE, "NeedsHuman", {"service": "someone-else"})
    for bad in (renamed, no_service, stray, other_service):
        assert problems(bad), bad
    assert search_refs(
        "SEARCH('{HyperPodAutoheal,Scope,service} MetricName=\"BreakerTrips\" service=\"x\"', 'Sum', 300)",
        "w",
    ) == [MetricRef("w", "HyperPodAutoheal", "BreakerTrips", {"Scope": None, "service": "x"})]
    assert insights_ref(
        "SELECT SUM(NeedsHuman) FROM SCHEMA(\"HyperPodAutoheal\", service) WHERE service = 'x'", "w"
    ) == MetricRef("w", "HyperPodAutoheal", "NeedsHuman", {"service": "x"})
    assert insights_ref(
        'SELECT SUM("NeedsHuman") FROM SCHEMA("HyperPodAutoheal", "service") WHERE "service" = \'x\' '
        "ORDER BY SUM() DESC LIMIT 5",
        "w",
    ) == MetricRef("w", "HyperPodAutoheal", "NeedsHuman", {"service": "x"})


@pytest.mark.parametrize(
    ("raw", "emitted"),
    [
        ("reboot", "reboot"),
        ("Xid \x1b[31m\u00e9rror\t\u2603\n", "Xid _[31m_rror"),
        ("  \t", "unknown"),
        ("x" * 300, "x" * 64),
    ],
)
def test_every_dimension_value_is_printable_ascii_and_bounded(raw: str, emitted: str) -> None:
    counts = MetricCounts()
    counts.add(Metric.NODES_CLOSED, Reason=raw)
    assert [r["dimensions"] for r in counts.as_rows()] == [{"Reason": emitted}]


@pytest.mark.parametrize(
    ("signal", "source", "emitted"),
    [
        ("XidError:79", "hyperpod.hma_log", "XidError:79"),
        ("NvidiaErrorTerminate", "hyperpod.node_health", "NvidiaErrorTerminate"),
        ("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", "aws.health", "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED"),
        ("autoheal:ml-cluster:i-0d4c2b1a0f9e8d7c6", "aws.cloudwatch", "CloudWatchAlarm"),
        ("GpuXidAlarm", "aws.cloudwatch", "CloudWatchAlarm"),
        ("xid errors on node 7", "hyperpod.hma_log", "Other"),
        (None, None, "unknown"),
    ],
)
def test_the_signal_dimension_is_a_bounded_class(
    signal: str | None, source: str | None, emitted: str
) -> None:
    assert signal_class(signal, source) == emitted
    counts = MetricCounts()
    counts.add(Metric.ACTION_RESULTS, Action="reboot", Signal=signal or "", Result="healed")
    (row,) = counts.as_rows()
    if source != "aws.cloudwatch":  # a raw alarm name handed in by mistake is still not a class
        assert row["dimensions"]["Signal"] == emitted
