"""The `autoheal` operator CLI against the local server: the real handlers make the ledger, the CLI
reads and steers it. `main(argv)` runs in-process (stdout captured); one test runs the installed command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.resources import register_stack
from hyperpod_local.stack.template import REPO_ROOT
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run, minutes, slurm_training_cluster

pytestmark = pytest.mark.integration

GPU = "gpu-a"
REBOOT = "BatchRebootClusterNodes"
REPLACE = "BatchReplaceClusterNodes"


@pytest.fixture(autouse=True)
def _no_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing from the machine's environment names a table or queue (the world sets its own)."""
    for name in ("AUTOHEAL_TABLE_NAME", "AUTOHEAL_QUEUE_URL", "AUTOHEAL_TOPIC_ARN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def world(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    return LocalWorld(aws, monkeypatch.setenv)  # sets AUTOHEAL_TABLE_NAME / _QUEUE_URL / _TOPIC_ARN


@pytest.fixture
def cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU, gpus=32)


@pytest.fixture
def cli(aws, capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """`cli(*argv)`: run the CLI in-process on the control plane's clock (the world's); its exit code,
    stdout and stderr. Needs only the local server: tests of errors do without a world."""

    def run(*argv: str) -> Run:
        capsys.readouterr()  # drop whatever the handlers printed before
        code = main(list(argv), now=aws.control.now)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def storm(world: LocalWorld, cluster: ClusterFixture, instance_ids: Sequence[str]) -> list[dict[str, Any]]:
    return [node_health_event(cluster.name, cluster.arn, i, world.now()) for i in instance_ids]


def write_events(tmp_path: Path, events: Any, name: str = "events.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(events))
    return str(path)


def ledger_items(world: LocalWorld) -> list[dict[str, Any]]:
    ddb = world.aws.client("dynamodb")
    items = ddb.scan(TableName=world.stack.table_name, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


# ---------------------------------------------------------------- status


def test_status_after_a_storm_shows_every_open_node(world: LocalWorld, cluster: ClusterFixture, cli) -> None:  # type: ignore[no-untyped-def]
    nodes = cluster.instance_ids(GPU)[:30]
    busy = nodes[0]
    world.control.set_busy(busy, 600)
    world.deliver(storm(world, cluster, nodes))
    world.remediate()

    run = cli("status")
    assert run.code == 0, run.err
    header, *rows, summary = run.out.splitlines()
    assert header.split()[:5] == ["CLUSTER", "NODE", "INSTANCE", "GROUP", "STATUS"]
    assert len(rows) == 30
    assert summary == "30 node(s): 29 in_progress, 1 retry_pending"
    (busy_row,) = (r for r in rows if busy in r)
    assert "retry_pending" in busy_row and "InstanceIdInUse" in busy_row and "failed_transient" in busy_row

    data = cli("status", "--cluster", cluster.name, "--json").json()
    assert data["pauses"] == []
    by_instance = {n["instance_id"]: n for n in data["nodes"]}
    assert sorted(by_instance) == sorted(nodes)
    assert by_instance[busy] | {} == by_instance[busy]
    assert (
        by_instance[busy]["status"],
        by_instance[busy]["last_error_code"],
        by_instance[busy]["attempts"],
    ) == (
        "retry_pending",
        "InstanceIdInUse",
        1,
    )
    rebooted = by_instance[nodes[1]]
    assert (rebooted["status"], rebooted["step"], rebooted["last_action"], rebooted["last_outcome"]) == (
        "in_progress",
        0,
        "reboot",
        "accepted",
    )
    assert rebooted["node_key"] == rebooted["node_logical_id"]  # keyed by the logical id


def test_status_with_nothing_open(world: LocalWorld, cluster: ClusterFixture, cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("status", "--cluster", cluster.name)
    assert (run.code, run.out.strip()) == (0, f"no nodes under remediation in {cluster.name}")
    assert cli("--json", "status").json() == {
        "cluster": None,
        "pauses": [],
        "breakers": [],
        "breaker_overrides": [],
        "capacity_cooldowns": [],
        "node_cooldowns": [],
        "held": {},
        "needs_human": [],
        "nodes": [],
    }


# ---------------------------------------------------------------- history


def test_history_follows_a_node_across_its_replacement(
    world: LocalWorld, cluster: ClusterFixture, cli
) -> None:  # type: ignore[no-untyped-def]
    node = cluster.in_group(GPU)[0]
    old = node.instance_id
    world.deliver(storm(world, cluster, [old]))
    world.remediate()  # reboot
    world.advance(minutes(20).total_seconds())
    world.deliver(storm(world, cluster, [old]))
    world.remediate()  # the fault came back: replace
    world.advance(minutes(15).total_seconds())
    new = world.control.node(node.logical_id).instance_id
    assert new != old
    assert [c.action for c in world.calls()] == [REBOOT, REPLACE]

    # The replacement has not faulted yet: the ledger has never seen `new`; the cluster knows it.
    fresh = cli("history", new, "--json").json()
    assert fresh["found_via"] == "ListClusterNodes"
    assert [n["node_key"] for n in fresh["nodes"]] == [node.logical_id]

    world.deliver(storm(world, cluster, [new]))  # the new instance faults: the ledger learns its id
    world.remediate()

    by_old = cli("history", old, "--json").json()
    (record,) = by_old["nodes"]
    assert by_old["found_via"] == "ledger"
    assert record["node_key"] == node.logical_id
    assert [(a["action"], a["instance_id"], a["outcome"]) for a in record["attempts"]] == [
        ("reboot", old, "accepted"),
        ("replace", old, "accepted"),
    ]
    assert record["instance_ids"] == [old, new]
    assert record["state"]["instance_id"] == new
    assert record["state"]["status"] == "needs_human"  # past the ladder's last step

    by_logical = cli("history", node.logical_id, "--cluster", cluster.name, "--json").json()
    assert by_logical["nodes"] == by_old["nodes"]
    assert cli("history", new, "--json").json()["nodes"] == by_old["nodes"]

    text = cli("history", old)
    assert text.code == 0
    assert f"instances: {old} -> {new}" in text.out
    assert "needs_human" in text.out
    assert [line.split()[2] for line in text.out.splitlines() if line.strip().startswith("20")] == [
        "reboot",
        "replace",
    ]


def test_history_of_an_unknown_node_finds_nothing(world: LocalWorld, cluster: ClusterFixture, cli) -> None:  # type: ignore[no-untyped-def]
    run = cli("history", "i-0123456789abcdef0")
    assert (run.code, run.out.strip()) == (1, "no ledger entries for i-0123456789abcdef0")


# ---------------------------------------------------------------- pause / resume


def test_pause_holds_remediation_and_resume_lets_it_act(
    world: LocalWorld, cluster: ClusterFixture, cli
) -> None:  # type: ignore[no-untyped-def]
    nodes = cluster.instance_ids(GPU)[:3]
    paused = cli("pause", "--cluster", cluster.name, "--reason", "bad AMI rollout", "--json").json()
    assert paused["paused"]["scope"] == cluster.name
    assert paused["paused"]["reason"] == "bad AMI rollout"
    assert f"PAUSED cluster {cluster.name}" in cli("status").out

    world.deliver(storm(world, cluster, nodes))
    held = world.remediate()
    assert world.control.calls == []
    assert held.metrics.total("FaultsHeld", Reason="paused") == 3
    assert {r.decision for r in held.nodes} == {"held"}

    run = cli("resume", "--cluster", cluster.name)
    assert (run.code, run.out.strip()) == (0, f"resumed cluster {cluster.name}")
    assert "PAUSED" not in cli("status").out

    world.deliver(storm(world, cluster, nodes))  # new faults (the held ones come back after 15 minutes)
    world.remediate()
    assert [sorted(c.node_ids) for c in world.calls(REBOOT)] == [sorted(nodes)]


def test_a_global_pause_holds_every_cluster_and_outlives_a_cluster_resume(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli
) -> None:
    assert cli("pause", "--json").json()["paused"]["scope"] == "*"
    run = cli("resume", "--cluster", cluster.name, "--json")
    assert run.json() == {
        "scope": cluster.name,
        "resumed": False,
        "still_paused_by": run.json()["still_paused_by"],
    }
    assert run.json()["still_paused_by"]["scope"] == "*"

    world.deliver(storm(world, cluster, cluster.instance_ids(GPU)[:2]))
    world.remediate()
    assert world.control.calls == []

    assert cli("resume", "--json").json()["resumed"] is True
    assert cli("resume").out.strip() == "every cluster was not paused: nothing to do"


# ---------------------------------------------------------------- replay


def test_replay_puts_the_faults_on_the_queue(
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    a, b, c = cluster.instance_ids(GPU)[:3]
    events = [
        *storm(world, cluster, [a, b]),
        node_health_event(cluster.name, cluster.arn, c, world.now(), status="Healthy"),
        {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker HyperPod Cluster Node Health Event",
            "detail": {},
        },
    ]
    run = cli("replay", write_events(tmp_path, events))
    assert run.code == 0, run.err
    assert "2 fault(s) enqueued" in run.out
    assert "ignored healthy_transition" in run.out
    assert "rejected malformed:SageMaker HyperPod Cluster Node Health Event" in run.out

    bodies = [json.loads(r["body"]) for r in world.drain()]
    assert sorted(b["instance_id"] for b in bodies) == sorted([a, b])
    assert {b["source_event_id"] for b in bodies} == {e["id"] for e in events[:2]}

    one = cli("replay", write_events(tmp_path, events[0], "one.json"), "--fresh", "--json").json()
    assert one["enqueued"] == 1
    assert one["events"][0]["event_id"] != events[0]["id"]  # --fresh: a new event, not a duplicate
    (body,) = [json.loads(r["body"]) for r in world.drain()]
    assert body["instance_id"] == a


def test_replay_warns_about_what_remediate_would_drop_and_dry_run_enqueues_nothing(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path
) -> None:
    """Issue 15 item 17: replay is a live trigger. It warns about an unknown cluster, an event id the
    ledger has seen and an event past the age limit; --dry-run shows the decisions and enqueues
    nothing; when every event is rejected it exits non-zero."""
    a, b, c = cluster.instance_ids(GPU)[:3]
    seen = storm(world, cluster, [a])
    world.deliver(seen)
    world.remediate()  # a's event id is now in the ledger
    world.control.clear_calls()
    fresh = storm(world, cluster, [c])
    stale = [node_health_event(cluster.name, cluster.arn, b, world.now() - minutes(120))]
    ghost_arn = "arn:aws:sagemaker:us-east-1:123456789012:cluster/zzzzzzzzzzzz"
    ghost = [node_health_event("ghost-cluster", ghost_arn, "i-0fffffffffffffff0", world.now())]
    bad = write_events(tmp_path, [*seen, *stale, *ghost], "bad.json")
    mixed = write_events(tmp_path, [*seen, *stale, *ghost, *fresh], "mixed.json")

    dry = cli("replay", "--dry-run", mixed)
    assert dry.code == 0, dry.err
    assert f"warning: event {seen[0]['id']} ({a}) was already seen by the ledger" in dry.out
    assert f"warning: event {stale[0]['id']} ({b}) is 120 min old, past the age limit of 60 min" in dry.out
    assert "warning: cluster " in dry.out and "does not exist: remediate will drop its faults" in dry.out
    assert "act: reboot" in dry.out and "would make 1 call(s) for 1 node(s)" in dry.out
    assert dry.out.splitlines()[-1] == "nothing enqueued (dry run); 3 of 4 event(s) rejected"
    assert world.drain() == [] and world.control.calls == []

    data = cli("replay", "--dry-run", "--json", bad).json()
    assert (data["rejected"], len(data["warnings"])) == (3, 3)
    assert cli("replay", "--dry-run", bad).code == 2
    live = cli("replay", bad)
    assert live.code == 2  # every event rejected
    assert live.out.splitlines()[-1] == "every event was rejected (3 of 3)"
    # issue 19: what replay warns remediate would drop is not enqueued ("enqueued 1", then "every
    # event was rejected", was a live fault for a cluster that does not exist)
    assert "0 fault(s) enqueued" in live.out and "not enqueued: unknown_cluster" in live.out
    assert world.drain() == []
    assert cli("replay", "--fresh", write_events(tmp_path, seen, "again.json")).code == 0


# ---------------------------------------------------------------- plan
# ---------------------------------------------------------------- plan


def test_plan_shows_the_requests_and_calls_nothing(
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    nodes = cluster.instance_ids(GPU)[:30]
    recurring = nodes[0]
    world.deliver(storm(world, cluster, [recurring]))
    world.remediate()  # rebooted once
    world.advance(minutes(20).total_seconds())
    world.control.clear_calls()
    before = ledger_items(world)

    events = [
        *storm(world, cluster, nodes),
        node_health_event(cluster.name, cluster.arn, nodes[1], world.now(), status="Healthy"),
    ]
    path = write_events(tmp_path, events)
    data = cli("plan", path, "--json").json()

    assert sorted((r["operation"], r["count"]) for r in data["requests"]) == [
        (REBOOT, 4),
        (REBOOT, 25),
        (REPLACE, 1),
    ]
    (replace_request,) = (r for r in data["requests"] if r["action"] == "replace")
    assert replace_request["ids"] == [recurring]
    decisions = {n["instance_id"]: (n["decision"], n["reason"], n["action"]) for n in data["nodes"]}
    assert decisions[recurring] == ("act", "fault_recurred", "replace")
    assert decisions[nodes[5]] == ("act", "first_fault", "reboot")
    assert data["events"][-1]["ignored"] == [{"reason": "healthy_transition", "subject": nodes[1]}]

    text = cli("plan", path)
    assert text.code == 0
    assert "would make 3 call(s) for 30 node(s)" in text.out
    assert "BatchReplaceClusterNodes  NodeIds  1" in text.out

    assert world.control.calls == []  # nothing mutating reached the control plane
    assert ledger_items(world) == before  # the ledger is unchanged
    assert world.drain() == []  # nothing was queued


def test_plan_reports_held_nodes_and_unknown_ones(
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    cli("pause", "--cluster", cluster.name)
    events = [
        *storm(world, cluster, cluster.instance_ids(GPU)[:2]),
        node_health_event(cluster.name, cluster.arn, "i-0fffffffffffffff0", world.now()),
    ]
    run = cli("plan", write_events(tmp_path, events), "--json", "--verbose")
    data = run.json()  # stdout stays one JSON document: the service's logs go to stderr
    assert '"message":"fault ignored"' in run.err
    assert data["pauses"][0]["scope"] == cluster.name
    assert data["requests"] == []
    assert {(n["decision"], n["reason"]) for n in data["nodes"]} == {("held", f"paused:{cluster.name}")}
    assert data["unresolved"] == [
        {
            "cluster": cluster.name,
            "node": "i-0fffffffffffffff0",
            "instance_id": "i-0fffffffffffffff0",
            "reason": "node_not_in_cluster",
        }
    ]
    assert world.control.calls == []


def test_plan_never_contradicts_itself_every_node_shows_the_verdict_that_counts(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15 item 14: a node a guard or hold keeps back never reads as `act ... reboot` above a
    `would make no calls`; the summary counts the held nodes by reason."""
    monkeypatch.setenv("AUTOHEAL_BREAKER_GROUP_MAX_NODES", "3")  # a storm of 5 trips the group breaker
    nodes = cluster.instance_ids(GPU)[:6]
    stale = node_health_event(cluster.name, cluster.arn, nodes[5], world.now() - minutes(120))
    path = write_events(tmp_path, [*storm(world, cluster, nodes[:5]), stale])

    data = cli("plan", path, "--json").json()
    verdicts = {n["instance_id"]: (n["verdict"], n["verdict_text"]) for n in data["nodes"]}
    breaker = f"breaker {cluster.name}/{GPU}"
    assert {verdicts[n] for n in nodes[:5]} == {("held", f"held: {breaker}")}
    assert verdicts[nodes[5]] == ("ignored", "ignored: stale event (older than 1:00:00)")
    assert data["summary"] == {"by_verdict": {"held": 5, "ignored": 1}, "held_by_reason": {breaker: 5}}
    assert data["requests"] == []

    out = cli("plan", path).out
    node_lines = [line for line in out.splitlines() if line.startswith(cluster.name)]
    assert len(node_lines) == 6
    assert all(
        line.endswith((f"held: {breaker}", "ignored: stale event (older than 1:00:00)"))
        for line in node_lines
    )
    assert "act:" not in out
    assert out.splitlines()[-3:] == ["nodes: 5 held, 1 ignored", f"held: 5 {breaker}", "would make no calls"]

    monkeypatch.setenv("AUTOHEAL_BREAKER_GROUP_MAX_NODES", "10000")
    monkeypatch.setenv("AUTOHEAL_DRY_RUN", "true")
    out = cli("plan", path).out
    assert "dry run: would reboot (DryRun is on: recorded only)" in out
    assert out.splitlines()[-1] == "would make no calls: DryRun is on (5 node(s) recorded only)"
    assert world.control.calls == []


def test_plan_of_a_cluster_previews_the_ledgers_faults_now(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli
) -> None:
    """Issue 15 item 15: `plan --cluster C` with no events file decides the open faults the ledger
    holds (a retry waiting for its backoff) against the cluster's current nodes, and calls nothing."""
    rebooted, busy = cluster.instance_ids(GPU)[:2]
    world.control.inject_entry_error(busy, "InstanceIdInUse")  # transient: a retry waits in the ledger
    world.deliver(storm(world, cluster, [rebooted, busy]))
    world.remediate()
    world.drain()  # the re-queued retry: only the ledger remembers it now
    world.control.clear_calls()
    before = ledger_items(world)

    data = cli("plan", "--cluster", cluster.arn, "--json").json()  # an ARN names the cluster too
    assert data["cluster"] == cluster.name
    assert data["node_statuses"]["Pending"] == 1  # the current node states: the rebooted one
    assert [(w["instance_id"], w["waiting_for"]) for w in data["waiting"]] == [
        (rebooted, "reconcile to verify the action")
    ]
    (decided,) = data["nodes"]
    assert (decided["instance_id"], decided["verdict_text"]) == (busy, "act: reboot")
    assert [(r["operation"], r["ids"]) for r in data["requests"]] == [(REBOOT, [busy])]

    text = cli("plan", "--cluster", cluster.name)
    assert text.code == 0
    assert "ledger: 1 open or held fault(s) to decide, 1 node(s) waiting on an action" in text.out
    assert text.out.splitlines()[-1] == "would make 1 call(s) for 1 node(s)"
    assert world.control.calls == [] and ledger_items(world) == before and world.drain() == []

    missing = cli("plan", "--cluster", "no-such-cluster")
    assert (missing.code, missing.err) == (1, "autoheal: error: cluster 'no-such-cluster' not found\n")
    both = cli("plan", "--cluster", cluster.name, SAMPLE_EVENT)
    assert both.code == 2 and "either EVENTS.json or --cluster" in both.err


def test_plan_cannot_mutate_even_if_the_service_tried(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Belt and braces: the dry run's clients refuse a mutating call before it is sent."""
    from autoheal.core.planner import BatchRequest
    from autoheal.core.results import IdKind
    from autoheal.policy import Action
    from autoheal.remediate import service
    from autoheal_cli.commands import plan as plan_command

    node = cluster.instance_ids(GPU)[0]

    def plan_then_act(records, deps):  # type: ignore[no-untyped-def]
        batch = service.plan(records, deps)
        deps.nodes.execute(BatchRequest(cluster.name, Action.REBOOT, IdKind.NODE_ID, (node,)))
        return batch

    monkeypatch.setattr(plan_command, "plan", plan_then_act)
    run = cli("plan", write_events(tmp_path, storm(world, cluster, [node])))
    assert run.code == 3
    assert "dry run refused a mutating call: sagemaker.batch_reboot_cluster_nodes" in run.err
    assert world.control.calls == []


# ---------------------------------------------------------------- a deployed stack (CloudFormation Outputs)


def test_a_stack_names_the_table_and_queue_and_sets_the_policy(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A stack whose Outputs name the world's resources and whose Parameters set the policy, as deployed.
    register_stack(world.aws.client("cloudformation"), "autoheal-dev", world.stack, {"ReplaceBudget": "0"})
    node = cluster.instance_ids(GPU)[0]
    world.deliver(storm(world, cluster, [node]))
    world.remediate()  # the world's own settings: rebooted
    world.advance(minutes(20).total_seconds())
    for name in ("AUTOHEAL_TABLE_NAME", "AUTOHEAL_QUEUE_URL", "AUTOHEAL_TOPIC_ARN"):
        monkeypatch.delenv(name)  # only the stack names the resources now

    status = cli("--stack", "autoheal-dev", "--endpoint-url", world.aws.endpoint_url, "status", "--json")
    assert [n["instance_id"] for n in status.json()["nodes"]] == [node]

    path = write_events(tmp_path, storm(world, cluster, [node]))
    (decision,) = cli("plan", path, "--stack", "autoheal-dev", "--json").json()["nodes"]
    assert (decision["decision"], decision["reason"]) == (
        "needs_human",
        "budget_exhausted",
    )  # ReplaceBudget=0

    assert cli("replay", path, "--stack", "autoheal-dev").code == 0
    assert len(world.drain()) == 1


# ---------------------------------------------------------------- errors: one line, a distinct exit code, no traceback


SAMPLE_EVENT = str(REPO_ROOT / "events" / "node-health-unhealthy.json")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["--stack", "nope", "status"],
            3,
            "stack 'nope' not found in us-east-1 (CloudFormation: ValidationError)",
        ),
        (["--table", "no-such-table", "status"], 3, "ledger table 'no-such-table' not found in us-east-1"),
        (["--table", "no-such-table", "history", "gpu-1"], 3, "ledger table 'no-such-table' not found"),
        (["--table", "no-such-table", "pause"], 3, "ledger table 'no-such-table' not found"),
        (["--table", "no-such-table", "plan", SAMPLE_EVENT], 3, "ledger table 'no-such-table' not found"),
        (["status"], 2, "no ledger table: pass --stack NAME or --table, or set AUTOHEAL_TABLE_NAME"),
        (["replay", SAMPLE_EVENT], 2, "no fault queue: pass --stack NAME or --queue-url"),
        (["--table", "t", "history", "bad id!"], 2, "not a NodeLogicalId or EC2 instance id: 'bad id!'"),
        (
            ["--table", "t", "status", "--cluster", "bad_cluster!"],
            2,
            "not a HyperPod cluster name or ARN: 'bad_cluster!'",
        ),
        (["--table", "t", "pause", "--cluster", "x_y"], 2, "not a HyperPod cluster name or ARN: 'x_y'"),
        (
            ["--queue-url", "http://q", "replay", "/nonexistent/events.json"],
            2,
            "/nonexistent/events.json: cannot read: No such file",
        ),
        (["--table", "t", "plan", "/nonexistent/events.json"], 2, "/nonexistent/events.json: cannot read"),
        (["--table", "t", "plan", SAMPLE_EVENT, "--at", "yesterday"], 2, "--at must be an ISO 8601 time"),
        (["--endpoint-url", "localhost:5000", "status"], 2, "--endpoint-url must be an http(s) URL"),
    ],
)
def test_errors_exit_with_their_code_and_one_clear_line(
    cli, argv: list[str], code: int, message: str
) -> None:  # type: ignore[no-untyped-def]
    """2: a usage error (the operator's to fix on the command line); 3: AWS or the service refused."""
    run = cli(*argv)
    assert run.code == code
    assert run.err.count("\n") == 1 and "Traceback" not in run.err
    assert run.err.startswith("autoheal: error: ")
    assert message in run.err
    assert run.out == ""


def test_an_invalid_json_file_is_an_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text('{"id": ')
    for argv in (["--queue-url", "http://q", "replay", str(bad)], ["--table", "t", "plan", str(bad)]):
        run = cli(*argv)
        assert (run.code, run.err.count("\n")) == (2, 1)
        assert f"{bad}: invalid JSON at line 1, column 8: Expecting value" in run.err


def test_a_missing_queue_is_an_error(aws, cli) -> None:  # type: ignore[no-untyped-def]
    missing = f"{aws.endpoint_url}/123456789012/no-such-queue"
    run = cli("--queue-url", missing, "replay", SAMPLE_EVENT)
    assert (run.code, run.err.count("\n")) == (3, 1)
    assert f"fault queue {missing} does not exist (QueueDoesNotExist)" in run.err


def test_no_credentials_is_an_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-role lookup either
    run = cli("--table", "t", "status")  # signing fails before anything is sent: nothing leaves the machine
    assert (run.code, run.err.count("\n")) == (3, 1)
    assert "no AWS credentials found" in run.err


def test_an_unreachable_endpoint_is_an_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    run = cli("--endpoint-url", "http://127.0.0.1:9", "--table", "t", "status")
    assert (run.code, run.err.count("\n")) == (3, 1)
    assert "cannot reach http://127.0.0.1:9/ (is the local server running?)" in run.err


# ---------------------------------------------------------------- flags and the installed command


def test_global_flags_go_before_or_after_the_command(world: LocalWorld, cli) -> None:  # type: ignore[no-untyped-def]
    table = world.stack.table_name
    assert cli("--json", "--table", table, "status").json()["nodes"] == []
    assert cli("status", "--table", table, "--json").json()["nodes"] == []


def test_the_installed_command_runs() -> None:
    command = Path(sys.executable).with_name("autoheal")
    assert command.exists(), "run `make venv` (it installs the project and its `autoheal` command)"
    done = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    for name in (
        "status",
        "history",
        "pause",
        "resume",
        "replay",
        "plan",
        "--stack",
        "--endpoint-url",
        "--json",
    ):
        assert name in done.stdout


def test_resume_leaves_a_tripped_breaker_alone(world: LocalWorld, cluster: ClusterFixture, cli) -> None:  # type: ignore[no-untyped-def]
    """Issue 15 item 11: `resume` used to clear the cluster's breakers and override them for a window;
    it lifts a pause and nothing else (`breaker reset` is the explicit override)."""
    from datetime import timedelta

    from autoheal.adapters.control import LedgerBreakers

    breakers = LedgerBreakers(world.aws.client("dynamodb"), world.stack.table_name)
    breakers.trip(f"{cluster.name}/gpu-a", world.now() + timedelta(minutes=30), 40, 20)
    run = cli("--json", "resume", "--cluster", cluster.name)
    assert run.code == 0, run.err
    assert "breakers_cleared" not in json.loads(run.out)
    assert list(breakers.breakers(world.now()).tripped) == [f"{cluster.name}/gpu-a"]
    assert breakers.breakers(world.now()).overrides == {}


def test_every_command_has_an_example_in_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["pause"],
        ["resume"],
        ["status"],
        ["breaker"],
        ["breaker", "reset"],
        ["release"],
        ["waves"],
    ):
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        assert "example:\n  autoheal " in capsys.readouterr().out, argv


def health_event(instance_id: str, code: str, at: Any) -> dict[str, Any]:
    """An AWS Health event for one instance (shape: tests/corpus/events/health-schema-ec2-instance-retirement.json)."""
    event = json.loads(
        (REPO_ROOT / "tests/corpus/events/health-schema-ec2-instance-retirement.json").read_text()
    )
    event["id"] = f"health-{instance_id}-{code}"
    event["time"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    event["detail"]["eventTypeCode"] = code
    event["detail"]["eventArn"] = f"arn:aws:health:us-east-1::event/{code}_{instance_id}"
    event["detail"]["affectedEntities"][0]["entityValue"] = instance_id
    return event


def test_plan_shows_the_first_rung_and_the_rule_that_chose_it(  # type: ignore[no-untyped-def]
    world: LocalWorld, cluster: ClusterFixture, cli, tmp_path: Path
) -> None:
    """Issue 17: a retirement starts at replace, host maintenance is ignored with its reason; each
    node names the rule from the signal table."""
    retiring, maintained = cluster.instance_ids(GPU)[:2]
    events = [
        health_event(retiring, "AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", world.now()),
        health_event(maintained, "AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", world.now()),
    ]
    path = write_events(tmp_path, events)
    data = cli("plan", path, "--json").json()
    nodes = {n["instance_id"]: n for n in data["nodes"]}
    assert (nodes[retiring]["verdict_text"], nodes[retiring]["action"]) == ("act: replace", "replace")
    assert nodes[retiring]["rule"].startswith("table: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED → replace (")
    assert nodes[maintained]["verdict_text"] == "ignored: aws host maintenance"
    assert nodes[maintained]["rule"].startswith("table: AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED → none (")
    assert [(r["operation"], r["ids"]) for r in data["requests"]] == [(REPLACE, [retiring])]
    out = cli("plan", path).out
    assert "ignored: aws host maintenance" in out and "table: AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED" in out
    assert world.control.calls == []
