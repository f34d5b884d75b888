"""`autoheal plan EVENTS.json` / `autoheal plan --cluster C`: what the service would do. Nothing mutating is called.

With EVENTS.json, the events go through intake's `normalise` and their faults are handed to remediate's
`plan()` exactly as the queue would deliver them. With `--cluster C` and no file, the faults are the
ledger's own: the pending fault of every open or held node of C, decided now against the cluster's
current node states. Either way remediate's own wiring (`build_deps`) runs over clients that refuse
anything but reads (ListClusterNodes, DescribeCluster, ledger and switch reads).

Each node line names the rule that chose its rung (`table: XidError:79 → replace (...)`, `override:
XidError:64=replace`, `default: reboot ...`, `ladder: fault_recurred`) and ends with the verdict that
counts -- `act: reboot`, `held: breaker ml2/workers`, `deferred: HyperPod is repairing`, `ignored: stale
event`, `ignored: application fault` -- so a decision a guard holds back never reads as an action; the
summary counts the nodes by verdict and the held ones by reason, then the Batch*
requests executing the plan would make (before claims and per-entry results).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from autoheal.adapters.control import LedgerPauses
from autoheal.adapters.directory import ClusterNotFound, NodeDirectory
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal.adapters.sagemaker import OPERATIONS
from autoheal.core.guards import GuardKind
from autoheal.core.ladder import DecisionKind
from autoheal.core.planner import BatchRequest
from autoheal.core.state import NodeState
from autoheal.faults import NodeFault
from autoheal.intake.normalise import normalise
from autoheal.intake.result import Intake
from autoheal.intake.wiring import rule_config
from autoheal.policy import Guards
from autoheal.remediate.service import BatchPlan, NodePlan, plan
from autoheal.remediate.wiring import build_deps
from autoheal.settings import Settings
from autoheal_cli import ids
from autoheal_cli.aws import read_only
from autoheal_cli.commands.command import Command, first_paragraph
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import pause_json, pause_line
from autoheal_cli.errors import EXIT_NOT_FOUND, CliError
from autoheal_cli.events import intake_json, load_events, nodes_text, refreshed, result_text
from autoheal_cli.render import Output, table

EVENT_HEADERS = ("#", "event id", "detail type", "intake", "nodes")
NODE_HEADERS = ("cluster", "node", "instance", "faults", "step", "ladder", "rule", "verdict")
REQUEST_HEADERS = ("cluster", "operation", "id kind", "ids")
WAITING_HEADERS = ("node", "instance", "status", "last action", "waiting for")

#: A hold's name (the part of `Hold.detail` before ':') in words; unknown names read as themselves.
HOLD_WORDS = {
    "paused": "paused",
    "breaker": "breaker",
    "capacity_cooldown": "capacity cool-down",
    "node_cooldown": "node cool-down",
    "canary": "canary wave",
}
#: Open statuses whose node waits on something else than a decision (any other open status with a
#: pending fault -- a retry, a held fault -- is decided now), and what it waits for.
WAITING_STATUSES = {
    "claimed": "the claim to settle (an action is being sent)",
    "sending": "the outcome of the call being sent",
    "in_progress": "reconcile to verify the action",
    "needs_human": "a human (the node was handed over)",
}
#: Verdict kinds, in the order the summary lists them.
KINDS = ("act", "dry_run", "held", "deferred", "ignored", "needs_human")


@dataclass(frozen=True)
class Verdict:
    """What happens to one node's faults once every guard and hold has had its say (the order of
    remediate's `claim` stage): `kind` one of KINDS, `reason` the machine name, `text` for people."""

    kind: str
    reason: str
    text: str


