"""`autoheal ladder`: the adaptive ladder per signal -- samples, reboot and replace success rates over
the window, and where the ladder starts that signal now, and why (the table's rule or the adaptive one).

Reads the per-signal aggregates with one Query of their partition (`autoheal.adapters.ladder_stats`),
never a Scan; the policy (AdaptiveLadder, its threshold, samples and window, SignalFirstRung) is the
deployed functions' (`--stack`, else the environment).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from autoheal.adapters.ladder_stats import LedgerLadderStats
from autoheal.core.adaptive import Adaptive, adapt, rate
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import RemediationPolicy
from autoheal.signals import first_rung
from autoheal_cli.commands.command import Command, no_arguments
from autoheal_cli.commands.context import Context
from autoheal_cli.render import Output, table

HEADERS = ("signal", "samples", "reboot success", "replace success", "starts at", "why")


def run(ctx: Context, _: argparse.Namespace) -> Output:
    policy = ctx.service.settings().policy
    stats = LedgerLadderStats(ctx.clients("dynamodb"), ctx.service.require_table(), policy.adaptive.window)
    now = ctx.now()
    rows = [signal_json(signal, counters, policy, now) for signal, counters in sorted(stats.all().items())]
    data: dict[str, Any] = {"adaptive": _adaptive_json(policy.adaptive), "signals": rows}
    head = _head(policy.adaptive)
    if not rows:
        return Output(data, [head, "no outcome counted yet: every signal starts where the table says"])
    cells = [
        (r["signal"], r["samples"], _pct(r["reboot"]), _pct(r["replace"]), r["starts_at"], r["rule"])
        for r in rows
    ]
    return Output(data, [head, *table(HEADERS, cells)])


def signal_json(
    signal: str, counters: dict[str, int], policy: RemediationPolicy, now: datetime
) -> dict[str, Any]:
    """One signal's line: its rates over the window and where a fault of it would start now."""
    window = policy.adaptive.window
    reboot, replace = rate(counters, "reboot", now, window), rate(counters, "replace", now, window)
    fault = NodeFault(
        cluster_name="ladder",
        instance_id="i-00000000000000000",
        signal=signal,
        source=FaultSource.NODE_HEALTH,
        source_event_id="ladder",
        observed_at=now,
    )
    first = adapt(first_rung(fault, policy.signal_first_rung), signal, counters, policy.adaptive, now)
    return {
        "signal": signal,
        "samples": reboot.samples,
        "reboot": {"samples": reboot.samples, "successes": reboot.successes, "rate": _rate(reboot)},
        "replace": {"samples": replace.samples, "successes": replace.successes, "rate": _rate(replace)},
        "starts_at": first.rung.value,
        "rule": first.rule,
    }


def _rate(r: Any) -> float | None:
    return round(r.value, 4) if r.samples else None


def _pct(r: dict[str, Any]) -> str:
    return "-" if r["rate"] is None else f"{r['successes']}/{r['samples']} = {r['rate']:.0%}"


def _adaptive_json(a: Adaptive) -> dict[str, Any]:
    return {
        "enabled": a.enabled,
        "threshold": a.threshold,
        "min_samples": a.min_samples,
        "window_days": a.window.days,
    }


def _head(a: Adaptive) -> str:
    state = "on" if a.enabled else "off (the table decides; rates are still counted)"
    return (
        f"adaptive ladder {state}: reboot success < {a.threshold:.0%} over {a.window.days} days "
        f"(≥ {a.min_samples} samples) → replace"
    )


COMMAND = Command(
    "ladder",
    help="the adaptive ladder per signal: samples, reboot/replace success, where it starts now and why",
    description=(__doc__ or "").splitlines()[0],
    arguments=no_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod ladder --json",
)
