"""`make demo` as a test: the built-in incident's JSON summary, scenario files, and bad input.

The demo runs in this process on the session's local server (moto's backends are process-wide, so it
must not start a second one): `main(argv, local=...)` resets it and runs there.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hyperpod_local.demo import main
from hyperpod_local.demo.builtin import (
    LABEL_BUSY,
    LABEL_DUPLICATE,
    LABEL_HEALTHY,
    LABEL_HMA,
    LABEL_LEMON,
    incident,
)
from hyperpod_local.demo.scenario_file import ScenarioError, parse_scenario
from hyperpod_local.demo.script import LABEL_ADDED
from hyperpod_local.demo.summary import guards_summary
from hyperpod_local.plane import LocalAws
from hyperpod_local.plane.model import NodeTimings

pytestmark = pytest.mark.scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "hyperpod_local" / "demo" / "examples" / "flapping-node.json"
HMA_EXAMPLE = ROOT / "hyperpod_local" / "demo" / "examples" / "slurm-hma.json"
REBOOT, REPLACE = "BatchRebootClusterNodes", "BatchReplaceClusterNodes"
DELETE, ADD = "BatchDeleteClusterNodes", "BatchAddClusterNodes"
MALFORMED = "malformed:SageMaker HyperPod Cluster Node Health Event"


def run_demo(local: LocalAws, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), local=local, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def act(
    reason: str, action: str | None, outcome: str | None = "accepted", code: str | None = None
) -> dict[str, Any]:
    decision = "act" if action else "ignore"
    return {"decision": decision, "reason": reason, "action": action, "outcome": outcome, "error_code": code}


@pytest.fixture(scope="module")
def demo(local_aws: LocalAws) -> tuple[dict[str, Any], str, dict[str, str | None], dict[str, Any]]:
    """The default incident (60-node storm) once: its summary, its stderr, the control plane's
    instance id per NodeLogicalId of the special nodes right after the run, and its add calls and
    the storm group's nodes then."""
    env_before = dict(os.environ)
    code, out, err = run_demo(local_aws, "--json")
    assert code == 0, err
    assert dict(os.environ) == env_before  # the demo puts the environment back
    summary: dict[str, Any] = json.loads(out)  # stdout is exactly one JSON document
    listed = {
        v.logical_id: v.instance_id
        for name in ("train-p5", "infer-p5")
        for v in local_aws.control.nodes(name)
    }
    current = {n["logical_id"]: listed.get(n["logical_id"]) for n in summary["nodes"]}  # None: retired
    plane = {  # the control plane right after the run (other tests reset it)
        "adds": [c for c in local_aws.control.calls if c.action == ADD],
        "gpu-a": [v for v in local_aws.control.nodes("train-p5") if v.instance_group_name == "gpu-a"],
    }
    return summary, err, current, plane


def test_the_storm_makes_three_reboot_calls_and_every_mutating_call_is_accounted_for(demo: Any) -> None:
    summary, *_ = demo
    assert summary["calls_by_operation"] == {
        REBOOT: {"calls": 7, "nodes": 64, "sizes": [25, 25, 10, 1, 1, 1, 1]},
        REPLACE: {"calls": 1, "nodes": 1, "sizes": [1]},
        DELETE: {"calls": 1, "nodes": 1, "sizes": [1]},
        ADD: {"calls": 2, "nodes": 2, "sizes": [1, 1]},  # the same ClientToken twice: one node added
    }
    assert [
        (c["at_seconds"], c["operation"], c["cluster"], c["size"], c["failed"]) for c in summary["calls"]
    ] == [
        (0, REBOOT, "train-p5", 25, {}),
        (0, REBOOT, "train-p5", 25, {}),
        (0, REBOOT, "train-p5", 10, {}),  # the storm: 60 faults, 3 calls
        (0, REBOOT, "infer-p5", 1, {}),  # the duplicated event, acted on once
        (0, REBOOT, "infer-p5", 1, {"InstanceIdInUse": 1}),  # the busy node
        (120, REBOOT, "infer-p5", 1, {}),  # ... retried once the clock moved
        (120, REBOOT, "infer-p5", 1, {}),  # one XID 79 by HMA log and by EventBridge: rebooted once
        (420, REPLACE, "train-p5", 1, {}),  # the recurrence, escalated
        (1320, DELETE, "train-p5", 1, {}),  # the lemon retired ...
        (1320, ADD, "train-p5", 1, {}),  # ... and its group restored; the invocation then dies
        (2220, ADD, "train-p5", 1, {}),  # the restore resumed under the stored token
    ]
    assert summary["failed_entries"] == {"InstanceIdInUse": 1}
    # reboot, echo grace, replacement, echo grace, the dead invocation's claim TTL, the shortage's rest
    assert summary["simulated_seconds"] == 120 + 300 + 600 + 300 + 900 + 900


