"""A fault remediate drops (no node to act on) leaves a short-lived verdict in the ledger, keyed by its
event, through the real intake and remediate handlers; and a cluster named with the self-test prefix
is never acted on, whoever says it is faulty."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from autoheal.adapters.verdicts import DROPPED_TTL, LedgerVerdicts
from autoheal_cli.main import main
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld

pytestmark = pytest.mark.scenario

GONE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:cluster/zzzzzzzzzzzz"


def verdicts(world: LocalWorld) -> LedgerVerdicts:
    return LedgerVerdicts(world.aws.client("dynamodb"), world.stack.table_name)


def test_a_fault_for_a_cluster_that_does_not_exist_is_kept_as_dropped_with_its_reason(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    event = node_health_event("gone", GONE_ARN, "i-0123456789abcdef0", world.now(), event_id="ev-gone")
    world.deliver([event])
    world.run_until_quiet()
    (kept,) = verdicts(world).dropped("ev-gone")
    assert (kept.cluster, kept.node, kept.reason) == ("gone", "i-0123456789abcdef0", "cluster_not_found")
    assert kept.signal == "NvidiaErrorTerminate" and kept.at == world.now()
    item = world.aws.client("dynamodb").get_item(
        TableName=world.stack.table_name,
        Key={"pk": {"S": "FAULT#ev-gone"}, "sk": {"S": "DROPPED#gone#i-0123456789abcdef0"}},
    )["Item"]
    assert int(item["expires_at"]["N"]) == int((world.now() + DROPPED_TTL).timestamp())
    assert not world.calls()


def test_a_fault_for_a_node_not_in_its_cluster_is_kept_and_a_fault_acted_on_is_not(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    real = cluster.in_group("gpu-a")[0]
    world.deliver(
        [
            node_health_event(cluster.name, cluster.arn, "i-0ffffffffffffffff", world.now(), event_id="ev-x"),
            node_health_event(cluster.name, cluster.arn, real.instance_id, world.now(), event_id="ev-real"),
        ]
    )
    world.run_until_quiet()
    assert [d.reason for d in verdicts(world).dropped("ev-x")] == ["node_not_in_cluster"]
    assert verdicts(world).dropped("ev-real") == []
    assert len(world.calls("BatchRebootClusterNodes")) == 1
    assert verdicts(world).forget("ev-x") == 1 and verdicts(world).dropped("ev-x") == []


def test_a_real_cluster_named_with_the_reserved_prefix_is_never_acted_on(world: LocalWorld) -> None:
    reserved = create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "autoheal-selftest-realone",
        [GroupSpec(name="gpu", instance_type="ml.p5.48xlarge", count=2, node_type="Compute")],
    )
    node = reserved.in_group("gpu")[0]
    world.deliver([node_health_event(reserved.name, reserved.arn, node.instance_id, world.now())])
    (report,) = world.run_until_quiet()
    assert not world.calls()
    assert [r.reason for r in report.nodes] == ["reserved_cluster_name"]
    world.advance(timedelta(hours=1).total_seconds())
    world.reconcile()
    assert not world.calls()


def test_a_reserved_cluster_that_cannot_be_read_is_dropped_not_held(world: LocalWorld) -> None:
    """A hold would bring a self-test's fault back for hours and end in a needs-human notice."""
    reserved = create_cluster(
        world.aws.client("sagemaker"),
        world.control,
        "autoheal-selftest-denied",
        [GroupSpec(name="gpu", instance_type="ml.p5.48xlarge", count=1, node_type="Compute")],
    )
    world.control.fail_calls(reserved.name, "AccessDeniedException", actions=("ListClusterNodes",))
    node = reserved.in_group("gpu")[0]
    event = node_health_event(
        reserved.name, reserved.arn, node.instance_id, world.now(), event_id="ev-denied"
    )
    event["detail"].pop("ClusterArn")
    event["resources"] = []
    world.deliver([event])
    (report,) = world.run_until_quiet()
    assert [r.reason for r in report.nodes] == ["reserved_cluster_unreachable"]
    assert [d.reason for d in verdicts(world).dropped("ev-denied")] == [
        "reserved_cluster_unreachable:AccessDeniedException"
    ]
    assert world.drain() == [] and world.topic_messages() == [] and not world.calls()


def test_history_shows_what_became_of_an_event_s_fault(
    world: LocalWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    world.deliver(
        [node_health_event("gone", GONE_ARN, "i-0123456789abcdef0", world.now(), event_id="ev-cli")]
    )
    world.run_until_quiet()
    capsys.readouterr()
    assert main(["history", "--event", "ev-cli"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "event ev-cli: dropped by remediate"
    assert out[2].split()[-3:] == ["i-0123456789abcdef0", "cluster_not_found", "NvidiaErrorTerminate"]
    assert main(["history", "--event", "ev-cli", "--json"]) == 0
    (dropped,) = json.loads(capsys.readouterr().out)["dropped"]
    assert (dropped["cluster"], dropped["reason"]) == ("gone", "cluster_not_found")
    assert main(["history", "--event", "ev-never"]) == 1
    assert "no dropped fault recorded for event ev-never" in capsys.readouterr().out
    assert main(["history"]) == 2
    assert "give NODE or --event EVENT_ID" in capsys.readouterr().err
