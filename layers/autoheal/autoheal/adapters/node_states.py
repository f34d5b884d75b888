"""Node state items in the ledger table: load them, claim one with a conditional put, commit outcomes.

A node is claimed with a conditional PutItem (`version` unchanged since we read it) before any
mutating call -- the nodes of one call together, in one TransactWriteItems (`put_all_if_unchanged`) -- and marked `sending` just before it (`put_claimed`: one BatchWriteItem per call of at
most 25 nodes); outcomes (state items held under our claim, and the attempt items that record them)
are written afterwards with BatchWriteItem, 25 items a request, states and attempts in the same
requests. remediate and reconcile call `load`, `put_if_unchanged`, `put_claimed` and `commit`;
`node_record` (a node's state and every attempt) is for the `autoheal` CLI.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import ConditionFailed, DynamoClient, Retry
from autoheal.adapters.ledger import (
    ATTEMPT_PREFIX,
    STATE_SK,
    AttemptRecord,
    NodeRecord,
    NodeRef,
    attempt_to_item,
    item_to_attempt,
    item_to_state,
    node_pk,
    state_key,
    state_to_item,
)
from autoheal.core.state import NodeState

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerNodeStates.load": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerNodeStates.put_if_unchanged": frozenset({"dynamodb:PutItem"}),
    # a transaction's Puts are authorised by dynamodb:PutItem (there is no action of its own):
    # https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
    "LedgerNodeStates.put_all_if_unchanged": frozenset({"dynamodb:PutItem"}),
    "LedgerNodeStates.put_claimed": frozenset({"dynamodb:BatchWriteItem"}),
    "LedgerNodeStates.commit": frozenset({"dynamodb:BatchWriteItem"}),
    "LedgerNodeStates.node_record": frozenset({"dynamodb:Query"}),
}


#: BatchGetItems of one load sent side by side (a 1000-node storm reads its states in 20 of them: 100
#: keys each, under the cluster's name and its ARN).
LOAD_WORKERS = 8
#: BatchWriteItems of one commit sent side by side (a 1000-node storm commits 80 of them).
COMMIT_WORKERS = 8
#: TransactWriteItems takes at most 100 actions (API reference above).
TRANSACT_MAX = 100


@dataclass(frozen=True)
class Transacted:
    """A transaction's outcome: all written, or nothing written and, by position, the items whose
    condition failed (`changed`); `codes` are every cancellation reason given (ConditionalCheckFailed,
    TransactionConflict, ThrottlingError, ...)."""

    written: bool
    changed: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()


class LedgerNodeStates:
    """Reads and writes node state items (and, on commit, the attempts that go with them) in as few
    requests as DynamoDB allows, except claims, which are conditional and so one request each."""

    def __init__(
        self,
        client: DynamoClient,
        table_name: str,
        attempt_ttl: timedelta = timedelta(days=30),
        retry: Retry | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._attempt_ttl = attempt_ttl
        self._retry = retry or Retry()

    def load(self, refs: Iterable[NodeRef]) -> dict[NodeRef, NodeState]:
        """The nodes' states (strongly consistent), fresh ones for nodes never seen."""
        wanted = list(dict.fromkeys(refs))
        keys = [state_key(r) for r in wanted]
        raw = dynamo.batch_get(self._client, self._table, keys, self._retry, workers=LOAD_WORKERS)
        found = {(h.cluster, h.node_key): h for h in map(item_to_state, raw)}
        return {ref: found.get(ref) or NodeState(cluster=ref[0], node_key=ref[1]) for ref in wanted}

    def put_if_unchanged(self, new: NodeState, expected_version: int, now: datetime) -> bool:
        """Write `new` (whose version must be expected_version + 1) only if nobody wrote since we read.

        This is the claim: exactly one concurrent writer wins; the others get False.
        """
        try:
            dynamo.call(self._client, "put_item", **self._conditional_put(new, expected_version, now))
        except ConditionFailed:
            return False
        return True

    def put_all_if_unchanged(self, writes: Sequence[tuple[NodeState, int]], now: datetime) -> Transacted:
        """Each (state, version read) written as `put_if_unchanged` would, all or none, in one
        TransactWriteItems (at most `TRANSACT_MAX` items; 2 write units per item). A cancelled
        transaction writes nothing and says, per item, whose condition failed (`CancellationReasons`):
        https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html"""
        if not writes:
            return Transacted(written=True)
        if len(writes) > TRANSACT_MAX:
            raise ValueError(f"a transaction holds at most {TRANSACT_MAX} items, got {len(writes)}")
        puts = [{"Put": self._conditional_put(state, expected, now)} for state, expected in writes]
        reasons = dynamo.transact_write(self._client, puts)
        if reasons is None:
            return Transacted(written=True)
        changed = frozenset(k for k, code in enumerate(reasons) if code == "ConditionalCheckFailed")
        return Transacted(written=False, changed=changed, codes=frozenset(reasons) - {"None"})

    def _conditional_put(self, new: NodeState, expected_version: int, now: datetime) -> dict[str, Any]:
        if new.version != expected_version + 1:
            raise ValueError("a conditional write must bump the version by one")
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :v"
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Item": dynamo.marshal(state_to_item(new, now)),
            "ConditionExpression": condition,
        }
        if expected_version:
            kwargs["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        return kwargs

    def put_claimed(self, states: Sequence[NodeState], now: datetime) -> None:
        """Write states of nodes this invocation holds the claims of (no condition: nobody else writes a
        claimed node), 25 per request: remediate marks a call's nodes `sending` just before the call."""
        dynamo.batch_write(self._client, self._table, [state_to_item(h, now) for h in states], self._retry)

    def commit(self, states: Sequence[NodeState], attempts: Sequence[AttemptRecord], now: datetime) -> None:
        """Write outcomes: state items (held under our claim) and attempt items, 25 per request."""
        items = [state_to_item(h, now) for h in states] + [
            attempt_to_item(a, self._attempt_ttl) for a in attempts
        ]
        dynamo.batch_write(self._client, self._table, items, self._retry, workers=COMMIT_WORKERS)

    def node_record(self, cluster: str, node_key: str) -> NodeRecord:
        """A node's state item and all its attempts, in one (paginated) Query of its partition."""
        state: NodeState | None = None
        attempts: list[AttemptRecord] = []
        for item in dynamo.items(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": node_pk(cluster, node_key)}},
            ConsistentRead=True,
        ):
            if item["sk"] == STATE_SK:
                state = item_to_state(item)
            elif str(item["sk"]).startswith(ATTEMPT_PREFIX):
                attempts.append(item_to_attempt(item))
        return NodeRecord(cluster, node_key, state, tuple(attempts))