def verdict(p: NodePlan, guards: Guards) -> Verdict:
    """The verdict that counts for this node plan: a hold, then a guard, then the ladder."""
    if p.hold is not None:
        return Verdict("held", p.hold.detail, f"held: {hold_text(p.hold.detail)}")
    if p.guard is not None and p.guard.kind is GuardKind.IGNORE:
        if p.guard.reason == "deferred_to_hyperpod":
            return Verdict("deferred", p.guard.reason, "deferred: HyperPod is repairing")
        return Verdict("ignored", p.guard.reason, f"ignored: {guard_text(p.guard.reason, guards)}")
    if p.decision.kind is DecisionKind.IGNORE:
        reason = p.decision.reason.value
        return Verdict("ignored", reason, f"ignored: {words(reason)}")
    human = p.guard is not None or p.decision.kind is DecisionKind.NEEDS_HUMAN
    reason = p.guard.reason if p.guard is not None else p.decision.reason.value
    if guards.dry_run:
        what = "hand to a human" if human or p.action is None else p.action.value
        return Verdict("dry_run", reason, f"dry run: would {what} (DryRun is on: recorded only)")
    if human:
        return Verdict("needs_human", reason, f"needs human: {guard_text(reason, guards)}")
    assert p.action is not None  # an ACT decision the guards let through
    return Verdict("act", p.decision.reason.value, f"act: {p.action.value}")


def hold_text(detail: str) -> str:
    """`breaker:ml2/workers` -> `breaker ml2/workers`; `paused:*` -> `paused (every cluster)`."""
    name, _, scope = detail.partition(":")
    if scope == "*":
        scope = "(every cluster)"
    return " ".join(part for part in (HOLD_WORDS.get(name, words(name)), scope) if part)


def guard_text(reason: str, guards: Guards) -> str:
    name, _, value = reason.partition(":")
    if name == "stale_event":
        return f"stale event (older than {guards.max_event_age})"
    if name == "cluster_opted_out":
        return f"cluster opted out (tag {guards.opt_out_tag})"
    if name == "group_excluded":
        return "instance group excluded by AllowedGroups/DeniedGroups"
    return " ".join(part for part in (words(name), value) if part)


def words(name: str) -> str:
    return name.replace("_", " ")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="EVENTS.json",
        nargs="?",
        help="an EventBridge event, or a JSON list of them ('-': stdin); without it, --cluster",
    )
    parser.add_argument(
        "--cluster", help="no events file: preview the open and held faults of this cluster (name or ARN) now"
    )
    parser.add_argument("--at", help="decide as of this ISO 8601 time (default: now)")
    parser.add_argument("--fresh", action="store_true", help="give each event a new id and the decision time")


def run(ctx: Context, args: argparse.Namespace) -> Output:
    if (args.file is None) == (args.cluster is None):
        raise CliError("plan takes either EVENTS.json or --cluster C (a preview of the ledger's faults)")
    at = parse_time(args.at) if args.at else ctx.now()
    if args.cluster is not None:
        return live(ctx, ids.cluster_ref(args.cluster) or "", at)
    events = load_events(args.file)
    if args.fresh:
        events = [refreshed(e, at) for e in events]
    settings = ctx.service.settings()
    intakes = [normalise(e, rule_config(settings)) for e in events]
    data, head = dry_run(ctx, settings, [f for i in intakes for f in i.faults], at)
    data["events"] = [intake_json(i) for i in intakes]
    events_table = table(EVENT_HEADERS, [event_row(n, i) for n, i in enumerate(intakes, 1)])
    return Output(data, [*head, "", *events_table, *text(data)])