def test_intake_counts_the_malformed_event_and_acknowledges_the_healthy_one(demo: Any) -> None:
    summary, *_ = demo
    assert summary["events"] == {
        # 60 storm + duplicate x2 + healthy + malformed + busy + redelivery + HMA log delivery + its
        # EventBridge twin + recurrence + the lemon's fault
        "delivered": 70,
        "faults_received": 68,
        "faults_enqueued": 68,
        # the HMA delivery's 3 records of one node are one fault
        "ignored": {"duplicate_in_event": 2, "healthy_transition": 1},
        "rejected": {MALFORMED: 1},
    }


def test_remediate_counters(demo: Any) -> None:
    summary, *_ = demo
    approval = summary["approvals"][0]["id"]
    assert summary["remediate"] == {
        "invocations": 9,  # with the held replace's (issue 18: it waits for approval)
        "invocations_died": 1,  # the lemon's retire: its counts lost, its decisions rebuilt
        # 68 enqueued by intake + the busy node's re-queued retry + the dead invocation's message
        # redelivered + reconcile's RestorePending + the held replace put back by `autoheal approve`
        "messages": 72,
        "faults_dequeued": 70,
        "duplicates_collapsed": 1,
        "retries_scheduled": 1,
        "escalations": 1,
        "needs_human": 0,
        # the pending approval; the lemon retired and its group restored; the added node running
        "notifications": 3,
        "claim_conflicts": 0,
        "nodes_closed": 0,
        "faults_held": 1,  # the replace, until it was approved
        "batch_item_failures": 0,
    }
    decisions = [({k: v for k, v in d.items() if k != "nodes"}, d["nodes"]) for d in summary["decisions"]]
    assert decisions == [
        (act("first_fault", "reboot"), 62),  # 60 storm + duplicate + the HMA node's 2 faults as one
        (act("fault_recurred", "replace"), 1),
        (act("fault_recurred", "retire"), 1),  # in the invocation that died after its calls
        (act("restore_resumed", "retire", "added"), 1),  # the add re-sent under its stored token
        (act("retry_after_transient_failure", "reboot"), 1),
        (act("retry_scheduled", "reboot", "transient", "InstanceIdInUse"), 1),
        ({**act(f"approval:{approval}", None, None), "decision": "held"}, 1),
        (act("duplicate_event", None, None), 1),
        (act("node_not_in_cluster", None, None), 1),  # the dead invocation's message, redelivered
    ]


