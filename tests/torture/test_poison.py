"""A message that fails on every receive ends in the FaultDLQ after the queue's maxReceiveCount (real
moto SQS redrive), with an alarm on that DLQ, while the rest of its batch succeeds the first time."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import pytest

from autoheal import clients
from autoheal.adapters.queue import QueueError
from autoheal.faults import NodeFault
from autoheal.remediate.service import Deps
from autoheal.remediate.wiring import build_deps, handle_batch
from hyperpod_local.stack.template import load_template
from hyperpod_local.stack.world import LocalWorld
from tests.torture.support import (
    REBOOT,
    SplitAws,
    answered,
    deliver,
    entries_per_node,
    make_storm,
    report,
)

pytestmark = pytest.mark.torture

NODES = 10


def test_a_message_failing_on_every_receive_ends_in_the_dlq_and_its_batch_succeeds(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    # enough transient retries that the ledger never stops retrying before SQS gives up on the message
    world = LocalWorld(SplitAws(aws, None), monkeypatch.setenv, env={"AUTOHEAL_MAX_TRANSIENT_RETRIES": "50"})
    storm = make_storm(world, NODES, prefix="poison")
    cluster, poison_iid, poison = storm.nodes[0]
    world.control.inject_entry_error(poison, "InternalServerError", times=1000)  # fails every time
    redrive = json.loads(
        world.sqs.get_queue_attributes(QueueUrl=world.stack.queue_url, AttributeNames=["RedrivePolicy"])[
            "Attributes"
        ]["RedrivePolicy"]
    )
    max_receives = int(redrive["maxReceiveCount"])
    assert redrive["deadLetterTargetArn"] == world.stack.dlq_arn

    def retry_queue_down_for_the_poison(deps: Deps) -> Deps:
        """Its transient retry cannot be re-queued (the adapter's QueueError): remediate must return
        it as a batch item failure, every time; everyone else's retries would go through."""
        real = deps.retry_queue
        assert real is not None

        class RetryQueue:
            def requeue(self, faults: Sequence[NodeFault], delay_seconds: int) -> None:
                if any(f.instance_id == poison_iid or f.node_logical_id == poison for f in faults):
                    raise QueueError("SendMessage failed", code="InternalError")
                real.requeue(faults, delay_seconds)

        deps.retry_queue = RetryQueue()
        return deps

    deliver(world, storm.events(world))
    receives: list[int] = []
    failures: list[list[str]] = []
    for _ in range(max_receives + 2):
        batch = world.drain()  # real receives: each one counts toward maxReceiveCount
        if not batch:
            break
        receives.append(len(batch))
        result = remediate_batch_visible(world, batch, retry_queue_down_for_the_poison)
        failures.append(result)

    dlq = world.sqs.receive_message(QueueUrl=world.stack.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    entries = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    report(
        "poison message",
        events=NODES,
        faults=NODES,
        max_receive_count=max_receives,
        receives=receives,
        in_dlq=len(dlq),
        poison_attempts=entries[(cluster.name, poison)],
        actions=sum(v for k, v in entries.items() if k[1] != poison),
        duplicates=sum(v - 1 for k, v in entries.items() if k[1] != poison and v > 1),
        seconds=round(time.monotonic() - started, 1),
    )
    assert receives == [NODES] + [1] * (max_receives - 1)  # the rest of the first batch succeeded
    assert all(len(f) == 1 for f in failures)
    assert [json.loads(m["Body"]).get("instance_id") for m in dlq] == [poison_iid]
    assert entries[(cluster.name, poison)] == max_receives  # tried on every receive, never more
    assert {k: v for k, v in entries.items() if k[1] != poison} == {
        (cluster.name, logical): 1 for _, _, logical in storm.nodes[1:]
    }
    # ... and a human hears of it: the DLQ is alarmed (the alarm's action is the needs-human topic)
    alarm = load_template()["Resources"]["FaultDLQAlarm"]["Properties"]
    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FaultDLQ", "QueueName"]}}]
    assert alarm["Threshold"] == 1 and alarm["AlarmActions"] == [{"Ref": "NeedsHumanTopic"}]


def remediate_batch_visible(world: LocalWorld, batch: list[dict[str, Any]], hook: Any) -> list[str]:
    """One invocation on records still in flight (not support.take's delete-as-received)."""
    deps = hook(build_deps(world.settings, clients.client, clock=world.now))
    result = handle_batch({"Records": batch}, world.settings, deps)
    world.settle(batch, result.batch_item_failures)
    return result.batch_item_failures
