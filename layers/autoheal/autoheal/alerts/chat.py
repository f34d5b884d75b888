"""Amazon Q Developer in chat applications (formerly AWS Chatbot) custom notifications, for Slack and
Microsoft Teams channels.

The service only renders a message on a topic it is mapped to when it has this exact event format
(https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html): `version` "1.0" and
`source` "custom" are required, and so is `content.description`; `textType` may only be
"client-markdown"; `nextSteps`, `keywords` and `metadata.relatedResources` are lists of strings and
`metadata.additionalContext` maps strings to strings. Anything else is not shown, so these messages go
to their own topic (`ChatNotifications`), and the people topic keeps plain text.

The model below is that schema (unknown fields forbidden); `chat_message` builds one from a rendered
notice. A long node list is cut to `MAX_CHAT_NODES` lines (the people topic has them all).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from autoheal.alerts.render import Rendered, node_line

#: Nodes listed in one chat message; the rest are counted ("... and 12 more").
MAX_CHAT_NODES = 20
#: Our own cap on the description (a chat message is read on a phone); not a documented limit.
MAX_DESCRIPTION = 3500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ChatContent(_Strict):
    text_type: Literal["client-markdown"] = Field(default="client-markdown", alias="textType")
    title: str | None = None
    description: str = Field(min_length=1)
    next_steps: list[str] | None = Field(default=None, alias="nextSteps")
    keywords: list[str] | None = None


class ChatMetadata(_Strict):
    thread_id: str | None = Field(default=None, alias="threadId")
    summary: str | None = None
    event_type: str | None = Field(default=None, alias="eventType")
    related_resources: list[str] | None = Field(default=None, alias="relatedResources")
    additional_context: dict[str, str] | None = Field(default=None, alias="additionalContext")


class ChatNotification(_Strict):
    version: Literal["1.0"] = "1.0"
    source: Literal["custom"] = "custom"
    id: str | None = None
    content: ChatContent
    metadata: ChatMetadata | None = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


def chat_message(r: Rendered, message_id: str) -> ChatNotification:
    """The chat form of a rendered notice: a title, a short markdown description, the commands as next
    steps; one thread per cluster and kind."""
    return ChatNotification(
        id=message_id,
        content=ChatContent(
            title=f"{_icon(r.severity)} {r.cluster}: {r.title}",
            description=_description(r),
            next_steps=[f"`{c}`" for c in r.commands],
            keywords=[r.cluster, r.kind, r.severity],
        ),
        metadata=ChatMetadata(
            thread_id=f"autoheal-{r.cluster}-{r.kind}"[:128],
            summary=r.subject,
            event_type=r.kind,
            related_resources=sorted({n.instance_id for n in r.nodes if n.instance_id})[:20],
            additional_context={
                "cluster": r.cluster,
                "kind": r.kind,
                "step": r.step,
                "nodes": str(len(r.nodes)),
            },
        ),
    )


def _description(r: Rendered) -> str:
    nodes = r.nodes
    shown = [f"• {node_line(n)}" for n in nodes[:MAX_CHAT_NODES]]
    if len(nodes) > MAX_CHAT_NODES:
        shown.append(f"• … and {len(nodes) - MAX_CHAT_NODES} more (see the email or `autoheal status`)")
    text = "\n".join(
        [
            f"*What happened:* {r.data['what_happened']}",
            f"*What the service did:* {r.data['what_it_did']}",
            f"*What it needs:* {r.data['what_it_needs']}",
            *shown,
        ]
    )
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _icon(severity: str) -> str:
    return {"page": ":rotating_light:", "warning": ":warning:"}.get(severity, ":information_source:")