def test_the_special_nodes_tell_their_story(demo: Any) -> None:
    summary, _, current, _ = demo
    nodes = {n["label"]: n for n in summary["nodes"]}
    # the recurring node (LABEL_RECURS when it is replaced) is the lemon; the node its restore added
    assert list(nodes) == [LABEL_DUPLICATE, LABEL_HEALTHY, LABEL_BUSY, LABEL_HMA, LABEL_LEMON, LABEL_ADDED]

    def story(label: str) -> list[tuple[int, str | None, str, str | None]]:
        return [(h["invocation"], h["action"], h["reason"], h["error_code"]) for h in nodes[label]["history"]]

    lemon = nodes[LABEL_LEMON]
    approval = summary["approvals"][0]["id"]
    assert story(LABEL_LEMON) == [
        (1, "reboot", "first_fault", None),
        (5, None, f"approval:{approval}", None),  # held: the replace waits for approval (issue 18)
        (6, "replace", "fault_recurred", None),  # approved by the demo's operator
        (7, "retire", "fault_recurred", None),  # #7 died after its delete and add (its report rebuilt)
        (8, None, "node_not_in_cluster", None),
        (9, "retire", "restore_resumed", None),
    ]
    assert [(r["round"], r["verdict"]) for r in lemon["reconcile"]] == [
        (1, "restore_resumed"),
        (2, "wait"),  # the added node Pending: a capacity shortage
        (3, "restored"),
    ]
    old, new = lemon["instance_ids"]  # replaced once (a new instance id, same logical id), then retired
    assert old != new and current[lemon["logical_id"]] is None
    assert (lemon["cluster"], lemon["group"], lemon["status"]) == ("train-p5", "gpu-a", None)
    added = nodes[LABEL_ADDED]
    assert (added["cluster"], added["group"], added["status"], added["history"]) == (
        "train-p5",
        "gpu-a",
        "Running",
        [],
    )

    assert story(LABEL_BUSY) == [
        (2, "reboot", "retry_scheduled", "InstanceIdInUse"),
        (3, "reboot", "retry_after_transient_failure", None),
    ]
    assert story(LABEL_DUPLICATE) == [(1, "reboot", "first_fault", None), (3, None, "duplicate_event", None)]
    assert story(LABEL_HEALTHY) == []  # acknowledged by intake, never remediated
    assert story(LABEL_HMA) == [(4, "reboot", "first_fault", None)]  # by HMA log and EventBridge: once
    hma = nodes[LABEL_HMA]
    assert (hma["cluster"], hma["group"], hma["status"]) == ("infer-p5", "gpu", "Running")
    for label in (LABEL_BUSY, LABEL_DUPLICATE, LABEL_HEALTHY, LABEL_HMA):
        assert nodes[label]["instance_ids"] == [current[nodes[label]["logical_id"]]]


def test_the_metrics_are_the_merged_counts_of_every_invocation(demo: Any) -> None:
    summary, *_ = demo
    metrics = {(m["metric"], tuple(sorted(m["dimensions"].items()))): m["value"] for m in summary["metrics"]}
    # the replace's bundle, files and manifest (the retire's invocation died: its counts were never flushed)
    assert metrics.pop(("EvidenceBytes", ())) > sum(summary["evidence"][0]["files"].values())
    assert metrics == {
        (
            "ActionResults",
            (("Action", "reboot"), ("Result", "healed"), ("Signal", "NvidiaErrorTerminate")),
        ): 62,
        (
            "ActionResults",
            (("Action", "retire"), ("Result", "healed"), ("Signal", "NvidiaErrorTerminate")),
        ): 1,
        ("BatchCalls", (("Action", "reboot"),)): 7,
        ("BatchCalls", (("Action", "replace"),)): 1,
        ("ClaimsRecovered", (("Resolution", "recorded_as_taken"),)): 1,
        ("DuplicateFaults", ()): 1,
        (
            "EvidenceCaptured",
            (("Outcome", "complete"),),
        ): 2,  # at the approval request, then before the replace
        ("Escalations", ()): 1,
        ("EventsRejected", (("Reason", MALFORMED),)): 1,
        ("FailedEntries", (("Action", "reboot"), ("ErrorCode", "InstanceIdInUse"))): 1,
        ("FaultsDequeued", ()): 70,
        ("FaultsHeld", (("Reason", "approval"),)): 1,
        ("ApprovalsRequested", ()): 1,
        ("ApprovalDecisions", (("Decision", "approved"),)): 1,
        ("ApprovalsPending", ()): 0,  # reconcile's rounds, after the approval
        ("ApprovalOldestAgeSeconds", ()): 0,
        ("FaultsEnqueued", ()): 68,
        ("FaultsIgnored", (("Reason", "duplicate_event"),)): 1,
        ("FaultsIgnored", (("Reason", "duplicate_in_event"),)): 2,
        ("FaultsIgnored", (("Reason", "healthy_transition"),)): 1,
        ("FaultsIgnored", (("Reason", "node_not_in_cluster"),)): 1,
        ("FaultsReceived", ()): 68,
        ("RebootRequests", ()): 63,
        ("ReplaceRequests", ()): 1,
        ("RestoredNodes", ()): 1,
        ("RetriesScheduled", ()): 1,
    }


