"""Control records in the ledger table: pauses, circuit breakers (and operators' overrides of them),
and capacity cool-downs, read by remediate at every batch and set by it or by an operator.

All control records share one partition, `pk = CONTROL`, so every kind can still be answered by
one Query of it:

| record | sk | written by | read by |
|---|---|---|---|
| pause | `PAUSE#<scope>` (a cluster name, or `*` for every cluster) | `autoheal pause` / `resume` | remediate (BatchGetItem of the scopes it needs), `autoheal status` |
| breaker | `BREAKER#<cluster>/<group or *>` | remediate, when too many nodes of a scope fail | remediate (one Query of the partition) |
| override | `OVERRIDE#<cluster or *>[/<group>]` | `autoheal breaker reset`: clears the breakers, holds them off until `until`; records who, when, why | remediate (same Query), `autoheal status` |
| cool-down | `COOLDOWN#<cluster>#<group>` | remediate, when a replacement found no capacity | remediate (BatchGetItem), `autoheal status` (Query) |
| notice | `NOTICE#<cluster>#<error code>` | remediate, when it tells a human a cluster cannot be read | remediate (the conditional put itself) |

A pause is written only if there is none for its scope (a second `pause` keeps the first one's
record) unless forced.

Every record keys its cluster by NAME (`NodeDirectory.canonical`). A pause written under a cluster's
ARN (older CLIs did that) still holds the cluster: remediate reads both keys, so no pause lifts
because its key changed. Breakers, overrides and cool-downs expire on their own, so one keyed by an
ARN simply runs out.

No redeploy is needed to pause or resume. While a scope is paused, remediate holds its faults
(re-queued, never dropped) and calls nothing mutating.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autoheal.adapters import dynamo
from autoheal.adapters.dynamo import ConditionFailed, DynamoClient, Retry

ALL_CLUSTERS = "*"
CONTROL_PK = "CONTROL"
PAUSE_PREFIX = "PAUSE#"
COOLDOWN_PREFIX = "COOLDOWN#"
BREAKER_PREFIX = "BREAKER#"
OVERRIDE_PREFIX = "OVERRIDE#"
NOTICE_PREFIX = "NOTICE#"

#: The IAM actions behind each public method (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "LedgerPauses.paused": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerPauses.all": frozenset({"dynamodb:Query"}),
    "LedgerPauses.pause": frozenset({"dynamodb:PutItem", "dynamodb:BatchGetItem"}),
    "LedgerPauses.resume": frozenset({"dynamodb:DeleteItem"}),
    "LedgerBreakers.breakers": frozenset({"dynamodb:Query"}),
    "LedgerBreakers.records": frozenset({"dynamodb:Query"}),
    "LedgerBreakers.trip": frozenset({"dynamodb:PutItem"}),
    "LedgerBreakers.override_breakers": frozenset(
        {"dynamodb:Query", "dynamodb:DeleteItem", "dynamodb:PutItem"}
    ),
    "LedgerCooldowns.cooldowns": frozenset({"dynamodb:BatchGetItem"}),
    "LedgerCooldowns.start_cooldown": frozenset({"dynamodb:PutItem"}),
    "LedgerCooldowns.all": frozenset({"dynamodb:Query"}),
    "LedgerNotices.first_notice": frozenset({"dynamodb:PutItem"}),
}


@dataclass(frozen=True)
class Pause:
    scope: str
    by: str
    reason: str
    at: datetime


class AlreadyPaused(Exception):
    """`pause` found a pause in force for the scope and was not told to replace it."""

    def __init__(self, pause: Pause) -> None:
        super().__init__(f"already paused: {pause.scope}")
        self.pause = pause


@dataclass(frozen=True)
class BreakerState:
    """Tripped breakers (scope label -> until) and operator overrides (`cluster`, `cluster/group` or
    `*` -> until)."""

    tripped: dict[str, datetime]
    overrides: dict[str, datetime]

    def overridden(self, label: str) -> bool:
        """Whether an operator's override lets the breaker `label` (`cluster/group` or `cluster/*`)
        through."""
        return any(covers(scope, label) for scope in self.overrides)


def covers(scope: str, label: str) -> bool:
    """Whether an override (or reset) of `scope` covers the breaker `label`: a scope `cluster/group`
    covers that group's breaker only (the cluster-wide one counts every group), a cluster every breaker
    of the cluster, `*` every breaker."""
    if scope == ALL_CLUSTERS:
        return True
    if "/" in scope:
        return label == scope
    return label.startswith(f"{scope}/")


@dataclass(frozen=True)
class Breaker:
    """A tripped breaker as recorded: how many nodes were under remediation, how many allowed."""

    label: str  # cluster/group, or cluster/*
    until: datetime
    count: int
    allowed: int


@dataclass(frozen=True)
class Override:
    """An operator's breaker override: `scope` is a cluster, `cluster/group`, or `*`."""

    scope: str
    until: datetime
    by: str
    reason: str
    at: datetime | None


