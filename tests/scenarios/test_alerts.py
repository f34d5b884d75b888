"""Alerts people can read (issue 18 §5), through the real handlers on the local stack, read back from
SNS as a subscriber gets them: a short subject, a plain-text body with the exact commands, the JSON
for machines, the chat topic's custom notifications, and each step notification (started, healed,
stuck, human) one message per cluster per batch or round, listing the nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from autoheal.settings import load_settings
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.guards import PRODUCTION_GUARDS
from hyperpod_local.stack.world import LocalWorld, Published
from tests.fixtures import minutes, slurm_training_cluster
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario

ALL_STEPS = {"AUTOHEAL_NOTIFY_STEPS": "started,healed,stuck,human"}
CHAT_SCHEMA = json.loads((Path(__file__).parents[1] / "unit" / "chat_notification.schema.json").read_text())


@pytest.fixture
def chatty(aws, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:  # type: ignore[no-untyped-def]
    """Every step switched on, and the chat topic configured (ChatNotifications=true)."""
    world = LocalWorld(aws, monkeypatch.setenv, env=ALL_STEPS)
    monkeypatch.setenv("AUTOHEAL_CHAT_TOPIC_ARN", world.stack.chat_topic_arn)
    world.settings = load_settings()
    return world


def _cluster(world: LocalWorld) -> ClusterFixture:
    return slurm_training_cluster(world.aws.client("sagemaker"), world.control, gpu_group=GPU_GROUP, gpus=64)


def _faults(world: LocalWorld, cluster: ClusterFixture, instance_ids: list[str]) -> None:
    world.deliver([node_health_event(cluster.name, cluster.arn, i, world.now()) for i in instance_ids])


def _readable(p: Published) -> None:
    assert 0 < len(p.subject) < 100 and p.subject.isascii() and p.subject.isprintable(), p.subject
    assert p.subject.startswith("[autoheal] ")
    for part in ("What happened:", "What the service did:", "What it needs from you:", "Commands"):
        assert part in p.text
    assert p.attributes["kind"] == p.data["kind"] and p.attributes["cluster"] == p.data["cluster"]


def test_a_needs_human_message_is_readable_and_names_the_exact_commands(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    nodes = cluster.in_group(GPU_GROUP)[:2]
    for n in nodes:  # permanent failures: a human takes over
        world.control.inject_entry_error(n.instance_id, "ValidationException")
    _faults(world, cluster, [n.instance_id for n in nodes])
    world.remediate()

    (message,) = world.topic_published()
    _readable(message)
    assert message.subject == f"[autoheal] {cluster.name}: 2 node(s) need a human"
    assert (message.attributes["kind"], message.attributes["step"]) == ("needs_human", "human")
    assert message.attributes["nodes"] == "2"
    for n in nodes:
        assert f"{n.logical_id} (instance {n.instance_id}): permanent_failure" in message.text
    assert f"autoheal release NODE --cluster {cluster.name} --reason TEXT" in message.text
    assert sorted(n["node_key"] for n in message.data["nodes"]) == sorted(n.logical_id for n in nodes)
    assert world.chat_messages() == []  # ChatNotifications is off by default


def test_by_default_only_what_needs_a_person_is_told(world: LocalWorld, cluster: ClusterFixture) -> None:
    nodes = cluster.in_group(GPU_GROUP)[:3]
    _faults(world, cluster, [n.instance_id for n in nodes])
    world.remediate()
    world.advance(minutes(6).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"healed": 3}
    assert world.topic_published() == []  # started and healed are off unless NotifySteps has them


def test_started_and_healed_are_one_message_per_cluster_listing_the_nodes(
    chatty: LocalWorld,
) -> None:
    world = chatty
    cluster = _cluster(world)
    nodes = cluster.in_group(GPU_GROUP)[:5]
    _faults(world, cluster, [n.instance_id for n in nodes])
    world.remediate()

    (started,) = world.topic_published()
    _readable(started)
    assert started.subject == f"[autoheal] {cluster.name}: 5 action(s) started"
    assert (started.attributes["kind"], started.attributes["severity"]) == ("started", "info")
    assert sorted(n["node_key"] for n in started.data["nodes"]) == sorted(n.logical_id for n in nodes)
    assert all("reboot accepted" in n["reason"] for n in started.data["nodes"])

    world.advance(minutes(6).total_seconds())
    assert world.reconcile().summary()["verdicts"] == {"healed": 5}
    (healed,) = world.topic_published()
    _readable(healed)
    assert healed.subject == f"[autoheal] {cluster.name}: 5 node(s) healed"
    assert {n["details"]["took"] for n in healed.data["nodes"]} == {"6 min"}

    chat = world.chat_messages()
    assert [c["metadata"]["eventType"] for c in chat] == ["started", "healed"]
    for c in chat:
        jsonschema.validate(c, CHAT_SCHEMA)
    world.reconcile()
    assert world.topic_published() == []  # told once


def test_an_action_running_over_twice_its_expected_time_is_told_once(chatty: LocalWorld) -> None:
    world = chatty
    cluster = _cluster(world)
    node = cluster.in_group(GPU_GROUP)[0]
    _faults(world, cluster, [node.instance_id])
    world.remediate()
    world.topic_published()  # started
    world.advance(minutes(3).total_seconds())
    world.control.set_status(node.instance_id, "Pending")  # the reboot never finishes

    world.advance(minutes(15).total_seconds())  # 18 min: under 2x the reboot's expected 10 min
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}
    assert world.topic_published() == []

    world.advance(minutes(3).total_seconds())  # 21 min
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}
    (stuck,) = world.topic_published()
    _readable(stuck)
    assert stuck.subject == f"[autoheal] {cluster.name}: 1 action(s) running over 2x expected time"
    assert (stuck.attributes["kind"], stuck.attributes["severity"]) == ("stuck", "warning")
    (told,) = stuck.data["nodes"]
    assert (told["node_key"], told["reason"]) == (node.logical_id, "reboot running for 21 min")
    assert f"autoheal history {node.logical_id} --cluster {cluster.name}" in stuck.text

    world.advance(minutes(5).total_seconds())  # 26 min: still stuck, already told
    assert world.reconcile().summary()["verdicts"] == {"wait": 1}
    assert world.topic_published() == []
    (chat,) = [c for c in world.chat_messages() if c["metadata"]["eventType"] == "stuck"]
    jsonschema.validate(chat, CHAT_SCHEMA)
    (told_once,) = [
        item
        for item in world.aws.client("dynamodb").scan(TableName=world.stack.table_name)["Items"]
        if item["sk"]["S"].startswith("NOTICE#stuck#")
    ]
    assert "expires_at" in told_once  # the record goes with the table's TTL, not kept forever


def test_a_breaker_trip_says_what_is_held_and_how_to_reset_it(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = LocalWorld(aws, monkeypatch.setenv, env=PRODUCTION_GUARDS)
    cluster = _cluster(world)
    nodes = cluster.in_group(GPU_GROUP)[:30]  # far over 20 % of the group and of the cluster
    _faults(world, cluster, [n.instance_id for n in nodes])
    world.remediate()

    (breaker,) = world.topic_published()  # the group's and the cluster's trips: one message
    _readable(breaker)
    assert breaker.attributes["kind"] == "breaker_open"
    assert breaker.subject.startswith(f"[autoheal] {cluster.name}: circuit breaker open for {cluster.name}/")
    assert f"autoheal breaker reset --cluster {cluster.name}\n" in breaker.text
    scopes = {n["node_key"]: n["details"] for n in breaker.data["nodes"]}
    group = scopes[f"{cluster.name}/{GPU_GROUP}"]
    assert (group["nodes"], group["group"]) == ("30", GPU_GROUP)
    assert f"{cluster.name}/{GPU_GROUP}: circuit breaker open" in breaker.text


def test_switching_human_off_settles_the_notice_without_a_message(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = LocalWorld(aws, monkeypatch.setenv, env={"AUTOHEAL_NOTIFY_STEPS": "healed"})
    cluster = _cluster(world)
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.inject_entry_error(node.instance_id, "ValidationException")
    _faults(world, cluster, [node.instance_id])
    report = world.remediate()
    assert report.metrics.total("NeedsHuman") == 1  # the ledger and the NeedsHuman alarm still say so
    assert world.topic_published() == []
    world.advance(minutes(16).total_seconds())
    assert "notices_resent" not in world.reconcile().summary()  # settled, not pending forever