def test_the_replace_and_the_retire_each_wrote_an_evidence_bundle_first(demo: Any) -> None:
    summary, err, *_ = demo
    replace, retire = summary["evidence"]
    lemon = next(n for n in summary["nodes"] if n["label"] == LABEL_LEMON)
    for row, action, instance in ((replace, "replace", 0), (retire, "retire", 1)):
        assert (row["action"], row["cluster"], row["reason"], row["partial"]) == (
            action,
            "train-p5",
            "fault_recurred",
            False,
        )
        assert row["logical_id"] == lemon["logical_id"] and row["at_seconds"] > 0
        hma = f"logs/SagemakerHealthMonitoringAgent_gpu-a_{lemon['instance_ids'][instance]}.jsonl"
        assert set(row["files"]) == {"faults.json", "ledger.json", "node.json", hma}
        assert all(size > 0 for size in row["files"].values())
        # the URI (this run's bucket) in the progress output, with the manifest's summary
        assert f"evidence before the {action} of train-p5/{lemon['logical_id']}: s3://" in err
    assert "(4 files, " in err and ", complete)" in err


def test_the_summary_says_the_demo_runs_with_relaxed_guards(demo: Any) -> None:
    summary, err, *_ = demo
    assert summary["guards"] == {
        "relaxed": True,
        "settings": [  # the local world's values against the template's defaults
            {"setting": "AUTOHEAL_RETRY_BACKOFF_SECONDS", "demo": 0, "deployed": 30},
            {"setting": "AUTOHEAL_BREAKER_GROUP_MAX_NODES", "demo": 10000, "deployed": 25},
            {"setting": "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT", "demo": 100, "deployed": 20},
            {"setting": "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES", "demo": 10000, "deployed": 50},
            {"setting": "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT", "demo": 100, "deployed": 20},
            {"setting": "AUTOHEAL_NODE_COOLDOWN_MINUTES", "demo": 0, "deployed": 30},
            {"setting": "AUTOHEAL_FLEET_BREAKER_CLUSTERS", "demo": 0, "deployed": 3},  # issue 18: off
            {"setting": "AUTOHEAL_FLEET_BREAKER_PERCENT", "demo": 0, "deployed": 10},
            # issue 18 §3: the storm is one signal on 62 nodes; canary waves would hold it behind a canary
            {"setting": "AUTOHEAL_CANARY_WAVES", "demo": "false", "deployed": "true"},
        ],
    }
    # the schema's keys, in order; `guards` added by issue 16, `switches` and `reconcile` by issue 17,
    # `evidence` by issue 18
    assert list(summary) == [
        "schema",
        "scenario",
        "description",
        "seed",
        "simulated_seconds",
        "timings",
        "guards",
        "switches",
        "clusters",
        "events",
        "remediate",
        "reconcile",
        "approvals",  # issue 18
        "decisions",
        "calls",
        "calls_by_operation",
        "failed_entries",
        "evidence",
        "nodes",
        "metrics",
    ]
    assert "guards: relaxed for the demo: retry backoff seconds 0 (deployed: 30), " in err


def test_guards_the_same_as_deployed_are_not_relaxed() -> None:
    deployed = {"AUTOHEAL_NODE_COOLDOWN_MINUTES": "30", "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT": "20"}
    assert guards_summary(deployed, deployed) == {"relaxed": False, "settings": []}
    assert guards_summary({"AUTOHEAL_NODE_COOLDOWN_MINUTES": "0.5"}, deployed)["settings"] == [
        {"setting": "AUTOHEAL_NODE_COOLDOWN_MINUTES", "demo": 0.5, "deployed": 30}
    ]


