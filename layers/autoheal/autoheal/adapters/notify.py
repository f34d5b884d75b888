"""Tell people: SNS messages for nodes the service stopped acting on, and the step notifications an
operator switched on (started, healed, stuck; see `autoheal.alerts.steps`).

One message per cluster and notice kind per invocation (a storm must not become a hundred emails),
split when it would exceed SNS's message size. Each is rendered by `autoheal.alerts.render` (subject,
plain-text body with the structured JSON as a trailing block, message attributes); when a chat topic is
configured, the same notice goes there too as an Amazon Q Developer custom notification
(`autoheal.alerts.chat`). The people topic is the record: a chat publish that fails is logged and not
retried (the people message went out).

A node's notice is first written in its state item with the outcome that needs a human
(`notify_pending`, JSON from `notice`), then published, then cleared: if the publish fails, reconcile
finds the notice on the open index and sends it again (`pending_notice` reads it back).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from autoheal.alerts.steps import DEFAULT_STEPS, NotifyStep, step_of
from autoheal.observability import logger

if TYPE_CHECKING:  # rendering (and the chat models) load with the first notice, not at cold start
    from autoheal.alerts.render import Rendered

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
    """One node's notice. `kind` picks its row in the renderer's table (`autoheal.alerts.kinds`; a kind
    without a row is rendered generically) and its switch (`autoheal.alerts.steps`); `details` are the
    notice's structured fields (strings), listed per node and used by the kind's templates."""

    cluster: str
    node_key: str
    instance_id: str | None
    reason: str
    last_action: str | None
    signal: str | None
    kind: str = "needs_human"
    details: dict[str, str] = field(default_factory=dict)
    evidence_uri: str | None = None  # the evidence bundle captured before the last destructive call

    @staticmethod
    def from_dict(raw: Mapping[str, Any]) -> HumanNeeded:
        """From its JSON form; a field this version does not know is kept in `details`."""
        known = {f.name for f in fields(HumanNeeded)}
        extra = {k: str(v) for k, v in raw.items() if k not in known and v is not None}
        values = {k: v for k, v in raw.items() if k in known}
        details = {str(k): str(v) for k, v in (values.pop("details", None) or {}).items()}
        return HumanNeeded(**values, details={**details, **extra})


#: A notice of any kind (the name `HumanNeeded` predates the step notifications).
NodeNotice = HumanNeeded


def notice(node: HumanNeeded, at: datetime) -> str:
    """The notice as stored in the node's state item until it is published."""
    return json.dumps({"at": at.isoformat(), "node": asdict(node)}, sort_keys=True)


def pending_notice(stored: str) -> tuple[HumanNeeded, datetime]:
    """A stored notice and when it was written."""
    raw = json.loads(stored)
    return HumanNeeded.from_dict(raw["node"]), datetime.fromisoformat(raw["at"])


class Notifier:
    def __init__(
        self,
        client: SnsClient | None,
        topic_arn: str,
        chat_topic_arn: str = "",
        steps: Iterable[NotifyStep] = DEFAULT_STEPS,
    ) -> None:
        self._client = client
        self._topic = topic_arn
        self._chat = chat_topic_arn
        self._steps = frozenset(steps)

    @property
    def enabled(self) -> bool:
        return bool(self._client and self._topic)

    @property
    def steps(self) -> frozenset[NotifyStep]:
        """The steps told: those switched on (`NotifySteps`), none without a topic."""
        return self._steps if self.enabled else frozenset()

    def needs_human(self, nodes: Sequence[HumanNeeded]) -> int:
        """Publish the notices, one message per cluster and kind (split when large); returns the number
        of messages sent, or settled without sending because their step is switched off (a caller
        clears their pending notices either way). 0 when no topic is configured."""
        if not nodes or not self.enabled:
            return 0
        groups: dict[tuple[str, str], list[HumanNeeded]] = {}
        for node in nodes:
            groups.setdefault((node.cluster, node.kind), []).append(node)
        from autoheal.alerts.render import render

        sent = 0
        for (cluster, kind), members in groups.items():
            if step_of(kind) not in self._steps:
                logger.info(
                    "notice not sent: its step is switched off (NotifySteps)",
                    extra={"cluster": cluster, "kind": kind, "nodes": len(members)},
                )
                sent += 1
                continue
            for part in _split(members):
                self._publish(render(cluster, kind, part))
                sent += 1
        return sent

    def _publish(self, message: Rendered) -> None:
        assert self._client is not None
        try:
            self._client.publish(
                TopicArn=self._topic,
                Subject=message.subject,
                Message=message.text,
                MessageAttributes=message.attributes(),
            )
        except ClientError as exc:
            raise NotifyError(f"SNS publish failed: {exc.response.get('Error', {}).get('Code')}") from exc
        if self._chat:
            self._publish_chat(message)

    def _publish_chat(self, message: Rendered) -> None:
        from autoheal.alerts.chat import chat_message

        assert self._client is not None
        chat = chat_message(message, uuid.uuid4().hex)
        try:
            self._client.publish(
                TopicArn=self._chat,
                Message=json.dumps(chat.dump()),
                MessageAttributes=message.attributes(),
            )
        except ClientError:  # the people topic has the message: logged, not retried
            logger.exception("chat notification not published", extra={"cluster": message.cluster})


def _split(nodes: list[HumanNeeded]) -> list[list[HumanNeeded]]:
    """Parts whose rendered body (each node's line and its JSON) stays under `MAX_MESSAGE_BYTES`."""
    from autoheal.alerts.render import node_line

    parts: list[list[HumanNeeded]] = [[]]
    size = 0
    for node in nodes:
        n = len(json.dumps(asdict(node), indent=2).encode()) + len(node_line(node).encode()) + 16
        if parts[-1] and size + n > MAX_MESSAGE_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(node)
        size += n
    return parts