@dataclass(frozen=True)
class Cooldown:
    """No replace in (cluster, group) until `until`: its last replacement found no capacity."""

    cluster: str
    group: str
    until: datetime
    reason: str
    node: str


def control_key(sk: str) -> dict[str, str]:
    return {"pk": CONTROL_PK, "sk": sk}


def override_item(sk: str, until: datetime, by: str, reason: str, now: datetime | None) -> dict[str, Any]:
    """An operator's breaker override (a cluster's, a group's or the fleet's): until when, who, why, when."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        **control_key(sk),
        "until": dynamo.iso(until),
        "by": by,
        "reason": reason[:1024],
        "at": dynamo.iso(at),
    }


def pause_key(scope: str) -> dict[str, str]:
    return control_key(f"{PAUSE_PREFIX}{scope}")


def cooldown_key(cluster: str, group: str) -> dict[str, str]:
    return control_key(f"{COOLDOWN_PREFIX}{cluster}#{group}")


def covering(pauses: dict[str, Pause], cluster: str, arn: str | None = None) -> Pause | None:
    """The pause that stops `cluster`, if any: its own (under its name, or under its ARN as older
    CLIs wrote it), else the global one."""
    return pauses.get(cluster) or (pauses.get(arn) if arn else None) or pauses.get(ALL_CLUSTERS)


class _ControlPartition:
    """Reads and writes of the `CONTROL` partition, shared by the three record kinds."""

    def __init__(self, client: DynamoClient, table_name: str, retry: Retry | None = None) -> None:
        self._client = client
        self._table = table_name
        self._retry = retry or Retry()

    def _query(self, prefix: str = "") -> list[dict[str, Any]]:
        """The partition's items (those whose sk starts with `prefix`), strongly consistent."""
        condition, values = "pk = :pk", {":pk": {"S": CONTROL_PK}}
        if prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": prefix}
        return list(
            dynamo.items(
                self._client,
                "query",
                TableName=self._table,
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=True,
            )
        )

    def _get(self, keys: list[dict[str, str]]) -> list[dict[str, Any]]:
        return dynamo.batch_get(self._client, self._table, keys, self._retry)

    def _put(self, item: Mapping[str, Any], **kwargs: Any) -> None:
        dynamo.call(self._client, "put_item", TableName=self._table, Item=dynamo.marshal(item), **kwargs)

    def _delete(self, key: Mapping[str, str], **kwargs: Any) -> dict[str, Any]:
        return dynamo.call(
            self._client, "delete_item", TableName=self._table, Key=dynamo.marshal(key), **kwargs
        )


class LedgerPauses(_ControlPartition):
    """The kill switch: pauses per cluster, or for every cluster (`*`)."""

    def paused(self, clusters: Iterable[str]) -> dict[str, Pause]:
        """The pauses in force for these clusters (and the global one), keyed by scope."""
        scopes = sorted({ALL_CLUSTERS, *clusters})
        pauses = (_pause(item) for item in self._get([pause_key(s) for s in scopes]))
        return {p.scope: p for p in pauses}

    def all(self) -> dict[str, Pause]:
        """Every pause in force, keyed by scope (one Query on the control partition)."""
        pauses = (_pause(item) for item in self._query(PAUSE_PREFIX))
        return {p.scope: p for p in pauses}

    def pause(
        self, scope: str, by: str, reason: str, now: datetime | None = None, *, force: bool = False
    ) -> Pause:
        """Set a pause. A pause already in force for the scope is kept (raises `AlreadyPaused` with
        it) unless `force`, which replaces its record (who, when, why)."""
        at = (now or datetime.now(UTC)).astimezone(UTC)
        item = {**pause_key(scope), "scope": scope, "by": by, "reason": reason, "at": at.isoformat()}
        try:
            self._put(item, **({} if force else {"ConditionExpression": "attribute_not_exists(pk)"}))
        except ConditionFailed as exc:
            existing = self.paused([scope]).get(scope)
            if existing is None:  # resumed in between: try once more
                return self.pause(scope, by, reason, now, force=force)
            raise AlreadyPaused(existing) from exc
        return Pause(scope, by, reason, at)

    def resume(self, scope: str) -> bool:
        """Clear a pause; False when there was none."""
        return bool(self._delete(pause_key(scope), ReturnValues="ALL_OLD").get("Attributes"))


