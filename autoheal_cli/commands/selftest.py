"""`autoheal --stack NAME selftest [--timeout S] [--wait-metrics]`: prove a deployed stack's wiring end to end.

Publishes one synthetic HyperPod Node Health Event (PutEvents, source `autoheal.selftest`) naming a
reserved cluster, `autoheal-selftest-<random>`, that cannot exist, so nothing can be acted on; the
service has no special path for it. Within --timeout it checks each hop: (1) the HyperPod rule is
enabled, matches the event and targets intake, (2) intake parsed it and (3) queued its fault (intake's
log lines; else inferred from 4), (4) remediate recorded its verdict in the ledger (dropped,
cluster_not_found), and with --wait-metrics (5) the intake and remediate metrics arrived. Each hop is
printed with ✓/✗, and the first broken one with what to check; then the ledger items it caused are
deleted. Exit 3 if a hop is broken.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from autoheal.adapters.verdicts import LedgerVerdicts
from autoheal_cli import selftest_hops as hops
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.errors import EXIT_OK, EXIT_SERVICE, CliError
from autoheal_cli.render import Output

OUTPUT_RULE = "HyperPodEventsRuleName"
OUTPUT_INTAKE = "IntakeFunctionArn"
OUTPUT_INTAKE_LOGS = "IntakeLogGroupName"
DEFAULT_TIMEOUT = 120.0
DEFAULT_METRICS_TIMEOUT = 600.0  # CloudWatch shows EMF metrics minutes after they were logged
POLL_SECONDS = 5.0
#: Intake's log lines are searched from this long before the event was published (clock skew).
LOG_LOOKBACK = timedelta(minutes=5)
#: How long intake's log lines are waited for once remediate's verdict is in (then: inferred).
LOG_GRACE = 30.0


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds to wait for every hop (default {DEFAULT_TIMEOUT:g}, {DEFAULT_METRICS_TIMEOUT:g} "
        "with --wait-metrics)",
    )
    parser.add_argument(
        "--wait-metrics",
        action="store_true",
        help="also wait for intake's and remediate's metrics in CloudWatch (minutes on AWS)",
    )


@dataclass(frozen=True)
class Wiring:
    """What the stack's Outputs name: the rule, the intake function and its log group, the ledger."""

    rule: str
    intake_arn: str
    log_group: str
    table: str

    @staticmethod
    def of(ctx: Context) -> Wiring:
        service = ctx.service
        if not service.stack:
            raise CliError(
                "selftest needs --stack NAME: it reads the rule and intake from the stack's Outputs"
            )
        missing = [k for k in (OUTPUT_RULE, OUTPUT_INTAKE, OUTPUT_INTAKE_LOGS) if not service.outputs.get(k)]
        if missing:
            raise CliError(
                f"stack {service.stack!r} has no {', '.join(missing)} output: "
                "deploy this version of template.yaml first"
            )
        out = service.outputs
        return Wiring(out[OUTPUT_RULE], out[OUTPUT_INTAKE], out[OUTPUT_INTAKE_LOGS], service.require_table())


def run(ctx: Context, args: argparse.Namespace) -> Output:
    wiring = Wiring.of(ctx)
    timeout = (
        args.timeout
        if args.timeout is not None
        else (DEFAULT_METRICS_TIMEOUT if args.wait_metrics else DEFAULT_TIMEOUT)
    )
    if timeout <= 0:
        raise CliError("--timeout must be a positive number of seconds")
    started = time.monotonic()
    deadline = started + timeout
    events = ctx.clients("events")
    probe = hops.Probe.new()
    published_at = datetime.now(UTC)
    account = ctx.caller().split(":")[4]
    probe_event = probe.event(account, events.meta.region_name, published_at)
    rule = hops.rule_hop(events, wiring.rule, wiring.intake_arn, probe_event)
    event_id = _publish(events, probe)
    verdicts = LedgerVerdicts(ctx.clients("dynamodb"), wiring.table)
    seen = _wait(ctx, wiring, verdicts, event_id, published_at, deadline)
    two, three = hops.intake_hops(seen, wiring.log_group)
    sums = _wait_metrics(ctx, published_at, deadline) if args.wait_metrics else None
    chain = [rule, two, three, hops.verdict_hop(seen, wiring.table), hops.metrics_hop(sums)]
    cleaned = verdicts.forget(event_id)
    return _output(probe, event_id, chain, cleaned, time.monotonic() - started)


