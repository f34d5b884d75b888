"""The ledger's read-only operator queries (used by the `autoheal` CLI) against DynamoDB on the local
moto server: the sparse open index, one node's record, and finding a node by any id it has had."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from autoheal.adapters.ledger import AttemptRecord
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action
from hyperpod_local.stack.resources import create_stack_resources
from tests.ledger_table import LedgerTable

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OLD, NEW, OTHER = "i-0aaaaaaaaaaaaaaa1", "i-0bbbbbbbbbbbbbbb2", "i-0ccccccccccccccc3"


@pytest.fixture
def ledger(aws) -> LedgerTable:  # type: ignore[no-untyped-def]
    stack = create_stack_resources(aws.client, suffix=uuid.uuid4().hex[:8])
    return LedgerTable.of(aws.client("dynamodb"), stack.table_name)


def state(cluster: str, key: str, status: NodeStatus, instance_id: str | None = None) -> NodeState:
    return replace(
        NodeState(cluster=cluster, node_key=key),
        version=2,
        status=status,
        step=0,
        instance_id=instance_id,
        node_logical_id=key if not key.startswith("i-") else None,
    )


def attempt(cluster: str, key: str, action: Action, at: datetime, instance_id: str) -> AttemptRecord:
    return AttemptRecord(
        cluster, key, uuid.uuid4().hex[:16], action, 0, at, "accepted", instance_id=instance_id
    )


def test_open_nodes_come_from_the_sparse_index_by_cluster_or_all(ledger: LedgerTable) -> None:
    ledger.states.commit(
        [
            state("c1", "n1", NodeStatus.IN_PROGRESS),
            state("c1", "n2", NodeStatus.NEEDS_HUMAN),
            state("c1", "n3", NodeStatus.CLOSED),  # not open: not on the index
            state("c2", "n1", NodeStatus.RETRY_PENDING),
        ],
        [],
        T0,
    )
    assert [(h.cluster, h.node_key) for h in ledger.open_nodes.open_nodes()] == [
        ("c1", "n1"),
        ("c1", "n2"),
        ("c2", "n1"),
    ]
    assert [h.node_key for h in ledger.open_nodes.open_nodes("c1")] == ["n1", "n2"]
    assert [h.status for h in ledger.open_nodes.open_nodes("c2")] == [NodeStatus.RETRY_PENDING]
    assert ledger.open_nodes.open_nodes("c3") == []


def test_a_node_that_closes_leaves_the_open_index(ledger: LedgerTable) -> None:
    ledger.states.commit([state("c1", "n1", NodeStatus.IN_PROGRESS)], [], T0)
    ledger.states.commit([state("c1", "n1", NodeStatus.CLOSED)], [], T0 + timedelta(minutes=1))
    assert ledger.open_nodes.open_nodes() == []


def test_pause_switches_in_the_same_table_are_not_nodes(ledger: LedgerTable) -> None:
    ledger.pauses.pause("*", by="oncall", reason="test")
    assert ledger.open_nodes.open_nodes() == []
    assert ledger.open_nodes.find_nodes("oncall") == []


def test_node_record_holds_the_state_and_every_attempt_oldest_first(ledger: LedgerTable) -> None:
    ledger.states.commit(
        [state("c1", "gpu-1", NodeStatus.IN_PROGRESS, instance_id=NEW)],
        [
            attempt("c1", "gpu-1", Action.REPLACE, T0 + timedelta(minutes=20), OLD),
            attempt("c1", "gpu-1", Action.REBOOT, T0, OLD),
        ],
        T0,
    )
    record = ledger.states.node_record("c1", "gpu-1")
    assert record.state is not None and record.state.instance_id == NEW
    assert [a.action for a in record.attempts] == [Action.REBOOT, Action.REPLACE]
    assert ledger.attempts.attempt_count("c1", "gpu-1") == 2

    empty = ledger.states.node_record("c1", "nobody")
    assert (empty.state, empty.attempts) == (None, ())
    assert ledger.attempts.attempt_count("c1", "nobody") == 0


def test_find_nodes_by_logical_id_current_instance_or_a_replaced_one(ledger: LedgerTable) -> None:
    ledger.states.commit(
        [
            state("c1", "gpu-1", NodeStatus.IN_PROGRESS, instance_id=NEW),
            state("c2", OTHER, NodeStatus.IN_PROGRESS, instance_id=OTHER),  # keyed by instance id
        ],
        [attempt("c1", "gpu-1", Action.REBOOT, T0, OLD), attempt("c2", OTHER, Action.REBOOT, T0, OTHER)],
        T0,
    )
    assert ledger.open_nodes.find_nodes("gpu-1") == [("c1", "gpu-1")]
    assert ledger.open_nodes.find_nodes(NEW) == [("c1", "gpu-1")]  # the state item's current instance
    assert ledger.open_nodes.find_nodes(OLD) == [("c1", "gpu-1")]  # only an attempt remembers it
    assert ledger.open_nodes.find_nodes(OTHER) == [("c2", OTHER)]
    assert ledger.open_nodes.find_nodes("gpu-1", cluster="c1") == [("c1", "gpu-1")]  # the key, by one Query
    assert ledger.open_nodes.find_nodes(OLD, cluster="c1") == [("c1", "gpu-1")]
    assert ledger.open_nodes.find_nodes(OLD, cluster="c2") == []
    assert ledger.open_nodes.find_nodes("gpu-9") == []
