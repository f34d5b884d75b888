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
    LABEL_RECURS,
    incident,
)
from hyperpod_local.demo.scenario_file import ScenarioError, parse_scenario
from hyperpod_local.demo.summary import guards_summary
from hyperpod_local.plane import LocalAws
from hyperpod_local.plane.model import NodeTimings

pytestmark = pytest.mark.scenario

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "hyperpod_local" / "demo" / "examples" / "flapping-node.json"
HMA_EXAMPLE = ROOT / "hyperpod_local" / "demo" / "examples" / "slurm-hma.json"
REBOOT, REPLACE = "BatchRebootClusterNodes", "BatchReplaceClusterNodes"
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
def demo(local_aws: LocalAws) -> tuple[dict[str, Any], str, dict[str, str | None]]:
    """The default incident (60-node storm) once: its summary, its stderr, and the control plane's
    instance id per NodeLogicalId of the special nodes right after the run."""
    env_before = dict(os.environ)
    code, out, err = run_demo(local_aws, "--json")
    assert code == 0, err
    assert dict(os.environ) == env_before  # the demo puts the environment back
    summary: dict[str, Any] = json.loads(out)  # stdout is exactly one JSON document
    current = {n["logical_id"]: local_aws.control.node(n["logical_id"]).instance_id for n in summary["nodes"]}
    return summary, err, current


def test_the_storm_makes_three_reboot_calls_and_every_mutating_call_is_accounted_for(demo: Any) -> None:
    summary, _, _ = demo
    assert summary["calls_by_operation"] == {
        REBOOT: {"calls": 7, "nodes": 64, "sizes": [25, 25, 10, 1, 1, 1, 1]},
        REPLACE: {"calls": 1, "nodes": 1, "sizes": [1]},
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
    ]
    assert summary["failed_entries"] == {"InstanceIdInUse": 1}
    assert summary["simulated_seconds"] == 120 + 300 + 600  # reboot, echo grace, replacement


def test_intake_counts_the_malformed_event_and_acknowledges_the_healthy_one(demo: Any) -> None:
    summary, _, _ = demo
    assert summary["events"] == {
        # 60 storm + duplicate x2 + healthy + malformed + busy + redelivery + HMA log delivery + its
        # EventBridge twin + recurrence
        "delivered": 69,
        "faults_received": 67,
        "faults_enqueued": 67,
        # the HMA delivery's 3 records of one node are one fault
        "ignored": {"duplicate_in_event": 2, "healthy_transition": 1},
        "rejected": {MALFORMED: 1},
    }


def test_remediate_counters(demo: Any) -> None:
    summary, _, _ = demo
    assert summary["remediate"] == {
        "invocations": 5,
        "messages": 68,  # 67 enqueued by intake + the busy node's re-queued retry
        "faults_dequeued": 68,
        "duplicates_collapsed": 1,
        "retries_scheduled": 1,
        "escalations": 1,
        "needs_human": 0,
        "notifications": 0,
        "claim_conflicts": 0,
        "nodes_closed": 0,
        "faults_held": 0,
        "batch_item_failures": 0,
    }
    decisions = [({k: v for k, v in d.items() if k != "nodes"}, d["nodes"]) for d in summary["decisions"]]
    assert decisions == [
        (act("first_fault", "reboot"), 62),  # 60 storm + duplicate + the HMA node's 2 faults as one
        (act("fault_recurred", "replace"), 1),
        (act("retry_after_transient_failure", "reboot"), 1),
        (act("retry_scheduled", "reboot", "transient", "InstanceIdInUse"), 1),
        (act("duplicate_event", None, None), 1),
    ]


def test_the_special_nodes_tell_their_story(demo: Any) -> None:
    summary, _, current = demo
    nodes = {n["label"]: n for n in summary["nodes"]}
    assert list(nodes) == [LABEL_DUPLICATE, LABEL_HEALTHY, LABEL_BUSY, LABEL_HMA, LABEL_RECURS]

    def story(label: str) -> list[tuple[int, str | None, str, str | None]]:
        return [(h["invocation"], h["action"], h["reason"], h["error_code"]) for h in nodes[label]["history"]]

    recurs = nodes[LABEL_RECURS]
    assert story(LABEL_RECURS) == [(1, "reboot", "first_fault", None), (5, "replace", "fault_recurred", None)]
    old, new = recurs["instance_ids"]  # replaced once: a new instance id under the same logical id
    assert old != new == current[recurs["logical_id"]]
    assert (recurs["cluster"], recurs["group"], recurs["status"]) == ("train-p5", "gpu-a", "Running")

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
    summary, _, _ = demo
    metrics = {(m["metric"], tuple(sorted(m["dimensions"].items()))): m["value"] for m in summary["metrics"]}
    assert metrics == {
        ("BatchCalls", (("Action", "reboot"),)): 7,
        ("BatchCalls", (("Action", "replace"),)): 1,
        ("DuplicateFaults", ()): 1,
        ("Escalations", ()): 1,
        ("EventsRejected", (("Reason", MALFORMED),)): 1,
        ("FailedEntries", (("Action", "reboot"), ("ErrorCode", "InstanceIdInUse"))): 1,
        ("FaultsDequeued", ()): 68,
        ("FaultsEnqueued", ()): 67,
        ("FaultsIgnored", (("Reason", "duplicate_event"),)): 1,
        ("FaultsIgnored", (("Reason", "duplicate_in_event"),)): 2,
        ("FaultsIgnored", (("Reason", "healthy_transition"),)): 1,
        ("FaultsReceived", ()): 67,
        ("RebootRequests", ()): 63,
        ("ReplaceRequests", ()): 1,
        ("RetriesScheduled", ()): 1,
    }


def test_the_summary_says_the_demo_runs_with_relaxed_guards(demo: Any) -> None:
    summary, err, _ = demo
    assert summary["guards"] == {
        "relaxed": True,
        "settings": [  # the local world's values against the template's defaults
            {"setting": "AUTOHEAL_RETRY_BACKOFF_SECONDS", "demo": 0, "deployed": 30},
            {"setting": "AUTOHEAL_BREAKER_GROUP_MAX_NODES", "demo": 10000, "deployed": 25},
            {"setting": "AUTOHEAL_BREAKER_GROUP_MAX_PERCENT", "demo": 100, "deployed": 20},
            {"setting": "AUTOHEAL_BREAKER_CLUSTER_MAX_NODES", "demo": 10000, "deployed": 50},
            {"setting": "AUTOHEAL_BREAKER_CLUSTER_MAX_PERCENT", "demo": 100, "deployed": 20},
            {"setting": "AUTOHEAL_NODE_COOLDOWN_MINUTES", "demo": 0, "deployed": 30},
        ],
    }
    assert list(summary) == [  # the schema's keys, in order; `guards` is the only one added by issue 16
        "schema",
        "scenario",
        "description",
        "seed",
        "simulated_seconds",
        "timings",
        "guards",
        "clusters",
        "events",
        "remediate",
        "decisions",
        "calls",
        "calls_by_operation",
        "failed_entries",
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
    _, err, _ = demo
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
    assert "node cooldown minutes 0 (deployed: 30)\n" in summary
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
    scenario = incident(nodes, seed=1, timings=NodeTimings(), grace_seconds=300)
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