def dry_run(
    ctx: Context, settings: Settings, faults: list[NodeFault], at: datetime
) -> tuple[dict[str, Any], list[str]]:
    """Remediate's `plan()` over these faults, on read-only clients: its JSON, and the lines that
    head its text (the time, the pauses in force); `text(data)` is the rest."""
    table_name = ctx.service.require_table()
    clients = read_only(ctx.clients)  # every client of the dry run refuses anything but reads
    # The pauses in force for these clusters (read first: it also proves the table is there when no
    # fault resolves to a node, and plan() then reads nothing from the ledger).
    clusters = {f.cluster_ref for f in faults if f.cluster_ref}
    pauses = sorted(
        LedgerPauses(clients("dynamodb"), table_name).paused(clusters).values(), key=lambda p: p.scope
    )
    batch = plan(queue_records(faults), build_deps(settings, clients, clock=lambda: at))
    guards = settings.policy.guards
    nodes = [node_json(batch, p, guards) for p in batch.nodes]
    data: dict[str, Any] = {
        "at": at,
        "pauses": [pause_json(p) for p in pauses],
        "nodes": nodes,
        "unresolved": [  # faults that resolved to no current node: remediate ignores them
            {"cluster": r.cluster, "node": r.node_key, "instance_id": r.instance_id, "reason": r.reason}
            for r in batch.report.nodes
        ],
        "requests": [request_json(r) for r in batch.requests()],
        "summary": summary(nodes),
    }
    head = [f"dry run as of {at:%Y-%m-%d %H:%M:%SZ}: nothing is written or called"]
    return data, head + [pause_line(p) for p in pauses]


