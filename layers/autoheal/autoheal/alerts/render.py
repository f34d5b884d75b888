"""One renderer for every notice: a short subject, a plain-text body a person can act on, and the same
facts as JSON for machines (a trailing block of the body, plus a few SNS message attributes to filter
on).

Subject rules (SNS Publish, https://docs.aws.amazon.com/sns/latest/api/API_Publish.html): "UTF-8 text
with no line breaks or control characters, and less than 100 characters long". We keep it to printable
ASCII (email clients and pagers show it as is) and at most `MAX_SUBJECT` characters.

Body: what happened, to which nodes of which cluster, what the service did, what it needs, and the
exact `autoheal` commands; then `MACHINE_MARKER` and the JSON (`machine_data` reads it back).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from autoheal.alerts.kinds import text_for
from autoheal.alerts.steps import step_of

if TYPE_CHECKING:
    from autoheal.adapters.notify import HumanNeeded

#: SNS: "less than 100 characters".
MAX_SUBJECT = 99
MACHINE_MARKER = "--- machine-readable (JSON) ---"
SCHEMA = "hyperpod-autoheal/notice@1"
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")
#: A notice's own commands (e.g. `autoheal approve ID`), in its `details`: listed with the kind's.
COMMAND_KEYS = ("command", "commands")
#: The fields every notice has (anything else is the notice's own: see `fields_of`).
COMMON_FIELDS = frozenset(
    {"cluster", "node_key", "instance_id", "reason", "last_action", "signal", "kind", "details"}
)
MAX_COMMANDS = 8


@dataclass(frozen=True)
class Rendered:
    kind: str
    step: str
    severity: str
    cluster: str
    subject: str
    title: str
    text: str
    commands: tuple[str, ...]
    nodes: tuple[HumanNeeded, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)

    def attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes (subscription filter policies match on them)."""
        values = {
            "kind": self.kind,
            "step": self.step,
            "severity": self.severity,
            "cluster": self.cluster,
        }
        out = {k: {"DataType": "String", "StringValue": v} for k, v in values.items() if v}
        out["nodes"] = {"DataType": "Number", "StringValue": str(len(self.nodes))}
        return out


