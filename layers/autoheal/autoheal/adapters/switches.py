"""The kill switch: pause items in the ledger table, read by remediate at every invocation.

All switches share one partition, `pk = CONTROL`, with `sk = PAUSE#<scope>`, where scope is a cluster
name or `*` for every cluster: remediate reads the scopes it needs with one BatchGetItem, and an
operator lists them all with one Query. An
operator sets and clears them with `autoheal pause` / `autoheal resume`; no redeploy is needed. While a
scope is paused, remediate holds its faults (re-queued, never dropped) and calls nothing mutating.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

ALL_CLUSTERS = "*"
CONTROL_PK = "CONTROL"
PAUSE_PREFIX = "PAUSE#"
COOLDOWN_PREFIX = "COOLDOWN#"
BREAKER_PREFIX = "BREAKER#"
OVERRIDE_PREFIX = "OVERRIDE#"

#: The IAM actions behind each public method of `Switches` (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "Switches.paused": frozenset({"dynamodb:BatchGetItem"}),
    "Switches.all": frozenset({"dynamodb:Query"}),
    "Switches.cooldowns": frozenset({"dynamodb:BatchGetItem"}),
    "Switches.start_cooldown": frozenset({"dynamodb:PutItem"}),
    "Switches.breakers": frozenset({"dynamodb:Query"}),
    "Switches.trip": frozenset({"dynamodb:PutItem"}),
    "Switches.override_breakers": frozenset({"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:PutItem"}),
    "Switches.pause": frozenset({"dynamodb:PutItem"}),
    "Switches.resume": frozenset({"dynamodb:DeleteItem"}),
}


class SwitchClient(Protocol):
    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def delete_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def query(self, **kwargs: Any) -> dict[str, Any]: ...


class SwitchError(RuntimeError):
    """The switches could not be read or written."""


def pause_key(scope: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": CONTROL_PK}, "sk": {"S": f"{PAUSE_PREFIX}{scope}"}}


@dataclass(frozen=True)
class Pause:
    scope: str
    by: str
    reason: str
    at: datetime


class Switches:
    def __init__(self, client: SwitchClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def paused(self, clusters: Iterable[str]) -> dict[str, Pause]:
        """The pauses in force for these clusters (and the global one), keyed by scope."""
        scopes = sorted({ALL_CLUSTERS, *clusters})
        pauses = (_pause(item) for item in self._get([pause_key(s) for s in scopes]))
        return {p.scope: p for p in pauses}

    def all(self) -> dict[str, Pause]:
        """Every pause in force, keyed by scope (one Query on the control partition)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": CONTROL_PK}, ":prefix": {"S": PAUSE_PREFIX}},
            "ConsistentRead": True,
        }
        found: dict[str, Pause] = {}
        while True:
            try:
                response = self._client.query(**kwargs)
            except ClientError as exc:
                raise SwitchError(f"listing pause switches failed: {_code(exc)}") from exc
            for item in response.get("Items", []):
                pause = _pause(item)
                found[pause.scope] = pause
            if "LastEvaluatedKey" not in response:
                return found
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def cooldowns(self, groups: Iterable[tuple[str, str]], now: datetime) -> dict[tuple[str, str], Cooldown]:
        """The capacity cool-downs still running for these (cluster, group) pairs."""
        found: dict[tuple[str, str], Cooldown] = {}
        for item in self._get([cooldown_key(c, g) for c, g in sorted(set(groups))]):
            cooldown = Cooldown(
                cluster=item["cluster"]["S"],
                group=item["group"]["S"],
                until=datetime.fromisoformat(item["until"]["S"]),
                reason=item.get("reason", {}).get("S", ""),
                node=item.get("node", {}).get("S", ""),
            )
            if cooldown.until > now:
                found[(cooldown.cluster, cooldown.group)] = cooldown
        return found

    def start_cooldown(self, cooldown: Cooldown) -> None:
        item = {
            **cooldown_key(cooldown.cluster, cooldown.group),
            "cluster": {"S": cooldown.cluster},
            "group": {"S": cooldown.group},
            "until": {"S": cooldown.until.astimezone(UTC).isoformat()},
            "reason": {"S": cooldown.reason[:1024]},
            "node": {"S": cooldown.node},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise SwitchError(f"starting a capacity cool-down failed: {_code(exc)}") from exc

    def breakers(self, now: datetime) -> BreakerState:
        """Breakers still tripped, and operator overrides still in force (one Query)."""
        tripped: dict[str, datetime] = {}
        overrides: dict[str, datetime] = {}
        for item in self._control_items():
            sk, until = item["sk"]["S"], item.get("until", {}).get("S")
            if until is None or datetime.fromisoformat(until) <= now:
                continue
            if sk.startswith(BREAKER_PREFIX):
                tripped[sk[len(BREAKER_PREFIX) :]] = datetime.fromisoformat(until)
            elif sk.startswith(OVERRIDE_PREFIX):
                overrides[sk[len(OVERRIDE_PREFIX) :]] = datetime.fromisoformat(until)
        return BreakerState(tripped, overrides)

    def trip(self, label: str, until: datetime, count: int, allowed: int) -> None:
        """Record a tripped breaker for the scope `cluster/group` (or `cluster/*`)."""
        self._put(
            {
                "pk": {"S": CONTROL_PK},
                "sk": {"S": f"{BREAKER_PREFIX}{label}"},
                "until": {"S": until.astimezone(UTC).isoformat()},
                "count": {"N": str(count)},
                "allowed": {"N": str(allowed)},
            }
        )

    def override_breakers(self, cluster: str, until: datetime) -> int:
        """An operator's resume: clear the cluster's tripped breakers and keep them from tripping
        again until `until`. Returns how many were cleared."""
        cleared = 0
        for item in self._control_items():
            sk = item["sk"]["S"]
            if sk.startswith(f"{BREAKER_PREFIX}{cluster}/") or (
                cluster == ALL_CLUSTERS and sk.startswith(BREAKER_PREFIX)
            ):
                self._client.delete_item(
                    TableName=self._table, Key={"pk": {"S": CONTROL_PK}, "sk": {"S": sk}}
                )
                cleared += 1
        self._put(
            {
                "pk": {"S": CONTROL_PK},
                "sk": {"S": f"{OVERRIDE_PREFIX}{cluster}"},
                "until": {"S": until.astimezone(UTC).isoformat()},
            }
        )
        return cleared

    def _control_items(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": CONTROL_PK}},
            "ConsistentRead": True,
        }
        items: list[dict[str, Any]] = []
        while True:
            try:
                response = self._client.query(**kwargs)
            except ClientError as exc:
                raise SwitchError(f"reading switches failed: {_code(exc)}") from exc
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _put(self, item: dict[str, Any]) -> None:
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise SwitchError(f"writing a switch failed: {_code(exc)}") from exc

    def _get(self, keys: list[dict[str, dict[str, str]]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while request:
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    raise SwitchError(f"reading switches failed: {_code(exc)}") from exc
                out.extend(response.get("Responses", {}).get(self._table, []))
                request = response.get("UnprocessedKeys") or {}
        return out

    def pause(self, scope: str, by: str, reason: str, now: datetime | None = None) -> Pause:
        at = (now or datetime.now(UTC)).astimezone(UTC)
        item = {
            **pause_key(scope),
            "scope": {"S": scope},
            "by": {"S": by},
            "reason": {"S": reason},
            "at": {"S": at.isoformat()},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            raise SwitchError(f"setting the pause failed: {_code(exc)}") from exc
        return Pause(scope, by, reason, at)

    def resume(self, scope: str) -> bool:
        """Clear a pause; False when there was none."""
        try:
            response = self._client.delete_item(
                TableName=self._table,
                Key=pause_key(scope),
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            raise SwitchError(f"clearing the pause failed: {_code(exc)}") from exc
        return bool(response.get("Attributes"))


@dataclass(frozen=True)
class Cooldown:
    """No replace in (cluster, group) until `until`: its last replacement found no capacity."""

    cluster: str
    group: str
    until: datetime
    reason: str
    node: str


def cooldown_key(cluster: str, group: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": CONTROL_PK}, "sk": {"S": f"{COOLDOWN_PREFIX}{cluster}#{group}"}}


@dataclass(frozen=True)
class BreakerState:
    """Tripped breakers (scope label -> until) and operator overrides (cluster -> until)."""

    tripped: dict[str, datetime]
    overrides: dict[str, datetime]


def covering(pauses: dict[str, Pause], cluster: str) -> Pause | None:
    """The pause that stops `cluster`, if any (its own, else the global one)."""
    return pauses.get(cluster) or pauses.get(ALL_CLUSTERS)


def _pause(item: dict[str, Any]) -> Pause:
    return Pause(
        scope=item["scope"]["S"],
        by=item.get("by", {}).get("S", ""),
        reason=item.get("reason", {}).get("S", ""),
        at=datetime.fromisoformat(item["at"]["S"]),
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))