def live(ctx: Context, ref: str, at: datetime) -> Output:
    """The ledger's open and held faults of one cluster, decided now (`plan --cluster C`)."""
    settings = ctx.service.settings()
    directory = NodeDirectory(read_only(ctx.clients)("sagemaker"))
    try:
        name = directory.info(ref).name  # the canonical key: the cluster's name
        current = directory.cluster(name)
    except ClusterNotFound as exc:
        raise CliError(f"cluster {ref!r} not found", EXIT_NOT_FOUND) from exc
    open_nodes = LedgerOpenNodes(read_only(ctx.clients)("dynamodb"), ctx.service.require_table()).open_nodes(
        name
    )
    decided = [h for h in open_nodes if h.pending_fault and h.status not in WAITING_STATUSES]
    faults = [NodeFault.model_validate_json(h.pending_fault) for h in decided if h.pending_fault]
    waiting = [h for h in open_nodes if h not in decided]
    data, head = dry_run(ctx, settings, faults, at)
    statuses = Counter(n.status or "unknown" for n in current.by_instance.values())
    data["cluster"] = name
    data["node_statuses"] = dict(sorted(statuses.items()))
    data["waiting"] = [waiting_json(h) for h in waiting]
    head += [
        f"cluster {name}: {len(current.by_instance)} node(s): "
        + (", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "none"),
        f"ledger: {len(faults)} open or held fault(s) to decide, {len(waiting)} node(s) waiting on an action",
    ]
    if waiting:
        rows = [
            (w["node_key"], w["instance_id"], w["status"], w["last_action"], w["waiting_for"])
            for w in data["waiting"]
        ]
        head += ["", *table(WAITING_HEADERS, rows)]
    return Output(data, [*head, *text(data)])


def waiting_json(h: NodeState) -> dict[str, Any]:
    """An open node with no fault to decide now, and what it waits for."""
    return {
        "node_key": h.node_key,
        "instance_id": h.instance_id,
        "status": h.status,
        "last_action": h.last_action,
        "last_action_at": h.last_action_at,
        "waiting_for": WAITING_STATUSES.get(str(h.status), "nothing: no fault recorded"),
    }


def queue_records(faults: list[NodeFault]) -> list[dict[str, Any]]:
    """The faults as the SQS event source would deliver them to remediate."""
    return [
        {"messageId": f"dry-run-{n}", "body": json.dumps(f.model_dump(mode="json"))}
        for n, f in enumerate(faults)
    ]


def summary(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Nodes by verdict kind, and the held ones by reason."""
    kinds = Counter(n["verdict"] for n in nodes)
    held = Counter(n["verdict_text"].removeprefix("held: ") for n in nodes if n["verdict"] == "held")
    return {
        "by_verdict": {k: kinds[k] for k in KINDS if kinds[k]},
        "held_by_reason": dict(sorted(held.items())),
    }


def text(data: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    rows: list[tuple[Any, ...]] = [
        (
            n["cluster"],
            n["node_key"],
            n["instance_id"],
            n["faults"],
            None if n["step"] < 0 else n["step"],
            ladder_text(n),
            n["rule"],
            n["verdict_text"],
        )
        for n in data["nodes"]
    ]
    rows += [
        (u["cluster"], u["node"], u["instance_id"], None, None, None, None, f"ignored: {words(u['reason'])}")
        for u in data["unresolved"]
    ]
    if rows:
        lines += ["", *table(NODE_HEADERS, rows)]
    lines.append("")
    counts = data["summary"]["by_verdict"]
    if counts or data["unresolved"]:
        parts = [f"{n} {words(k)}" for k, n in counts.items()]
        if data["unresolved"]:
            parts.append(f"{len(data['unresolved'])} not in a cluster")
        lines.append("nodes: " + ", ".join(parts))
    held = data["summary"]["held_by_reason"]
    if held:
        lines.append("held: " + ", ".join(f"{n} {reason}" for reason, n in held.items()))
    requests = data["requests"]
    if not requests:
        if counts.get("dry_run"):
            return [*lines, f"would make no calls: DryRun is on ({counts['dry_run']} node(s) recorded only)"]
        return [*lines, "would make no calls"]
    lines += table(
        REQUEST_HEADERS, [(r["cluster"], r["operation"], r["id_kind"], r["count"]) for r in requests]
    )
    total = sum(r["count"] for r in requests)
    return [*lines, f"would make {len(requests)} call(s) for {total} node(s)"]


def ladder_text(n: dict[str, Any]) -> str:
    """The ladder's own say, before guards and holds: `first_fault -> reboot`."""
    reason = n["ladder_reason"]
    return f"{reason} -> {n['action']}" if n["ladder_decision"] == "act" and n["action"] else reason


def event_row(n: int, intake: Intake) -> tuple[Any, ...]:
    return (n, intake.event_id, intake.detail_type, result_text(intake), nodes_text(intake.faults))


def request_json(r: BatchRequest) -> dict[str, Any]:
    return {
        "cluster": r.cluster,
        "action": r.action,
        "operation": OPERATIONS[r.action],
        "id_kind": r.id_kind.value,
        "count": len(r.ids),
        "ids": list(r.ids),
    }


def node_json(batch: BatchPlan, p: NodePlan, guards: Guards) -> dict[str, Any]:
    """One node's plan. `decision`/`reason` are what remediate records (a hold, a guard, else the
    ladder); `ladder_*` the ladder's own; `verdict`/`verdict_text` the one that counts, in words."""
    target = p.node.target
    v = verdict(p, guards)
    if p.hold is not None:
        decision, reason = "held", p.hold.detail
    elif p.guard is not None:
        decision = "ignore" if p.guard.kind is GuardKind.IGNORE else "needs_human"
        reason = p.guard.reason
    else:
        decision, reason = p.decision.kind.value, p.decision.reason.value
    return {
        "cluster": target.cluster,
        "node_key": target.node_key,
        "instance_id": target.instance_id,
        "faults": len(p.node.faults),
        "decision": decision,
        "reason": reason,
        "ladder_decision": p.decision.kind.value,
        "ladder_reason": p.decision.reason.value,
        "rule": p.decision.rule,
        "step": p.decision.step,
        "action": batch.action_for(p),
        "verdict": v.kind,
        "verdict_text": v.text,
        "already_seen": [e for e in p.node.event_ids if e in p.history.seen_event_ids],
        "status_before": p.history.status,
    }


def parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise CliError(f"--at must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not {value!r}") from exc
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


COMMAND = Command(
    "plan",
    help="dry run: what the service would do with these events, or now for a cluster (calls nothing mutating)",
    description=first_paragraph(__doc__),
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod plan --cluster ml-cluster",
)