class _Values(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def render(cluster: str, kind: str, nodes: Sequence[HumanNeeded]) -> Rendered:
    """The message for `nodes` (one cluster, one kind)."""
    row = text_for(kind)
    values = _values(cluster, kind, nodes)
    title = row.title.format_map(values)
    listed = tuple(c.format_map(values) for c in row.commands) + _their_commands(nodes)
    commands = tuple(dict.fromkeys(listed))  # a notice's own command may be one of its kind's
    summary = f"hyperpod-autoheal, cluster {cluster}: {title}."
    data = {
        "schema": SCHEMA,
        "kind": kind,
        "step": step_of(kind).value,
        "severity": row.severity,
        "cluster": cluster,
        "summary": summary,
        "what_happened": row.happened.format_map(values),
        "what_it_did": row.did.format_map(values),
        "what_it_needs": row.needs.format_map(values),
        "commands": list(commands),
        "what_to_do": row.needs.format_map(values) + " " + "; ".join(f"`{c}`" for c in commands),
        "nodes": [asdict(n) for n in nodes],
    }
    return Rendered(
        kind=kind,
        step=step_of(kind).value,
        severity=row.severity,
        cluster=cluster,
        subject=subject(cluster, title),
        title=title,
        text=_text(data, nodes),
        commands=commands,
        nodes=tuple(nodes),
        data=data,
    )


def subject(cluster: str, title: str) -> str:
    """`[autoheal] <cluster>: <title>`, printable ASCII on one line, under SNS's 100 characters (a long
    cluster name is shortened first, then the title)."""
    head = "[autoheal] "
    clean_title = _one_line(title)
    clean_cluster = _one_line(cluster)
    room = MAX_SUBJECT - len(head) - 2 - len(clean_title)
    if len(clean_cluster) > max(room, 12):
        clean_cluster = clean_cluster[: max(room, 12) - 3] + "..."
    full = f"{head}{clean_cluster}: {clean_title}"
    return full if len(full) <= MAX_SUBJECT else full[: MAX_SUBJECT - 3] + "..."


def node_line(n: HumanNeeded) -> str:
    """One node as a person reads it."""
    parts = [n.reason]
    if n.last_action:
        parts.append(f"last action {n.last_action}")
    if n.signal:
        parts.append(f"signal {n.signal}")
    parts += [f"{k.replace('_', ' ')} {v}" for k, v in sorted(fields_of(n).items()) if k not in COMMAND_KEYS]
    where = f" (instance {n.instance_id})" if n.instance_id and n.instance_id != n.node_key else ""
    return f"{n.node_key}{where}: " + "; ".join(p for p in parts if p)


def fields_of(n: HumanNeeded) -> dict[str, str]:
    """A notice's structured fields: its `details`, and any field a newer notice type adds beside the
    common ones (so a kind added elsewhere renders its fields, whichever way it passes them)."""
    extra = {k: v for k, v in asdict(n).items() if k not in COMMON_FIELDS and not isinstance(v, dict)}
    out = {str(k): str(v) for k, v in {**n.details, **extra}.items() if v not in (None, "")}
    return out


def machine_data(text: str) -> dict[str, Any]:
    """The JSON block of a rendered body."""
    _, sep, tail = text.partition(MACHINE_MARKER)
    if not sep:
        raise ValueError("not a rendered notice: no machine-readable block")
    data: dict[str, Any] = json.loads(tail)
    return data


def _their_commands(nodes: Sequence[HumanNeeded]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for n in nodes:
        for key in COMMAND_KEYS:
            for command in filter(None, fields_of(n).get(key, "").split("\n")):
                seen.setdefault(" ".join(command.split()), None)
    return tuple(seen)[:MAX_COMMANDS]


def _values(cluster: str, kind: str, nodes: Sequence[HumanNeeded]) -> _Values:
    """Each detail's distinct values over the nodes, joined (`group` -> "gpu-a, gpu-b"), and the
    message's own values."""
    first = nodes[0] if nodes else None
    distinct: dict[str, dict[str, None]] = {}
    for n in nodes:
        for k, v in fields_of(n).items():
            distinct.setdefault(k, {}).setdefault(v, None)
    values = _Values({k: ", ".join(vs) for k, vs in distinct.items()})
    groups = {n.details.get("group", "") for n in nodes}
    group = groups.pop() if len(groups) == 1 else ""  # one group for all: its own flag
    values.update(
        cluster=cluster,
        n=str(len(nodes)),
        node=first.node_key if first and len(nodes) == 1 and first.node_key != "*" else "NODE",
        kind=kind,
        kind_words=kind.replace("_", " ").replace("-", " "),
        group_flag=f" --group {group}" if group else "",
    )
    values.setdefault("scope", ", ".join(dict.fromkeys(n.node_key for n in nodes)) or cluster)
    signals = ", ".join(dict.fromkeys(n.signal for n in nodes if n.signal))
    if signals:
        values.setdefault("signal", signals)  # a common field, not a detail: the templates name it too
    return values


def _text(data: Mapping[str, Any], nodes: Sequence[HumanNeeded]) -> str:
    lines = [
        str(data["summary"]),
        "",
        f"What happened: {data['what_happened']}",
        f"What the service did: {data['what_it_did']}",
        f"What it needs from you: {data['what_it_needs']}",
        "",
        f"Nodes ({len(nodes)}):",
        *(f"  - {node_line(n)}" for n in nodes),
        "",
        "Commands (add --stack STACK or --table TABLE as you usually do):",
        *(f"  {c}" for c in data["commands"]),
        "",
        MACHINE_MARKER,
        json.dumps(data, indent=2, sort_keys=True),
    ]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(_NOT_PRINTABLE.sub("?", " ".join(text.split())).split())
