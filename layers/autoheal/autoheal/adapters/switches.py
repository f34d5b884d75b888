"""The kill switch: pause items in the ledger table, read by remediate at every invocation.

`pk = CONTROL#<scope>`, `sk = PAUSE`, where scope is a cluster name or `*` for every cluster. An
operator sets and clears them with `autoheal pause` / `autoheal resume`; no redeploy is needed. While a
scope is paused, remediate holds its faults (re-queued, never dropped) and calls nothing mutating.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

ALL_CLUSTERS = "*"
PAUSE_SK = "PAUSE"


class SwitchClient(Protocol):
    def batch_get_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def put_item(self, **kwargs: Any) -> dict[str, Any]: ...
    def delete_item(self, **kwargs: Any) -> dict[str, Any]: ...


class SwitchError(RuntimeError):
    """The switches could not be read or written."""


def switch_pk(scope: str) -> str:
    return f"CONTROL#{scope}"


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
        keys = [{"pk": {"S": switch_pk(s)}, "sk": {"S": PAUSE_SK}} for s in scopes]
        found: dict[str, Pause] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._table: {"Keys": keys[start : start + 100], "ConsistentRead": True}
            }
            while request:
                try:
                    response = self._client.batch_get_item(RequestItems=request)
                except ClientError as exc:
                    raise SwitchError(f"reading pause switches failed: {_code(exc)}") from exc
                for item in response.get("Responses", {}).get(self._table, []):
                    pause = _pause(item)
                    found[pause.scope] = pause
                request = response.get("UnprocessedKeys") or {}
        return found

    def pause(self, scope: str, by: str, reason: str, now: datetime | None = None) -> Pause:
        at = (now or datetime.now(UTC)).astimezone(UTC)
        item = {
            "pk": {"S": switch_pk(scope)},
            "sk": {"S": PAUSE_SK},
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
                Key={"pk": {"S": switch_pk(scope)}, "sk": {"S": PAUSE_SK}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            raise SwitchError(f"clearing the pause failed: {_code(exc)}") from exc
        return bool(response.get("Attributes"))


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
