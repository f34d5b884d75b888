"""`autoheal replay EVENT.json [--dry-run]`: push events through intake's normalisation onto the fault queue.

The same path as the intake function (`normalise`, then the `FaultQueue` adapter), to test a rule or a
new event shape end to end. What is enqueued is real: the remediate function will act on it. First,
on read-only clients, it warns about what remediate would drop -- a cluster that does not exist, an
event id the node's ledger has already seen, an event older than the age limit -- and leaves those faults
off the queue (`not enqueued: <reason>`); with `--dry-run`
it stops there and shows what remediate would decide (as `autoheal plan`), enqueuing nothing. It exits
non-zero (2) when every event was rejected, by intake or by those checks.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from autoheal.adapters.directory import ClusterNotFound, NodeDirectory
from autoheal.adapters.queue import FaultQueue
from autoheal.faults import NodeFault
from autoheal.intake.normalise import normalise
from autoheal.intake.result import Intake
from autoheal.intake.wiring import rule_config
from autoheal.settings import Settings
from autoheal_cli.aws import read_only
from autoheal_cli.commands import plan as plan_command
from autoheal_cli.commands.command import Command, first_paragraph
from autoheal_cli.commands.context import Context
from autoheal_cli.errors import EXIT_OK, EXIT_USAGE
from autoheal_cli.events import intake_json, load_events, nodes_text, refreshed, result_text
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
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="enqueue nothing: show what remediate would decide for these events (as `autoheal plan`)",
    )


@dataclass
class Checks:
    """What remediate would drop, found before anything is enqueued: per fault, why."""

    dropped: dict[int, str] = field(default_factory=dict)  # id(fault) -> reason
    warnings: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None  # the dry run's JSON, when the ledger could be read
    head: list[str] = field(default_factory=list)

    def drops(self, fault: NodeFault) -> bool:
        return id(fault) in self.dropped

    def reasons(self, intake: Intake) -> list[str]:
        """Why some of the event's faults were not enqueued (each reason once, in order)."""
        return list(dict.fromkeys(self.dropped[id(f)] for f in intake.faults if self.drops(f)))


def run(ctx: Context, args: argparse.Namespace) -> Output:
    now = ctx.now()
    events = load_events(args.file)
    if args.fresh:
        events = [refreshed(e, now) for e in events]
    service = ctx.service
    settings = service.settings()
    rules = rule_config(settings)
    intakes = [normalise(event, rules) for event in events]
    if args.dry_run:
        service.require_table()
    else:
        service.require_queue()
        # the queue is read first: an event that enqueues nothing must still find a missing queue
        ctx.clients("sqs").get_queue_attributes(QueueUrl=service.queue_url, AttributeNames=["QueueArn"])
    checks = check(ctx, settings, intakes, now)
    rejected = sum(1 for i in intakes if i.rejected or (i.faults and all(checks.drops(f) for f in i.faults)))
    code = EXIT_USAGE if rejected == len(intakes) else EXIT_OK
    warnings = [f"warning: {w}" for w in checks.warnings]
    if args.dry_run:
        shown = [intake_json(i) for i in intakes]
        data = {"dry_run": True, "events": shown, "warnings": checks.warnings, "rejected": rejected}
        lines = [*checks.head, "", *table(HEADERS, [_row(n, i) for n, i in enumerate(intakes, 1)]), *warnings]
        if checks.plan is not None:
            data["plan"] = checks.plan
            lines += plan_command.text(checks.plan)
        lines.append(f"nothing enqueued (dry run); {rejected} of {len(intakes)} event(s) rejected")
        return Output(data, lines, code)
    queue = FaultQueue(ctx.clients("sqs"), service.queue_url)
    results: list[dict[str, Any]] = []
    rows: list[tuple[Any, ...]] = []
    for n, intake in enumerate(intakes, 1):
        kept = [f for f in intake.faults if not checks.drops(f)]  # what remediate would drop stays out
        enqueued = queue.send(kept).sent if kept else 0
        results.append({**intake_json(intake, enqueued=enqueued), "not_enqueued": checks.reasons(intake)})
        rows.append(_row(n, intake, enqueued, checks.reasons(intake)))
    total = sum(r["enqueued"] for r in results)
    data = {
        "queue_url": service.queue_url,
        "events": results,
        "enqueued": total,
        "warnings": checks.warnings,
        "rejected": rejected,
    }
    lines = [*table(HEADERS, rows), *warnings, f"{total} fault(s) enqueued on {service.queue_url}"]
    if code != EXIT_OK:
        lines.append(f"every event was rejected ({rejected} of {len(intakes)})")
    return Output(data, lines, code)


def check(ctx: Context, settings: Settings, intakes: Sequence[Intake], now: datetime) -> Checks:
    """The faults remediate would drop: of a cluster that does not exist, already seen by their node's
    ledger, or older than the age limit (judged now). Reads only."""
    out = Checks()
    faults = [f for i in intakes for f in i.faults]
    max_age = settings.policy.guards.max_event_age
    for f in faults:
        age = now - f.observed_at
        if age > max_age:
            out.dropped[id(f)] = "stale"
            out.warnings.append(
                f"event {f.source_event_id} ({f.node_ref}) is {_minutes(age)} old, past the age limit "
                f"of {_minutes(max_age)}: remediate will ignore it (--fresh gives it the current time)"
            )
    directory = NodeDirectory(read_only(ctx.clients)("sagemaker"))
    for ref in sorted({f.cluster_ref for f in faults if f.cluster_ref}):
        try:
            directory.info(ref)
        except ClusterNotFound:
            out.warnings.append(f"cluster {ref} does not exist: remediate will drop its faults")
            out.dropped.update({id(f): "unknown_cluster" for f in faults if f.cluster_ref == ref})
    if not ctx.service.table_name:
        out.warnings.append("no ledger table named: event ids already seen were not checked")
        return out
    live = [f for f in faults if not out.drops(f)]
    out.plan, out.head = plan_command.dry_run(ctx, settings, live, now)
    seen = {e for n in out.plan["nodes"] for e in n["already_seen"]}
    for f in live:
        if f.source_event_id in seen:
            out.dropped[id(f)] = "already_seen"
            out.warnings.append(
                f"event {f.source_event_id} ({f.node_ref}) was already seen by the ledger: remediate "
                "will ignore it as a duplicate (--fresh gives it a new id)"
            )
    return out


def _minutes(delta: timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


def _row(n: int, intake: Intake, enqueued: int | None = None, dropped: Sequence[str] = ()) -> tuple[Any, ...]:
    result = result_text(intake, enqueued) + (f"; not enqueued: {', '.join(dropped)}" if dropped else "")
    return (n, intake.event_id, intake.detail_type, result, nodes_text(intake.faults))


COMMAND = Command(
    "replay",
    help="normalise events as intake does and put their faults on the fault queue (--dry-run: show only)",
    description=first_paragraph(__doc__),
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod replay --dry-run events/node-health-unhealthy.json",
)
