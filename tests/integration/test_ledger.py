"""The ledger against DynamoDB on the local moto server: claims are exclusive, batches are complete."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from autoheal.adapters.ledger import AttemptRecord
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.core.state import NodeState, NodeStatus
from autoheal.policy import Action
from hyperpod_local.stack.resources import create_stack_resources
from tests.ledger_table import LedgerTable

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(aws) -> LedgerTable:  # type: ignore[no-untyped-def]
    stack = create_stack_resources(aws.client, suffix=uuid.uuid4().hex[:8])
    return LedgerTable.of(aws.client("dynamodb"), stack.table_name)


def claim_of(h: NodeState) -> NodeState:
    return replace(
        h, version=h.version + 1, status=NodeStatus.CLAIMED, claim_expires_at=T0 + timedelta(minutes=15)
    )


def test_unknown_nodes_load_as_fresh_histories(ledger: LedgerTable) -> None:
    loaded = ledger.states.load([("c1", "n1")])
    assert loaded[("c1", "n1")] == NodeState(cluster="c1", node_key="n1")


def test_only_one_of_two_racing_claims_wins(ledger: LedgerTable) -> None:
    fresh = ledger.states.load([("c1", "n1")])[("c1", "n1")]
    assert ledger.states.put_if_unchanged(claim_of(fresh), fresh.version, T0) is True
    assert (
        ledger.states.put_if_unchanged(claim_of(fresh), fresh.version, T0) is False
    )  # read the same version


def test_concurrent_claims_from_many_threads_have_one_winner(ledger: LedgerTable, aws) -> None:  # type: ignore[no-untyped-def]
    fresh = NodeState(cluster="c1", node_key="n-race")
    results: list[bool] = []
    lock = threading.Lock()

    def attempt() -> None:
        own = LedgerNodeStates(aws.client("dynamodb"), ledger.name)
        won = own.put_if_unchanged(claim_of(fresh), 0, T0)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def test_a_claim_on_a_known_node_checks_the_version(ledger: LedgerTable) -> None:
    fresh = NodeState(cluster="c1", node_key="n1")
    assert ledger.states.put_if_unchanged(claim_of(fresh), 0, T0)
    v1 = ledger.states.load([("c1", "n1")])[("c1", "n1")]
    assert v1.version == 1 and v1.status is NodeStatus.CLAIMED
    assert ledger.states.put_if_unchanged(claim_of(v1), 1, T0)
    assert not ledger.states.put_if_unchanged(claim_of(v1), 1, T0)


def test_bulk_load_and_commit_of_more_than_one_request(ledger: LedgerTable) -> None:
    refs = [("c1", f"n{i}") for i in range(130)]  # > 100 keys per BatchGetItem, > 25 items per write
    states = [
        replace(NodeState(cluster=c, node_key=n), version=1, status=NodeStatus.IN_PROGRESS) for c, n in refs
    ]
    attempts = [AttemptRecord(c, n, uuid.uuid4().hex, Action.REBOOT, 0, T0, "accepted") for c, n in refs]
    ledger.states.commit(states, attempts, T0)

    loaded = ledger.states.load(refs)
    assert all(loaded[r].status is NodeStatus.IN_PROGRESS for r in refs)
    assert [a.outcome for a in ledger.attempts.attempts("c1", "n7")] == ["accepted"]
