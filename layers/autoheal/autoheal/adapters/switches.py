"""The batch's switches in one read: pauses, capacity cool-downs, circuit breakers and the fleet breaker
answered from one strongly consistent Query of the control partition (`pk = CONTROL`, see `control`
and `fleet`), made on first use.

The breaker already reads the whole partition; the pause and cool-down items live in it too, so a
batch needs no BatchGetItem of its own for them. Only planning reads this snapshot: the pause is read
again, fresh, right before each mutating call (`remediate.act`), and writes (a trip, a cool-down) go
through the ordinary adapters.
"""

from __future__ import annotations

from typing import Any, TypeVar

from autoheal.adapters.control import LedgerBreakers, LedgerCooldowns, LedgerPauses, _ControlPartition
from autoheal.adapters.dynamo import DynamoClient, Retry
from autoheal.adapters.fleet import LedgerFleet

_P = TypeVar("_P", bound=_ControlPartition)

#: No IAM action of its own: its one Query is `LedgerBreakers.breakers`'s (see remediate/wiring.py).


class _Snapshot(_ControlPartition):
    """The control partition, queried once (on first use); `_query` and `_get` answer from it."""

    def __init__(self, client: DynamoClient, table_name: str, retry: Retry | None = None) -> None:
        super().__init__(client, table_name, retry)
        self._items: list[dict[str, Any]] | None = None

    def _partition(self) -> list[dict[str, Any]]:
        if self._items is None:
            self._items = super()._query()
        return self._items


def _answered_by(snapshot: _Snapshot, reader: type[_P]) -> _P:
    """`reader` (LedgerPauses, ...) whose reads are answered from `snapshot`."""

    class Answered(reader):  # type: ignore[valid-type,misc]
        def _query(self, prefix: str = "") -> list[dict[str, Any]]:
            return [item for item in snapshot._partition() if str(item["sk"]).startswith(prefix)]

        def _get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
            wanted = {(k["pk"], k["sk"]) for k in keys}
            return [item for item in snapshot._partition() if (item.get("pk"), item.get("sk")) in wanted]

    answered: _P = Answered(snapshot._client, snapshot._table, snapshot._retry)
    return answered


class ControlSwitches:
    """Readers of pauses, cool-downs and breakers (`LedgerPauses`, ... as they are) whose reads are
    answered from one Query of the control partition, made on first use: one object per batch."""

    def __init__(self, client: DynamoClient, table_name: str, retry: Retry | None = None) -> None:
        snapshot = _Snapshot(client, table_name, retry)
        self.pauses = _answered_by(snapshot, LedgerPauses)
        self.cooldowns = _answered_by(snapshot, LedgerCooldowns)
        self.breakers = _answered_by(snapshot, LedgerBreakers)
        self.fleet = _answered_by(snapshot, LedgerFleet)  # reads from the snapshot; writes as ever

    @classmethod
    def like(cls, partition: LedgerBreakers) -> ControlSwitches:
        """A snapshot of the table `partition` reads, through the same client."""
        return cls(partition._client, partition._table, partition._retry)
