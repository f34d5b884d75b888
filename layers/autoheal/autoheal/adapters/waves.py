"""Canary wave records in the ledger table (issue 18 §3): one item per (cluster, instance group, signal),
so remediate reads a bounded item per key of its batch and never scans anything.

| record | key | written by | read by |
|---|---|---|---|
| wave | `pk = WAVES`, `sk = <cluster>#<group>#<signal>` | remediate (seen nodes, an episode, a wave released or stopped), reconcile (a wave verified or stopped), `autoheal waves release/stop` | remediate (one BatchGetItem of its batch's keys), reconcile and `autoheal waves` (one Query of the partition) |

Every write is conditional on the version read (`put`): two invocations never both start an episode or
release the same wave; the loser holds its faults for a little while and decides again.
The record's fields are `autoheal.core.canary.WaveRecord`'s; node sets are maps of node key -> ISO time.
A record that watches (no episode) expires with the table's TTL a day after its last write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import ConditionFailed, DynamoClient, Retry
from autoheal.core.canary import Phase, WaveKey, WaveRecord

WAVES_PK = "WAVES"
#: A watching (or done, or released) record's item expires this long after its last write.
IDLE_TTL = timedelta(days=1)

#: The IAM actions behind each public method (see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerWaves.waves": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerWaves.put": frozenset({"dynamodb:PutItem"}),
    "LedgerWaves.all": frozenset({"dynamodb:Query"}),
}


def wave_key(key: WaveKey) -> dict[str, str]:
    return {"pk": WAVES_PK, "sk": f"{key.cluster}#{key.group}#{key.signal}"}


class LedgerWaves:
    """Canary wave records, one per (cluster, group, signal)."""

    def __init__(self, client: DynamoClient, table_name: str, retry: Retry | None = None) -> None:
        self._client = client
        self._table = table_name
        self._retry = retry or Retry()

    def waves(self, keys: Iterable[WaveKey]) -> dict[WaveKey, WaveRecord]:
        """The records of these keys (a key with none is left out), one BatchGetItem per 100."""
        wanted = sorted(set(keys), key=lambda k: k.label)
        items = dynamo.batch_get(self._client, self._table, [wave_key(k) for k in wanted], self._retry)
        records = (_record(i) for i in items)
        return {r.key: r for r in records}

    def all(self) -> list[WaveRecord]:
        """Every wave record (one Query of the partition), episodes first."""
        items = dynamo.items(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": WAVES_PK}},
            ConsistentRead=True,
        )
        return sorted((_record(i) for i in items), key=lambda r: (r.episode is None, r.key.label))

    def put(self, record: WaveRecord, now: datetime) -> bool:
        """Write `record` if nobody wrote its key since `record.version` was read; False if someone did."""
        item: dict[str, Any] = {**wave_key(record.key), **_fields(record), "version": record.version + 1}
        if record.phase in (Phase.WATCHING, Phase.DONE, Phase.RELEASED):
            item["expires_at"] = int((now + IDLE_TTL).timestamp())
        condition = "attribute_not_exists(pk)" if record.version == 0 else "version = :v"
        values = (
            {} if record.version == 0 else {"ExpressionAttributeValues": {":v": {"N": str(record.version)}}}
        )
        try:
            dynamo.call(
                self._client,
                "put_item",
                TableName=self._table,
                Item=dynamo.marshal(item),
                ConditionExpression=condition,
                **values,
            )
        except ConditionFailed:
            return False
        return True


def _times(value: Mapping[str, datetime]) -> dict[str, str]:
    return {k: v.isoformat() for k, v in value.items()}


def _fields(r: WaveRecord) -> dict[str, Any]:
    optional = {
        "episode": r.episode,
        "started_at": dynamo.iso(r.started_at),
        "wave_at": dynamo.iso(r.wave_at),
        "ended_at": dynamo.iso(r.ended_at),
    }
    return {
        "cluster": r.key.cluster,
        "group": r.key.group,
        "signal": r.key.signal,
        "phase": r.phase.value,
        "seen": _times(r.seen),
        "released": _times(r.released),
        "current": list(r.current),
        "verified": list(r.verified),
        "count": r.count,
        "wave": r.wave,
        "allowance": r.allowance,
        "reason": r.reason,
        **{k: v for k, v in optional.items() if v},
    }


def _record(item: Mapping[str, Any]) -> WaveRecord:
    def times(name: str) -> dict[str, datetime]:
        raw = item.get(name) or {}
        return {str(k): datetime.fromisoformat(str(v)) for k, v in raw.items()}

    def number(name: str) -> int:
        value = item.get(name, 0)
        return int(value) if isinstance(value, int | Decimal) else 0

    return WaveRecord(
        key=WaveKey(str(item["cluster"]), str(item["group"]), str(item["signal"])),
        version=number("version"),
        phase=Phase(str(item.get("phase", Phase.WATCHING.value))),
        seen=times("seen"),
        episode=str(item["episode"]) if item.get("episode") else None,
        started_at=dynamo.from_iso(item.get("started_at")),
        count=number("count"),
        wave=number("wave"),
        allowance=number("allowance"),
        released=times("released"),
        current=tuple(str(n) for n in item.get("current") or ()),
        wave_at=dynamo.from_iso(item.get("wave_at")),
        verified=tuple(str(n) for n in item.get("verified") or ()),
        ended_at=dynamo.from_iso(item.get("ended_at")),
        reason=str(item.get("reason", "")),
    )