def test_json_mode_sends_progress_to_stderr(demo: Any) -> None:
    _, err, *_ = demo
    assert "-- storm" in err
    assert "remediate #1: 62 messages -> 4 calls (reboot train-p5 25+25+10, reboot infer-p5 1)" in err
    assert (
        "intake: 1 HMA log delivery (3 records) + 1 event -> 2 faults, 2 enqueued; "
        f"ignored: duplicate_in_event 2  [{LABEL_HMA}]"
    ) in err
    assert "remediate #4: 2 messages -> 1 call (reboot infer-p5 1); 1 same-node fault merged" in err


def test_the_text_output_is_progress_then_tables(local_aws: LocalAws) -> None:
    code, out, err = run_demo(local_aws, "--nodes", "3")
    assert (code, err) == (0, "")
    assert out.index("-- storm") < out.index("== hyperpod-autoheal demo: summary ==")
    summary = out[out.index("== hyperpod-autoheal demo: summary ==") :]
    assert (
        "\nguards: relaxed for the demo: retry backoff seconds 0 (deployed: 30), breaker group max nodes "
        in summary
    )
    assert (
        "node cooldown minutes 0 (deployed: 30), fleet breaker clusters 0 (deployed: 3), fleet breaker "
        "percent 0 (deployed: 10), canary waves false (deployed: true)\nswitches: retire and restore ON for "
        "the demo (deployed: off)\n" in summary
    )
    assert "BatchRebootClusterNodes: 5 calls, 3+1+1+1+1 = 7 nodes" in out
    assert "BatchReplaceClusterNodes: 1 call, 1 = 1 node" in out
    assert "faults again -> replace" in out


def test_the_shipped_example_scenario(local_aws: LocalAws) -> None:
    code, out, err = run_demo(local_aws, "--json", "--quiet", "--scenario", str(EXAMPLE))
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["calls_by_operation"] == {
        REBOOT: {"calls": 3, "nodes": 31, "sizes": [25, 5, 1]},  # 30 faults, one flaky entry retried
        REPLACE: {"calls": 1, "nodes": 1, "sizes": [1]},
    }
    assert summary["failed_entries"] == {"InternalServerError": 1}
    assert summary["events"]["ignored"] == {"info_level": 1}
    assert summary["remediate"]["needs_human"] == summary["remediate"]["notifications"] == 1
    (flapping,) = (n for n in summary["nodes"] if n["label"])
    assert [(h["action"], h["reason"]) for h in flapping["history"]] == [
        ("reboot", "first_fault"),
        ("replace", "fault_recurred"),
        (None, "ladder_exhausted"),
    ]


HMA_SCENARIO = {
    "clusters": [{"name": "slurm", "groups": [{"name": "gpu", "count": 4, "node_type": "Compute"}]}],
    "steps": [
        # Xid 48 (double-bit ECC) starts on a reboot; 79 would start on a replace (issue 17)
        {
            "phase": "hma",
            "hma": {"cluster": "slurm", "group": "gpu", "nodes": ["0-1"], "xid": 48, "records": 2},
        },
        {"hma": {"cluster": "slurm", "group": "gpu", "nodes": [2], "xid": 13, "label": "application xid"}},
        {
            "hma": {
                "cluster": "slurm",
                "group": "gpu",
                "nodes": [3],
                "xid": 48,
                "also_eventbridge": True,
                "label": "both",
            }
        },
        {"remediate": {}},
    ],
}


def test_hma_steps_deliver_log_records_through_intake(local_aws: LocalAws, tmp_path: Path) -> None:
    path = scenario_file(tmp_path, json.dumps(HMA_SCENARIO))
    code, out, err = run_demo(local_aws, "--json", "--scenario", path)
    assert code == 0, err
    summary = json.loads(out)
    assert (
        "intake: 2 HMA log deliveries (4 records) -> 2 faults, 2 enqueued; ignored: duplicate_in_event 2"
        in err
    )
    assert (
        "intake: 1 HMA log delivery (1 record) -> 0 faults, 0 enqueued; ignored: hma_application_fault 1"
        in err
    )
    assert "intake: 1 HMA log delivery (1 record) + 1 event -> 2 faults, 2 enqueued  [both]" in err
    assert summary["events"] == {
        "delivered": 5,  # one delivery per node, and node 3's EventBridge event
        "faults_received": 4,  # nodes 0 and 1 (2 records each: one fault), node 3 twice; Xid 13 is no fault
        "faults_enqueued": 4,
        "ignored": {"duplicate_in_event": 2, "hma_application_fault": 1},
        "rejected": {},
    }
    assert summary["calls_by_operation"] == {REBOOT: {"calls": 1, "nodes": 3, "sizes": [3]}}
    nodes = {n["label"]: n for n in summary["nodes"]}
    assert nodes["application xid"]["history"] == []
    assert [(h["action"], h["reason"]) for h in nodes["both"]["history"]] == [("reboot", "first_fault")]


