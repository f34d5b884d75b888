"""No lost notification (issue 15, item 4): a needs-human notice is written in the node's state item
with the outcome, published after, and cleared once published; when the publish fails, reconcile
publishes it later, exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.notify import Notifier
from autoheal.core.state import NodeStatus
from autoheal.remediate.service import Deps
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.scenarios.conftest import GPU_GROUP

pytestmark = pytest.mark.scenario


class SnsDown:
    """An SNS client whose every publish fails, as a throttled or unreachable topic would."""

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "try later"}}, "Publish")


def _sns_down(deps: Deps) -> Deps:
    deps.notifier = Notifier(SnsDown(), "arn:aws:sns:us-east-1:123456789012:needs-human")
    return deps


def test_a_failed_publish_is_sent_by_reconcile_exactly_once(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    topic = world.topic_messages  # subscribed before anything is published
    nodes = cluster.in_group(GPU_GROUP)[:2]
    for n in nodes:  # permanent failures: a human takes over
        world.control.inject_entry_error(n.instance_id, "ValidationException")
    world.deliver([node_health_event(cluster.name, cluster.arn, n.instance_id, world.now()) for n in nodes])

    report = world.remediate(deps_hook=_sns_down)

    assert report.batch_item_failures == []  # the outcomes are committed: nothing to redeliver
    assert report.metrics.total("NeedsHuman") == 2
    assert topic() == []
    states = LedgerNodeStates(world.aws.client("dynamodb"), world.stack.table_name)
    for n in nodes:
        state = states.node_record(cluster.name, n.logical_id).state
        assert state is not None and state.status is NodeStatus.NEEDS_HUMAN and state.notify_pending

    assert "notices_resent" not in world.reconcile().summary()  # remediate may still be publishing
    world.advance(minutes(16).total_seconds())
    assert world.reconcile().summary()["notices_resent"] == 2
    (message,) = topic()
    assert sorted(n["node_key"] for n in message["nodes"]) == sorted(n.logical_id for n in nodes)
    assert {n["reason"] for n in message["nodes"]} == {"permanent_failure"}

    world.advance(minutes(16).total_seconds())
    assert "notices_resent" not in world.reconcile().summary()
    assert topic() == []
    for n in nodes:
        state = states.node_record(cluster.name, n.logical_id).state
        assert state is not None and state.notify_pending is None


def test_a_published_notice_is_cleared_and_never_sent_again(
    world: LocalWorld, cluster: ClusterFixture
) -> None:
    topic = world.topic_messages
    node = cluster.in_group(GPU_GROUP)[0]
    world.control.inject_entry_error(node.instance_id, "ValidationException")
    world.deliver([node_health_event(cluster.name, cluster.arn, node.instance_id, world.now())])
    world.remediate()
    assert len(topic()) == 1
    world.advance(minutes(16).total_seconds())
    world.reconcile()
    assert topic() == []
