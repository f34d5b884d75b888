"""`autoheal replay EVENT.json`: push events through intake's normalisation onto the fault queue.

The same path as the intake function (`normalise`, then the `FaultQueue` adapter), to test a rule or a
new event shape end to end. What is enqueued is real: the remediate function will act on it. Use
`autoheal plan` for a dry run.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from autoheal.adapters.queue import FaultQueue
from autoheal.faults import NodeFault
from autoheal.intake.normalise import normalise
from autoheal.intake.result import Intake
from autoheal.intake.wiring import rule_config
from autoheal_cli.commands.command import Command, first_paragraph
from autoheal_cli.commands.context import Context
from autoheal_cli.events import load_events, refreshed
from autoheal_cli.render import Output, table

HEADERS = ("#", "event id", "detail type", "result", "nodes")


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", metavar="EVENT.json", help="an EventBridge event, or a JSON list of them ('-': stdin)"
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="give each event a new id and the current time (else a replayed id is a duplicate to remediate)",
    )


def run(ctx: Context, args: argparse.Namespace) -> Output:
    events = load_events(args.file)
    if args.fresh:
        now = ctx.now()
        events = [refreshed(e, now) for e in events]
    service = ctx.service
    queue = FaultQueue(ctx.clients("sqs"), service.require_queue())
    rules = rule_config(service.settings())
    results: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    for n, event in enumerate(events, 1):
        intake = normalise(event, rules)
        enqueued = queue.send(intake.faults).sent if intake.faults else 0
        results.append(intake_json(intake, enqueued=enqueued))
        rows.append(
            (n, intake.event_id, intake.detail_type, result_text(intake, enqueued), nodes_text(intake.faults))
        )
    total = sum(r["enqueued"] for r in results)
    data = {"queue_url": service.queue_url, "events": results, "enqueued": total}
    lines = [*table(HEADERS, rows), f"{total} fault(s) enqueued on {service.queue_url}"]
    return Output(data, lines)


def intake_json(intake: Intake, enqueued: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": intake.event_id,
        "source": intake.source,
        "detail_type": intake.detail_type,
        "faults": [fault_json(f) for f in intake.faults],
        "ignored": [{"reason": i.reason, "subject": i.subject} for i in intake.ignored],
        "rejected": {"reason": intake.rejected.reason, "message": intake.rejected.message}
        if intake.rejected
        else None,
    }
    if enqueued is not None:
        data["enqueued"] = enqueued
    return data


def fault_json(f: NodeFault) -> dict[str, Any]:
    return {
        "cluster": f.cluster_ref,
        "instance_id": f.instance_id,
        "node_logical_id": f.node_logical_id,
        "signal": f.signal,
        "source": f.source,
        "source_event_id": f.source_event_id,
        "observed_at": f.observed_at,
    }


def result_text(intake: Intake, enqueued: int | None = None) -> str:
    if intake.rejected:
        return f"rejected {intake.rejected.reason}: {intake.rejected.message}"
    parts = []
    if intake.faults:
        parts.append(f"enqueued {enqueued}" if enqueued is not None else f"{len(intake.faults)} fault(s)")
    if intake.ignored:
        reasons = Counter(str(i.reason) for i in intake.ignored)
        parts.append("ignored " + ", ".join(f"{r}" + (f" x{n}" if n > 1 else "") for r, n in reasons.items()))
    return "; ".join(parts) or "nothing"


def nodes_text(faults: list[NodeFault]) -> str:
    refs = [f.node_ref for f in faults]
    return ", ".join(refs[:3]) + (f" (+{len(refs) - 3})" if len(refs) > 3 else "")


COMMAND = Command(
    "replay",
    help="normalise events as intake does and put their faults on the fault queue",
    description=first_paragraph(__doc__),
    arguments=_arguments,
    run=run,
    example="autoheal --endpoint-url http://127.0.0.1:5000 --table T --queue-url URL replay events/node-health-unhealthy.json",
)