def test_an_hma_step_dumps_and_parses_back() -> None:
    scenario = parse_scenario(HMA_SCENARIO)
    hma = scenario.steps[0].hma
    assert hma is not None and (hma.indexes(), hma.xid, hma.records, hma.also_eventbridge) == (
        [0, 1],
        48,
        2,
        False,
    )
    assert parse_scenario(scenario.model_dump(exclude_none=True)) == scenario


def test_the_shipped_slurm_hma_example(local_aws: LocalAws) -> None:
    code, out, err = run_demo(local_aws, "--json", "--quiet", "--scenario", str(HMA_EXAMPLE))
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["calls_by_operation"] == {REBOOT: {"calls": 2, "nodes": 13, "sizes": [12, 1]}}
    assert summary["events"] == {
        "delivered": 15,  # 12 storm deliveries + the Xid 13 one + EventBridge + the later HMA delivery
        "faults_received": 14,
        "faults_enqueued": 14,
        "ignored": {"duplicate_in_event": 14, "hma_application_fault": 1},  # 12x1 + 2 extra records
        "rejected": {},
    }
    nodes = {n["label"]: n for n in summary["nodes"]}
    assert nodes["Xid 13 (application)"]["history"] == []
    later = nodes["EventBridge, then HMA log 90s later"]
    assert [(h["action"], h["reason"]) for h in later["history"]] == [
        ("reboot", "first_fault"),
        (None, "echo_of_last_action"),  # the slower path's copy of the fault: not acted on again
    ]
    assert {n["status"] for n in summary["nodes"]} == {"Running"}


def scenario_file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "scenario.json"
    path.write_text(content, encoding="utf-8")
    return str(path)


GOOD_CLUSTERS = '[{"name": "c", "groups": [{"name": "g", "count": 2}]}]'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"clusters": [', "invalid JSON at line 1, column 15"),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"advance": 0}}]}}',
            "at steps.0.advance: Input should be greater than 0",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"wait": 5}}]}}',
            "at steps.0.wait: Extra inputs are not permitted",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"remediate": {{}}, "advance": 5}}]}}',
            "a step needs exactly one of",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"health": {{"cluster": "c", "group": "g", "nodes": ["0-2"]}}}}]}}',
            "at steps.0.health: c/g has 2 nodes (indexes 0-1), not 2",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"deliver": [{{"detail": {{"InstanceId": "{{{{node:c:h:0}}}}"}}}}]}}]}}',
            "at steps.0.deliver.0.detail.InstanceId: {{node:c:h:0}}: cluster 'c' has no instance group 'h'",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"deliver": [{{"time": "{{{{today}}}}"}}]}}]}}',
            "{{today}}: unknown placeholder",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"hma": {{"cluster": "c", "group": "g", "nodes": [2]}}}}]}}',
            "at steps.0.hma: c/g has 2 nodes (indexes 0-1), not 2",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"hma": {{"cluster": "c", "group": "g", "nodes": [0], "records": 0}}}}]}}',
            "at steps.0.hma.records: Input should be greater than or equal to 1",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"hma": {{"cluster": "c", "group": "g", "nodes": [0], "fault_type": "X"}}}}]}}',
            "at steps.0.hma.fault_type: Extra inputs are not permitted",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"hma": {{"cluster": "c", "group": "g", "nodes": ["a-b"]}}}}]}}',
            "at steps.0.hma: node 'a-b' is neither an index nor a range like '0-9'",
        ),
        (
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"hma": {{"cluster": "x", "group": "g", "nodes": [0]}}}}]}}',
            "at steps.0.hma: no cluster 'x' in clusters",
        ),
        (
            '{"clusters": [{"name": "c", "groups": [{"name": "ctl", "count": 1, "instance_type": "ml.m5.xlarge"}, '
            '{"name": "gpu", "count": 2, "instance_type": "ml.p5x.48xlarge"}]}], "steps": [{"remediate": {}}]}',
            "at clusters.0.groups.1.instance_type: instance group 'gpu': unknown instance type "
            "'ml.p5x.48xlarge' (not a ClusterInstanceType of the installed botocore model; closest: "
            "ml.p5.48xlarge, ml.p5e.48xlarge, ml.p5.4xlarge)",
        ),
    ],
)
def test_a_bad_scenario_file_is_a_clear_error_with_exit_code_2(
    local_aws: LocalAws, tmp_path: Path, content: str, message: str
) -> None:
    path = scenario_file(tmp_path, content)
    code, out, err = run_demo(local_aws, "--scenario", path)
    assert (code, out) == (2, "")
    assert err.startswith(f"error: {path}: ")
    assert message in err
    assert "local AWS" not in err  # refused before the local server started


