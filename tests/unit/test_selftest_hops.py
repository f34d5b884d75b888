"""`autoheal selftest`'s hops, from what it observes (no AWS): the probe is a fault intake accepts, and
each hop's verdict from intake's log lines, the ledger and the metrics."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from autoheal.intake.normalise import normalise
from autoheal.intake.wiring import rule_config
from autoheal.reserved import RESERVED_CLUSTER_PREFIX
from autoheal.settings import load_settings
from autoheal_cli import selftest_hops as hops
from autoheal_cli.selftest_hops import IntakeSeen, Observed, Status

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_the_probe_is_a_node_health_fault_for_its_reserved_cluster() -> None:
    probe = hops.Probe.new()
    assert probe.cluster.startswith(RESERVED_CLUSTER_PREFIX) and probe != hops.Probe.new()
    intake = normalise(probe.event("123456789012", "us-east-1", AT), rule_config(load_settings({})))
    assert intake.rejected is None and not intake.ignored
    (fault,) = intake.faults
    assert (fault.cluster_name, fault.cluster_arn, fault.instance_id) == (
        probe.cluster,
        None,
        probe.instance_id,
    )
    entry = probe.entry()
    assert entry["Source"] == "autoheal.selftest" and json.loads(entry["Detail"]) == probe.detail()


def line(message: str, event_id: str = "e1", **extra: Any) -> str:
    """A log line as Lambda's text format stores it: a prefix, then Powertools' JSON."""
    return "2026-12-06T12:00:00Z req-1 " + json.dumps({"message": message, "event_id": event_id, **extra})


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([line("faults enqueued", enqueued=1)], (1, "")),
        ([line("ignored", reason="selftest_not_reserved")], (None, "ignored: selftest_not_reserved")),
        (
            [line("event rejected", reason="malformed:x", error="bad id")],
            (None, "rejected: malformed:x (bad id)"),
        ),
        ([line("faults enqueued", event_id="other", enqueued=1), "not json {"], (None, "")),
    ],
    ids=["enqueued", "ignored", "rejected", "another event's line, garbage"],
)
def test_intake_log_lines_are_read_for_the_event_only(lines: list[str], expected: tuple[Any, str]) -> None:
    seen = IntakeSeen()
    for message in lines:
        hops._read_line(seen, message, "e1")
    assert (seen.enqueued, seen.dropped) == expected


@pytest.mark.parametrize(
    ("intake", "verdicts", "expected"),
    [
        (IntakeSeen(lines=1, enqueued=1), ["cluster_not_found"], (Status.OK, Status.OK)),
        (IntakeSeen(missing_group=True), ["cluster_not_found"], (Status.INFERRED, Status.INFERRED)),
        (IntakeSeen(), ["cluster_not_found"], (Status.INFERRED, Status.INFERRED)),
        (IntakeSeen(lines=1, dropped="ignored: x"), [], (Status.BROKEN, Status.SKIPPED)),
        (IntakeSeen(lines=1, enqueued=0), [], (Status.OK, Status.BROKEN)),
        (IntakeSeen(), [], (Status.BROKEN, Status.SKIPPED)),
    ],
    ids=["logged", "no log group", "no line yet", "intake ignored it", "nothing enqueued", "nothing at all"],
)
def test_hops_2_and_3_are_seen_or_inferred_from_the_verdict(
    intake: IntakeSeen, verdicts: list[str], expected: tuple[Status, Status]
) -> None:
    two, three = hops.intake_hops(Observed(intake, verdicts), "/aws/lambda/intake")
    assert (two.status, three.status) == expected


def test_hop_4_needs_the_cluster_not_found_verdict() -> None:
    assert hops.verdict_hop(Observed(verdicts=["cluster_not_found"]), "t").status is Status.OK
    wrong = hops.verdict_hop(Observed(verdicts=["node_not_in_cluster"]), "t")
    assert wrong.status is Status.BROKEN and "node_not_in_cluster" in wrong.detail
    assert "event source mapping" in hops.verdict_hop(Observed(), "t").check
    denied = hops.verdict_hop(Observed(verdicts=["reserved_cluster_unreachable:AccessDeniedException"]), "t")
    assert denied.status is Status.BROKEN and "ClusterArnPattern" in denied.check


def test_hop_5_needs_both_metrics_and_is_skipped_unless_asked() -> None:
    assert hops.metrics_hop(None).status is Status.SKIPPED
    assert hops.metrics_hop({"enqueued": 1.0, "dropped": 2.0}).status is Status.OK
    assert hops.metrics_hop({"enqueued": 1.0}).status is Status.BROKEN
    queries = hops.metric_queries(AT, AT)["MetricDataQueries"]
    dims = [q["MetricStat"]["Metric"]["Dimensions"] for q in queries]
    assert dims == [
        [{"Name": "service", "Value": "hyperpod-autoheal"}],
        [{"Name": "service", "Value": "hyperpod-autoheal"}, {"Name": "Reason", "Value": "cluster_not_found"}],
    ]


class Events:
    """A stand-in EventBridge client for hop 1."""

    def __init__(self, state: str = "ENABLED", matches: bool = True, target: str = "arn:intake") -> None:
        self.state, self.matches, self.target = state, matches, target

    def describe_rule(self, Name: str) -> dict[str, Any]:
        return {"Name": Name, "State": self.state, "EventPattern": "{}"}

    def test_event_pattern(self, EventPattern: str, Event: str) -> dict[str, Any]:
        return {"Result": self.matches}

    def list_targets_by_rule(self, Rule: str) -> dict[str, Any]:
        return {"Targets": [{"Id": "intake", "Arn": self.target}]}


@pytest.mark.parametrize(
    ("events", "status", "says"),
    [
        (Events(), Status.OK, "is enabled"),
        (Events(state="DISABLED"), Status.BROKEN, "is DISABLED"),
        (Events(matches=False), Status.BROKEN, "does not match"),
        (Events(target="arn:other"), Status.BROKEN, "not arn:intake"),
    ],
    ids=["wired", "disabled", "old pattern", "other target"],
)
def test_hop_1_checks_state_pattern_and_target(events: Events, status: Status, says: str) -> None:
    hop = hops.rule_hop(events, "rule", "arn:intake", {})
    assert hop.status is status and says in hop.detail


def test_the_outputs_selftest_reads_are_the_templates() -> None:
    from autoheal_cli.commands import selftest
    from hyperpod_local.stack.template import load_template

    outputs = load_template()["Outputs"]
    assert outputs[selftest.OUTPUT_RULE]["Value"] == {"Ref": "IntakeFunctionHyperPodEvents"}
    assert outputs[selftest.OUTPUT_INTAKE]["Value"] == {"Fn::GetAtt": ["IntakeFunction", "Arn"]}
    assert outputs[selftest.OUTPUT_INTAKE_LOGS]["Value"] == {"Ref": "IntakeLogGroup"}
