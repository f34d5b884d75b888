"""Tell a human: SNS messages for nodes the service stopped acting on.

One message per cluster per invocation (a storm must not become a hundred emails), split when it would
exceed SNS's message size.

A node's notice is first written in its state item with the outcome that needs a human
(`notify_pending`, JSON from `notice`), then published, then cleared: if the publish fails, reconcile
finds the notice on the open index and sends it again (`pending_notice` reads it back).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

#: SNS allows 256 KiB; stay well below it so subject, attributes and JSON escaping fit.
MAX_MESSAGE_BYTES = 200_000

#: The IAM actions behind each public method of `Notifier` (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "Notifier.needs_human": frozenset({"sns:Publish"}),
}


class SnsClient(Protocol):
    def publish(self, **kwargs: Any) -> dict[str, Any]: ...


class NotifyError(RuntimeError):
    """SNS refused the notification."""


@dataclass(frozen=True)
class HumanNeeded:
    cluster: str
    node_key: str
    instance_id: str | None
    reason: str
    last_action: str | None
    signal: str | None
    kind: str = "needs_human"  # what the notice is about: needs_human, approval_pending, ...
    details: Mapping[str, Any] | None = None  # the kind's structured fields (e.g. an approval's ID, deadline)
    evidence_uri: str | None = None  # the evidence bundle captured before the last destructive call


def notice(node: HumanNeeded, at: datetime) -> str:
    """The notice as stored in the node's state item until it is published."""
    return json.dumps({"at": at.isoformat(), "node": asdict(node)}, sort_keys=True)


def pending_notice(stored: str) -> tuple[HumanNeeded, datetime]:
    """A stored notice and when it was written."""
    raw = json.loads(stored)
    return HumanNeeded(**raw["node"]), datetime.fromisoformat(raw["at"])


class Notifier:
    def __init__(self, client: SnsClient | None, topic_arn: str) -> None:
        self._client = client
        self._topic = topic_arn

    @property
    def enabled(self) -> bool:
        return bool(self._client and self._topic)

    def needs_human(self, nodes: Sequence[HumanNeeded]) -> int:
        """Publish the nodes, grouped per cluster; returns the number of messages sent."""
        if not nodes or not self.enabled:
            return 0
        by_cluster: dict[str, list[HumanNeeded]] = {}
        for node in nodes:
            by_cluster.setdefault(node.cluster, []).append(node)
        sent = 0
        for cluster, members in by_cluster.items():
            for part in _split(members):
                self._publish(cluster, part)
                sent += 1
        return sent

    def _publish(self, cluster: str, nodes: list[HumanNeeded]) -> None:
        assert self._client is not None
        body = {
            "summary": f"hyperpod-autoheal stopped acting on {len(nodes)} node(s) of cluster {cluster}",
            "what_to_do": (
                "Inspect each node (`autoheal history NODE --cluster CLUSTER`), fix or replace it by hand, "
                "then hand it back to automation with `autoheal release NODE --cluster CLUSTER --reason TEXT`. "
                "A circuit breaker holds faults until it expires or `autoheal breaker reset --cluster CLUSTER` "
                "overrides it; `autoheal status --cluster CLUSTER` shows every hold."
            ),
            "nodes": [asdict(n) for n in nodes],
        }
        try:
            self._client.publish(
                TopicArn=self._topic,
                Subject=f"[autoheal] {cluster}: {len(nodes)} node(s) need a human"[:100],
                Message=json.dumps(body, indent=2),
                MessageAttributes={"cluster": {"DataType": "String", "StringValue": cluster}},
            )
        except ClientError as exc:
            raise NotifyError(f"SNS publish failed: {exc.response.get('Error', {}).get('Code')}") from exc


def _split(nodes: list[HumanNeeded]) -> list[list[HumanNeeded]]:
    parts: list[list[HumanNeeded]] = [[]]
    size = 0
    for node in nodes:
        n = len(json.dumps(asdict(node))) + 8
        if parts[-1] and size + n > MAX_MESSAGE_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(node)
        size += n
    return parts