TODAYS_FLEET = ["ml.p5en.48xlarge", "ml.p6-b200.48xlarge", "ml.trn2.48xlarge"]


def test_a_scenario_of_todays_instance_types_runs(local_aws: LocalAws, tmp_path: Path) -> None:
    groups = [{"name": f"g{i}", "instance_type": t, "count": 2} for i, t in enumerate(TODAYS_FLEET)]
    steps = [
        {"health": {"cluster": "fleet", "group": f"g{i}", "nodes": [0]}} for i in range(len(TODAYS_FLEET))
    ]
    content = {"clusters": [{"name": "fleet", "groups": groups}], "steps": [*steps, {"remediate": {}}]}
    code, out, err = run_demo(
        local_aws, "--json", "--quiet", "--scenario", scenario_file(tmp_path, json.dumps(content))
    )
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert [g["instance_type"] for g in summary["clusters"][0]["groups"]] == TODAYS_FLEET
    assert summary["calls_by_operation"] == {REBOOT: {"calls": 1, "nodes": 3, "sizes": [3]}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--nodes", "0"], "--nodes must be between 1 and 500, not 0"),
        (["--nodes", "501"], "--nodes must be between 1 and 500, not 501"),
        (["--nodes", "3", "--scenario", str(EXAMPLE)], "--nodes scales the built-in incident"),
        (["--scenario", "/nonexistent/scenario.json"], "cannot read: No such file or directory"),
    ],
)
def test_bad_arguments_exit_with_2(local_aws: LocalAws, argv: list[str], message: str) -> None:
    code, out, err = run_demo(local_aws, *argv)
    assert (code, out) == (2, "")
    assert message in err


@pytest.mark.parametrize("nodes", [1, 60, 500])
def test_the_builtin_incident_is_a_valid_scenario(nodes: int) -> None:
    scenario = incident(nodes, seed=1, timings=NodeTimings(), grace_seconds=300, claim_ttl_seconds=900)
    assert scenario.reference_problems() == []
    assert parse_scenario(scenario.model_dump(exclude_none=True)) == scenario  # the file format says it all


def test_node_ranges_and_single_indexes() -> None:
    scenario = parse_scenario(
        json.loads(
            f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"health": {{"cluster": "c", "group": "g", "nodes": ["1", 0, "0-1"]}}}}]}}'
        )
    )
    health = scenario.steps[0].health
    assert health is not None and health.indexes() == [1, 0]
    with pytest.raises(ScenarioError, match="runs backwards"):
        parse_scenario(
            json.loads(
                f'{{"clusters": {GOOD_CLUSTERS}, "steps": [{{"health": {{"cluster": "c", "group": "g", "nodes": ["1-0"]}}}}]}}'
            )
        )


