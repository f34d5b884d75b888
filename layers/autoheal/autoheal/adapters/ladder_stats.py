"""The adaptive ladder's aggregates in the ledger table (issue 17 §2): one item per signal, per-day
counters per action, so a decision reads a bounded item per signal and never scans the attempts.

| record | key | written by | read by |
|---|---|---|---|
| aggregate | `pk = STATS`, `sk = <signal>` | reconcile (an action's outcome), remediate (a recurrence) | remediate (one BatchGetItem of its batch's signals, adaptive ladder on only) |

Each counter is a top-level attribute named `<yyyy-mm-dd>#<action>#n` (attempts whose outcome is
known) or `<yyyy-mm-dd>#<action>#ok` (successes), as `autoheal.core.adaptive` reads them. The day is
the day of the ACTION (not of its verification), so a recurrence finds the success it undoes.

- Reconcile adds `n + 1, ok + 1` when it closes a node healed (a provisional success), `n + 1` when the
  action failed or timed out.
- Remediate adds `ok - 1` when a fault recurs within the escalation window after a healed action
  (the ladder's `fault_recurred` decision): that success becomes a failure.

Every change is one `UpdateItem` with `ADD` (atomic: concurrent updates never lose a count; `ADD`
creates a missing counter at zero), which also `REMOVE`s the counters of the `TRIM_DAYS` days just
past the window, so an aggregate updated at least once every `TRIM_DAYS` days never holds more than
the window; older leftovers are ignored by the read (`adaptive.rate` counts only the window's days).
All aggregates share one partition, so `autoheal` can list them with one Query.
UpdateItem: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateItem.html
ADD and REMOVE: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import DynamoClient, Retry
from autoheal.core.adaptive import ATTEMPTS, SUCCESSES, counter

STATS_PK = "STATS"
#: The actions counted (the rungs the adaptive rule compares).
COUNTED = ("reboot", "replace")
#: Days past the window whose counters each update removes.
TRIM_DAYS = 7

#: The IAM actions behind each public method (see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerLadderStats.record": frozenset({"dynamodb:UpdateItem"}),
    "LedgerLadderStats.counters": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerLadderStats.all": frozenset({"dynamodb:Query"}),
}


def stats_key(signal: str) -> dict[str, str]:
    return {"pk": STATS_PK, "sk": signal}


def _counters(item: Mapping[str, Any]) -> dict[str, int]:
    return {k: int(v) for k, v in item.items() if k not in ("pk", "sk") and isinstance(v, int | Decimal)}


class LedgerLadderStats:
    """Per-signal outcome counters for the adaptive ladder."""

    def __init__(self, client: DynamoClient, table: str, window: timedelta, retry: Retry | None = None):
        self._client = client
        self._table = table
        self._window = window
        self._retry = retry or Retry()

    def record(self, signal: str, action: str, day: date, attempts: int, successes: int) -> dict[str, int]:
        """Add to one day's counters of (signal, action); returns the signal's counters after the update.
        An action not counted (retire) changes nothing and returns {}."""
        if action not in COUNTED or not signal:
            return {}
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        adds: list[str] = []
        for i, (kind, value) in enumerate(((ATTEMPTS, attempts), (SUCCESSES, successes))):
            if value:
                names[f"#a{i}"] = counter(day, action, kind)
                values[f":a{i}"] = value
                adds.append(f"#a{i} :a{i}")
        if not adds:
            return {}
        first = day - self._window
        removes: list[str] = []
        for d in range(1, TRIM_DAYS + 1):
            old = first - timedelta(days=d)
            for act in COUNTED:
                for kind in (ATTEMPTS, SUCCESSES):
                    name = f"#r{len(removes)}"
                    names[name] = counter(old, act, kind)
                    removes.append(name)
        response = dynamo.call(
            self._client,
            "update_item",
            TableName=self._table,
            Key=dynamo.marshal(stats_key(signal)),
            UpdateExpression=f"ADD {', '.join(adds)} REMOVE {', '.join(removes)}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=dynamo.marshal(values),
            ReturnValues="ALL_NEW",
        )
        return _counters(dynamo.unmarshal(response.get("Attributes", {})))

    def counters(self, signals: Iterable[str]) -> dict[str, dict[str, int]]:
        """The counters of each signal that has an aggregate (one BatchGetItem; none when no signal)."""
        keys = [stats_key(s) for s in sorted({s for s in signals if s})]
        if not keys:
            return {}
        found = dynamo.batch_get(self._client, self._table, keys, self._retry)
        return {str(item["sk"]): _counters(item) for item in found}

    def all(self) -> dict[str, dict[str, int]]:
        """Every signal's counters (one Query of the aggregates' partition; for `autoheal ladder`)."""
        found = dynamo.items(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues=dynamo.marshal({":pk": STATS_PK}),
        )
        return {str(item["sk"]): _counters(item) for item in found}