def _publish(events: Any, probe: hops.Probe) -> str:
    answer = events.put_events(Entries=[probe.entry()])
    entry = (answer.get("Entries") or [{}])[0]
    if answer.get("FailedEntryCount") or "EventId" not in entry:
        code, message = entry.get("ErrorCode", "Unknown"), entry.get("ErrorMessage", "")
        raise CliError(f"PutEvents refused the self-test event ({code}): {message}", EXIT_SERVICE)
    return str(entry["EventId"])


def _wait(
    ctx: Context,
    wiring: Wiring,
    verdicts: LedgerVerdicts,
    event_id: str,
    published_at: datetime,
    deadline: float,
) -> hops.Observed:
    """Poll intake's log lines and the ledger until intake dropped the event, or remediate's verdict is
    in and intake's lines too (at most `LOG_GRACE` after the verdict: log delivery lags), or the
    deadline."""
    logs = ctx.clients("logs")
    seen = hops.Observed()
    verdict_at: float | None = None
    while True:
        seen.intake = hops.intake_lines(logs, wiring.log_group, event_id, published_at - LOG_LOOKBACK)
        seen.verdicts = [d.reason for d in verdicts.dropped(event_id)]
        now = time.monotonic()
        if seen.intake.dropped or seen.intake.enqueued == 0 or now >= deadline:
            return seen
        if seen.verdicts:
            verdict_at = verdict_at or now
            if seen.intake.enqueued is not None or seen.intake.missing_group or now - verdict_at >= LOG_GRACE:
                return seen
        ctx.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))


def _wait_metrics(ctx: Context, published_at: datetime, deadline: float) -> dict[str, float]:
    cloudwatch = ctx.clients("cloudwatch")
    while True:
        sums = hops.metric_sums(cloudwatch, published_at, datetime.now(UTC))
        if (sums.get("enqueued", 0) >= 1 and sums.get("dropped", 0) >= 1) or time.monotonic() >= deadline:
            return sums
        ctx.sleep(min(POLL_SECONDS * 6, max(0.0, deadline - time.monotonic())))


def _output(probe: hops.Probe, event_id: str, chain: list[hops.Hop], cleaned: int, elapsed: float) -> Output:
    broken = next((h for h in chain if h.status is hops.Status.BROKEN), None)
    lines = [f"self-test event {event_id}: cluster {probe.cluster} (reserved), node {probe.instance_id}"]
    for hop in chain:
        inferred = " (inferred)" if hop.status is hops.Status.INFERRED else ""
        lines.append(f"{hops.SYMBOLS[hop.status]} {hop.number} {hop.name}{inferred}: {hop.detail}")
    lines.append(f"cleaned up: {cleaned} ledger item{'s' if cleaned != 1 else ''} of the self-test")
    if broken is None:
        lines.append(f"every hop passed in {elapsed:.0f}s")
    else:
        lines.append(f"broken at hop {broken.number} ({broken.name}): check {broken.check}")
    data = {
        "event_id": event_id,
        "cluster": probe.cluster,
        "instance_id": probe.instance_id,
        "hops": [h.json() for h in chain],
        "broken": broken.json() if broken else None,
        "cleaned_up": {"ledger_items": cleaned},
        "elapsed_seconds": round(elapsed, 1),
    }
    return Output(data, lines, code=EXIT_OK if broken is None else EXIT_SERVICE)


COMMAND = Command(
    "selftest",
    help="prove a deployed stack's wiring end to end (a synthetic event, nothing acted on)",
    description=(__doc__ or "").split("\n\n")[1],
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod selftest --timeout 120",
)