def test_the_module_runs_as_a_program_with_the_same_output_for_the_same_seed() -> None:
    """Two processes (each with its own server): stdout is pure JSON, ids included, identical."""
    command = [sys.executable, "-m", "hyperpod_local.demo", "--json", "--nodes", "2", "--seed", "5"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "autoheal"), str(ROOT)])}
    env.pop("AWS_ENDPOINT_URL", None)
    runs = [
        subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1]
    first, second = (json.loads(out) for out, _ in outputs)
    assert first == second
    assert first["seed"] == 5 and first["calls_by_operation"][REBOOT]["sizes"] == [2, 1, 1, 1, 1]
    assert "-- storm" in outputs[0][1]  # progress went to stderr


def test_the_lemon_is_retired_restored_and_its_redelivered_restore_adds_no_second_node(demo: Any) -> None:
    summary, err, _, plane = demo
    assert summary["switches"] == {
        "changed": True,
        "settings": [{"setting": "AUTOHEAL_RETIRE_AND_RESTORE", "demo": True, "deployed": False}],
    }
    assert "switches: retire and restore ON for the demo (deployed: off)" in err
    assert (
        "remediate #7: 1 message -> 2 calls (delete train-p5 1, add train-p5 1); DIED after its calls" in err
    )
    assert "restore: BatchAddClusterNodes re-sent with the ClientToken of the call at t+22m" in err
    assert "nodes added in all: 1 (" in err
    assert "train-p5/gpu-a: a capacity shortage for 30m (nodes added meanwhile stay Pending" in err
    assert "reconcile #2: 1 open node -> wait 1" in err
    assert "reconcile #3: 1 open node -> restored 1" in err
    assert summary["reconcile"] == {
        "rounds": 3,
        "faults_enqueued": 1,  # the RestorePending fault
        "verdicts": {"healed": 62, "restore_resumed": 1, "restored": 1, "wait": 1},
    }
    first, again = plane["adds"]
    assert first.client_token is not None and again.client_token == first.client_token
    assert again.nodes_to_add == first.nodes_to_add == (("gpu-a", 1),)
    gpu = plane["gpu-a"]
    assert len(gpu) == 64 and {v.status for v in gpu} == {"Running"}  # back to its size: one node added


def test_the_demo_shows_a_replace_approved_by_its_operator_through_the_cli(demo: Any) -> None:
    summary, err, *_ = demo
    (approval,) = summary["approvals"]
    assert {k: approval[k] for k in ("cluster", "action", "reason", "status", "decided_by")} == {
        "cluster": "train-p5",
        "action": "replace",
        "reason": "fault_recurred",
        "status": "approved",
        "decided_by": "arn:aws:sts::123456789012:user/moto",  # moto's STS: the caller's identity
    }
    assert "switches: approval required for replace in the demo (deployed: none)" in err
    assert "the demo's operator ran `autoheal approve --all --cluster train-p5`" in err
    assert f"approval {approval['id']}: replace of train-p5 node " in err


def test_a_scenario_file_runs_with_the_switch_off_unless_it_says_so(
    local_aws: LocalAws, tmp_path: Path
) -> None:
    scenario = {
        "clusters": [{"name": "c", "groups": [{"name": "g", "count": 2, "node_type": "Compute"}]}],
        "steps": [
            {"reconcile": {}},
            {"shortage": {"cluster": "c", "group": "g", "seconds": 60}},
            {"remediate": {"dies": "after_the_call"}},
        ],
    }
    code, out, err = run_demo(local_aws, "--scenario", scenario_file(tmp_path, json.dumps(scenario)))
    assert code == 0, err
    assert "reconcile #1: 0 open nodes" in out
    assert "c/g: a capacity shortage for 1m" in out
    assert "remediate: the queue is empty, nothing to invoke" in out
    assert "switches: retire and restore off (as deployed)" in out
    assert parse_scenario({**scenario, "retire_and_restore": True}).retire_and_restore
    with pytest.raises(ScenarioError, match=r"steps\.0\.remediate\.dies"):
        parse_scenario({**scenario, "steps": [{"remediate": {"dies": "later"}}]})