class LedgerBreakers(_ControlPartition):
    """Circuit breakers tripped per `cluster/group` (or `cluster/*`), and operators' overrides."""

    def breakers(self, now: datetime) -> BreakerState:
        """The breakers still tripped, and operator overrides still in force (one Query)."""
        tripped: dict[str, datetime] = {}
        overrides: dict[str, datetime] = {}
        for item in self._query():
            sk, until = str(item["sk"]), dynamo.from_iso(item.get("until"))
            if until is None or until <= now:
                continue
            if sk.startswith(BREAKER_PREFIX):
                tripped[sk.removeprefix(BREAKER_PREFIX)] = until
            elif sk.startswith(OVERRIDE_PREFIX):
                overrides[sk.removeprefix(OVERRIDE_PREFIX)] = until
        return BreakerState(tripped, overrides)

    def trip(self, label: str, until: datetime, count: int, allowed: int) -> None:
        """Record a tripped breaker for the scope `cluster/group` (or `cluster/*`)."""
        self._put(
            {
                **control_key(f"{BREAKER_PREFIX}{label}"),
                "until": dynamo.iso(until),
                "count": count,
                "allowed": allowed,
            }
        )

    def records(self, now: datetime) -> tuple[list[Breaker], list[Override]]:
        """The breakers still tripped and the overrides still in force, with what they recorded."""
        tripped: list[Breaker] = []
        overrides: list[Override] = []
        for item in self._query():
            sk, until = str(item["sk"]), dynamo.from_iso(item.get("until"))
            if until is None or until <= now:
                continue
            if sk.startswith(BREAKER_PREFIX):
                label = sk.removeprefix(BREAKER_PREFIX)
                tripped.append(Breaker(label, until, int(item.get("count", 0)), int(item.get("allowed", 0))))
            elif sk.startswith(OVERRIDE_PREFIX):
                overrides.append(
                    Override(
                        scope=sk.removeprefix(OVERRIDE_PREFIX),
                        until=until,
                        by=str(item.get("by", "")),
                        reason=str(item.get("reason", "")),
                        at=dynamo.from_iso(item.get("at")),
                    )
                )
        return tripped, overrides

    def override_breakers(
        self,
        cluster: str,
        until: datetime,
        *,
        group: str | None = None,
        by: str = "",
        reason: str = "",
        now: datetime | None = None,
    ) -> int:
        """An operator's breaker reset: clear the tripped breakers of the cluster (of one of its
        instance groups with `group`; of every cluster with `*`) and keep them from tripping again
        until `until`, recording who did it, when and why. Returns how many were cleared."""
        scope = f"{cluster}/{group}" if group else cluster
        cleared = 0
        for item in self._query(BREAKER_PREFIX):
            label = str(item["sk"]).removeprefix(BREAKER_PREFIX)
            if covers(scope, label):
                self._delete(control_key(f"{BREAKER_PREFIX}{label}"))
                cleared += 1
        self._put(override_item(f"{OVERRIDE_PREFIX}{scope}", until, by, reason, now))
        return cleared


class LedgerCooldowns(_ControlPartition):
    """Capacity cool-downs per (cluster, instance group)."""

    def cooldowns(self, groups: Iterable[tuple[str, str]], now: datetime) -> dict[tuple[str, str], Cooldown]:
        """The capacity cool-downs still running for these (cluster, group) pairs."""
        found: dict[tuple[str, str], Cooldown] = {}
        for item in self._get([cooldown_key(c, g) for c, g in sorted(set(groups))]):
            cooldown = _cooldown(item)
            if cooldown.until > now:
                found[(cooldown.cluster, cooldown.group)] = cooldown
        return found

    def all(self, now: datetime) -> list[Cooldown]:
        """Every capacity cool-down still running (one Query of the control partition)."""
        found = (_cooldown(item) for item in self._query(COOLDOWN_PREFIX))
        return sorted((c for c in found if c.until > now), key=lambda c: (c.cluster, c.group))

    def start_cooldown(self, cooldown: Cooldown) -> None:
        self._put(
            {
                **cooldown_key(cooldown.cluster, cooldown.group),
                "cluster": cooldown.cluster,
                "group": cooldown.group,
                "until": dynamo.iso(cooldown.until),
                "reason": cooldown.reason[:1024],
                "node": cooldown.node,
            }
        )


class LedgerNotices(_ControlPartition):
    """Rate limits for notifications: one record per subject (e.g. `cluster#AccessDeniedException`)
    with an expiry, so a condition seen by every invocation is told to a human once per period."""

    def first_notice(self, subject: str, now: datetime, every: timedelta) -> bool:
        """True when nothing was told about `subject` within `every`: this call records the notice
        (a conditional put, so concurrent invocations agree on one sender) and the caller sends it."""
        try:
            self._put(
                {
                    **control_key(f"{NOTICE_PREFIX}{subject}"),
                    "until": dynamo.iso(now + every),
                    "expires_at": int((now + every).timestamp()),  # the table's TTL: a spent record goes
                },
                ConditionExpression="attribute_not_exists(pk) OR #until <= :now",
                ExpressionAttributeNames={"#until": "until"},
                ExpressionAttributeValues=dynamo.marshal({":now": dynamo.iso(now)}),
            )
        except dynamo.ConditionFailed:
            return False
        return True


def _pause(item: Mapping[str, Any]) -> Pause:
    return Pause(
        scope=str(item["scope"]),
        by=str(item.get("by", "")),
        reason=str(item.get("reason", "")),
        at=datetime.fromisoformat(str(item["at"])),
    )


def _cooldown(item: Mapping[str, Any]) -> Cooldown:
    return Cooldown(
        cluster=str(item["cluster"]),
        group=str(item["group"]),
        until=datetime.fromisoformat(str(item["until"])),
        reason=str(item.get("reason", "")),
        node=str(item.get("node", "")),
    )
