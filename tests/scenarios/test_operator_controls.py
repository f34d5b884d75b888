"""Operator controls do exactly what they say, through the `autoheal` CLI and the real handlers
(issue 15, items 11, 12, 13, 16): `resume` lifts a pause and nothing else; overriding a circuit breaker
is its own command, confirmed and recorded; a cluster given by ARN is the cluster named by its faults;
a cluster that does not exist is refused; a second pause keeps the first; `release` hands a node that
needed a human back to automation."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from autoheal.adapters.control import LedgerBreakers, LedgerPauses
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeStatus
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import Run, minutes

pytestmark = pytest.mark.scenario

REBOOT = "BatchRebootClusterNodes"
GPU = "gpu"
#: who moto's STS says the test credentials are
CALLER = "arn:aws:sts::123456789012:user/moto"


Cli = Callable[..., Run]


def make_cluster(world: LocalWorld, name: str = "train", gpus: int = 100) -> ClusterFixture:
    return create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        name,
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name=GPU, instance_type="ml.p5.48xlarge", count=gpus, node_type="Compute"),
        ],
    )


def events(world: LocalWorld, cluster: ClusterFixture, ids: list[str], *, by_arn: bool = False) -> list[Any]:
    """Faults naming the cluster by name (as the node-health events do), or by ARN only."""
    name = cluster.arn if by_arn else cluster.name
    return [node_health_event(name, cluster.arn, i, world.now()) for i in ids]


def nodes_called(world: LocalWorld, action: str) -> int:
    return sum(c.size for c in world.calls(action))


# ---------------------------------------------------------------- item 11: resume is not a breaker reset


def test_resume_with_nothing_paused_leaves_the_breaker_armed(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded)
    run = cli("resume", "--cluster", cluster.name)

    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:40]))  # a 40-of-100 storm
    report = guarded.remediate()

    assert guarded.calls() == []  # still held by the breaker
    assert report.metrics.total("FaultsHeld", Reason="breaker_open") == 40
    assert (
        LedgerBreakers(guarded.aws.client("dynamodb"), guarded.stack.table_name)
        .breakers(guarded.now())
        .overrides
        == {}
    )
    assert (run.code, run.out.strip()) == (0, f"cluster {cluster.name} was not paused: nothing to do")


def test_a_breaker_reset_shows_what_it_lets_through_and_is_recorded(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded)
    failing = cluster.instance_ids(GPU)[:40]
    guarded.deliver(events(guarded, cluster, failing))
    guarded.remediate()
    assert guarded.calls() == []
    told = [n["reason"] for m in guarded.topic_messages() for n in m["nodes"]]
    assert any(f"autoheal breaker reset --cluster {cluster.name} --group {GPU}" in r for r in told)

    # no terminal to ask on and no --yes: refused, nothing written
    refused = cli("breaker", "reset", "--cluster", cluster.name)
    assert refused.code == 2 and "pass --yes" in refused.err
    breakers = LedgerBreakers(guarded.aws.client("dynamodb"), guarded.stack.table_name)
    assert breakers.breakers(guarded.now()).overrides == {}

    status = cli("status", "--cluster", cluster.name)
    assert f"BREAKER OPEN {cluster.name}/{GPU}: 40 nodes under remediation, 20 allowed" in status.out

    run = cli(
        "breaker", "reset", "--cluster", cluster.arn, "--for", "45m", "--yes", "--reason", "rack power: real"
    )
    assert run.code == 0, run.err
    assert f"BREAKER OPEN {cluster.name}/{GPU}: 40 nodes" in run.out  # what it lets through
    assert f"BREAKER OPEN {cluster.name}/*: 40 nodes" in run.out
    (override,) = breakers.records(guarded.now())[1]
    assert (override.scope, override.by, override.reason) == (cluster.name, CALLER, "rack power: real")
    assert override.until == guarded.now() + minutes(45)
    assert f"BREAKER OVERRIDDEN for {cluster.name}" in cli("status").out

    guarded.advance(60)
    guarded.deliver(events(guarded, cluster, failing))
    guarded.remediate()
    assert nodes_called(guarded, REBOOT) == 40


def test_a_group_reset_leaves_the_cluster_breaker_counting(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=400)  # group limit 25 nodes, cluster limit 50
    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:60]))
    guarded.remediate()
    assert guarded.calls() == []

    run = cli("breaker", "reset", "--cluster", cluster.name, "--group", GPU, "--yes", "--json")
    assert run.code == 0, run.err
    assert run.json()["cleared"] == 1 and run.json()["scope"] == f"{cluster.name}/{GPU}"

    guarded.advance(60)
    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:60]))
    report = guarded.remediate()
    assert guarded.calls() == []  # the cluster-wide breaker (60 > 50) still holds them
    assert report.metrics.total("FaultsHeld", Reason="breaker_open") == 60

    unknown = cli("breaker", "reset", "--cluster", cluster.name, "--group", "nope", "--yes")
    assert unknown.code == 1 and "has no instance group 'nope'" in unknown.err


# ---------------------------------------------------------------- item 12: one cluster, name or ARN


def test_a_pause_given_by_arn_holds_faults_naming_the_cluster(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=10)
    run = cli("pause", "--cluster", cluster.arn, "--reason", "maintenance", "--json")
    assert run.code == 0, run.err

    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:2]))
    report = guarded.remediate()
    assert guarded.calls() == []
    assert report.metrics.total("FaultsHeld", Reason="paused") == 2
    assert run.json()["paused"]["scope"] == cluster.name
    assert run.json()["paused"]["by"] == CALLER

    assert cli("resume", "--cluster", cluster.arn).out.strip() == f"resumed cluster {cluster.name}"
    guarded.deliver(events(guarded, cluster, cluster.instance_ids(GPU)[:2]))
    guarded.remediate()
    assert nodes_called(guarded, REBOOT) == 2


def test_resume_lifts_a_pause_an_older_cli_stored_under_the_arn(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=10)
    pauses = LedgerPauses(guarded.aws.client("dynamodb"), guarded.stack.table_name)
    pauses.pause(cluster.arn, by="old-cli", reason="stored by ARN", now=guarded.now())
    assert "stored by ARN" in cli("status", "--cluster", cluster.name).out
    assert cli("resume", "--cluster", cluster.name).out.strip() == f"resumed cluster {cluster.name}"
    assert pauses.all() == {}


# ---------------------------------------------------------------- item 13: refuse what does not exist


@pytest.mark.parametrize(
    "argv",
    [
        ("pause", "--cluster", "no-such-cluster"),
        ("resume", "--cluster", "no-such-cluster"),
        ("status", "--cluster", "no-such-cluster"),
        ("history", "i-0123456789abcdef0", "--cluster", "no-such-cluster"),
        ("release", "i-0123456789abcdef0", "--cluster", "no-such-cluster", "--reason", "x"),
        ("breaker", "reset", "--cluster", "no-such-cluster", "--yes"),
        ("pause", "--cluster", "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef123456"),
    ],
)
def test_a_cluster_that_does_not_exist_is_refused(
    guarded: LocalWorld, cli: Cli, argv: tuple[str, ...]
) -> None:
    run = cli(*argv)
    assert run.code == 1
    assert run.err.startswith("autoheal: error: cluster ") and "not found" in run.err
    assert LedgerPauses(guarded.aws.client("dynamodb"), guarded.stack.table_name).all() == {}


def test_a_second_pause_keeps_the_first_unless_forced(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=4)
    first = cli("pause", "--cluster", cluster.name, "--reason", "bad AMI rollout").out
    second = cli("pause", "--cluster", cluster.name, "--reason", "something else")
    assert second.code == 0
    assert second.out.splitlines()[0] == "already paused: " + first.splitlines()[0]
    assert "bad AMI rollout" in cli("status").out

    forced = cli("pause", "--cluster", cluster.name, "--reason", "something else", "--force", "--json")
    assert forced.json()["paused"]["reason"] == "something else"
    assert forced.json()["already_paused"] is False
    assert "something else" in cli("status").out


# ---------------------------------------------------------------- item 16: status and release


def test_release_hands_a_node_that_needed_a_human_back_to_automation(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=4)
    controller = cluster.instance_ids("controller")[0]
    guarded.deliver(events(guarded, cluster, [controller]))
    guarded.remediate()  # reboot
    guarded.advance(minutes(40).total_seconds())
    guarded.deliver(events(guarded, cluster, [controller]))
    guarded.remediate()  # the ladder says replace; a controller is never replaced: a human
    assert nodes_called(guarded, REBOOT) == 1
    status = cli("status", "--json").json()
    assert [n["instance_id"] for n in status["needs_human"]] == [controller]
    assert "NEEDS A HUMAN: 1 node(s)" in cli("status").out

    with pytest.raises(SystemExit) as usage:  # the reason is required
        cli("release", controller, "--cluster", cluster.name)
    assert usage.value.code == 2

    run = cli("release", controller, "--cluster", cluster.arn, "--reason", "reseated the NIC", "--json")
    assert run.code == 0, run.err
    assert (run.json()["released"], run.json()["by"]) == (True, CALLER)
    assert cli("status", "--json").json()["needs_human"] == []
    history = cli("history", controller, "--cluster", cluster.name)
    assert f"released by {CALLER}" in history.out and "reseated the NIC" in history.out
    again = cli("release", controller, "--reason", "twice")
    assert again.code == 0 and "does not need a human (idle): nothing to do" in again.out

    guarded.advance(minutes(40).total_seconds())
    guarded.deliver(events(guarded, cluster, [controller]))  # its next fault starts the ladder again
    guarded.remediate()
    assert nodes_called(guarded, REBOOT) == 2


def test_status_shows_every_hold_at_a_glance(guarded: LocalWorld, cli: Cli) -> None:
    cluster = make_cluster(guarded, gpus=10)
    ddb = guarded.aws.client("dynamodb")
    table = guarded.stack.table_name
    cli("pause", "--cluster", cluster.name, "--reason", "maintenance")
    LedgerBreakers(ddb, table).trip(f"{cluster.name}/{GPU}", guarded.now() + minutes(30), 9, 2)
    states = LedgerNodeStates(ddb, table)
    held = cluster.logical_ids(GPU)[0]
    (fresh,) = states.load([(cluster.name, held)]).values()
    from dataclasses import replace

    waiting = replace(fresh, version=1, status=NodeStatus.HELD, hold="paused", held_since=guarded.now())
    assert states.put_if_unchanged(waiting, 0, guarded.now())

    data = cli("status", "--cluster", cluster.arn, "--json").json()
    assert data["cluster"] == cluster.name
    assert [p["reason"] for p in data["pauses"]] == ["maintenance"]
    assert [(b["scope"], b["nodes"], b["allowed"]) for b in data["breakers"]] == [
        (f"{cluster.name}/{GPU}", 9, 2)
    ]
    assert data["held"] == {"paused": 1}
    text = cli("status").out
    assert "HELD: 1 fault(s) waiting for a hold to lift: 1 paused" in text
    assert "held:paused" in text


def test_on_a_terminal_a_breaker_reset_asks_first(
    guarded: LocalWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, the reset asks, and only `y` overrides."""
    cluster = make_cluster(guarded, gpus=10)

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty("n\n"))
    declined = cli("breaker", "reset", "--cluster", cluster.name)
    assert declined.code == 0 and "not confirmed: nothing changed" in declined.out
    assert "override the circuit breaker? [y/N]" in declined.err
    breakers = LedgerBreakers(guarded.aws.client("dynamodb"), guarded.stack.table_name)
    assert breakers.breakers(guarded.now()).overrides == {}

    monkeypatch.setattr("sys.stdin", Tty("y\n"))
    accepted = cli("breaker", "reset", "--cluster", cluster.name)
    assert accepted.code == 0 and "overridden by" in accepted.out
    assert cluster.name in breakers.breakers(guarded.now()).overrides
