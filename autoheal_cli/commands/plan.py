"""`autoheal plan EVENTS.json`: a dry run of the service on these events. Nothing mutating is called.

The events go through intake's `normalise`; their faults are handed to remediate's `plan()` exactly as
the queue would deliver them, with the remediate function's own wiring (`build_deps`) over clients that
refuse anything but reads (ListClusterNodes, ledger and pause-switch reads). It prints each node's
decision and the Batch* requests executing the plan would make (before claims and per-entry results).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from autoheal.adapters.control import LedgerPauses
from autoheal.adapters.sagemaker import OPERATIONS
from autoheal.core.planner import BatchRequest
from autoheal.faults import NodeFault
from autoheal.intake.normalise import normalise
from autoheal.intake.result import Intake
from autoheal.intake.wiring import rule_config
from autoheal.remediate.service import BatchPlan, NodePlan, plan
from autoheal.remediate.wiring import build_deps
from autoheal_cli.aws import read_only
from autoheal_cli.commands.command import Command, first_paragraph
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.replay import intake_json, nodes_text, result_text
from autoheal_cli.commands.status import pause_json, pause_line
from autoheal_cli.errors import CliError
from autoheal_cli.events import load_events, refreshed
from autoheal_cli.render import Output, table

EVENT_HEADERS = ("#", "event id", "detail type", "intake", "nodes")
NODE_HEADERS = ("cluster", "node", "instance", "faults", "decision", "reason", "step", "action")
REQUEST_HEADERS = ("cluster", "operation", "id kind", "ids")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="EVENTS.json", help="an EventBridge event, or a JSON list of them ('-': stdin)"
    )
    parser.add_argument("--at", help="decide as of this ISO 8601 time (default: now)")
    parser.add_argument("--fresh", action="store_true", help="give each event a new id and the decision time")


def run(ctx: Context, args: argparse.Namespace) -> Output:
    at = parse_time(args.at) if args.at else ctx.now()
    events = load_events(args.file)
    if args.fresh:
        events = [refreshed(e, at) for e in events]
    table_name = ctx.service.require_table()
    settings = ctx.service.settings()
    clients = read_only(ctx.clients)  # every client of the dry run refuses anything but reads
    intakes = [normalise(e, rule_config(settings)) for e in events]
    faults = [f for i in intakes for f in i.faults]
    # The pauses in force for these clusters (read first: it also proves the table is there when no
    # fault resolves to a node, and plan() then reads nothing from the ledger).
    clusters = {f.cluster_ref for f in faults if f.cluster_ref}
    pauses = sorted(
        LedgerPauses(clients("dynamodb"), table_name).paused(clusters).values(), key=lambda p: p.scope
    )
    batch = plan(queue_records(faults), build_deps(settings, clients, clock=lambda: at))
    data: dict[str, Any] = {
        "at": at,
        "pauses": [pause_json(p) for p in pauses],
        "events": [intake_json(i) for i in intakes],
        "nodes": [node_json(batch, p) for p in batch.nodes],
        "unresolved": [  # faults that resolved to no current node: remediate ignores them
            {"cluster": r.cluster, "node": r.node_key, "instance_id": r.instance_id, "reason": r.reason}
            for r in batch.report.nodes
        ],
        "requests": [request_json(r) for r in batch.requests()],
    }
    lines = [f"dry run as of {at:%Y-%m-%d %H:%M:%SZ}: nothing is written or called"]
    lines += [pause_line(p) for p in pauses]
    return Output(data, lines + text(intakes, data))


def queue_records(faults: list[NodeFault]) -> list[dict[str, Any]]:
    """The faults as the SQS event source would deliver them to remediate."""
    return [
        {"messageId": f"dry-run-{n}", "body": json.dumps(f.model_dump(mode="json"))}
        for n, f in enumerate(faults)
    ]


def text(intakes: list[Intake], data: dict[str, Any]) -> list[str]:
    lines = ["", *table(EVENT_HEADERS, [event_row(n, i) for n, i in enumerate(intakes, 1)])]
    node_keys = ("cluster", "node_key", "instance_id", "faults", "decision", "reason", "step", "action")
    rows: list[tuple[Any, ...]] = [
        tuple(None if k == "step" and n[k] < 0 else n[k] for k in node_keys) for n in data["nodes"]
    ]
    rows += [
        (u["cluster"], u["node"], u["instance_id"], None, "ignore", u["reason"], None, None)
        for u in data["unresolved"]
    ]
    if rows:
        lines += ["", *table(NODE_HEADERS, rows)]
    lines.append("")
    requests = data["requests"]
    if not requests:
        return [*lines, "would make no calls"]
    lines += table(
        REQUEST_HEADERS, [(r["cluster"], r["operation"], r["id_kind"], r["count"]) for r in requests]
    )
    total = sum(r["count"] for r in requests)
    return [*lines, f"would make {len(requests)} call(s) for {total} node(s)"]


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


def node_json(batch: BatchPlan, p: NodePlan) -> dict[str, Any]:
    target = p.node.target
    action = batch.action_for(p)
    return {
        "cluster": target.cluster,
        "node_key": target.node_key,
        "instance_id": target.instance_id,
        "faults": len(p.node.faults),
        "decision": "held" if p.hold else p.decision.kind.value,
        "reason": p.hold.detail if p.hold else p.decision.reason.value,
        "step": p.decision.step,
        "action": action,
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
    help="dry run: what the service would do with these events (calls nothing mutating)",
    description=first_paragraph(__doc__),
    arguments=_arguments,
    run=run,
    example="autoheal plan --json storm.json",
)
