"""The fleet breaker from the CLI: `autoheal breaker` shows it (with every cluster breaker tripped), and
`autoheal breaker reset --fleet [--for DURATION] [--yes] [--reason TEXT]` resets it.

The fleet breaker trips when too many clusters have a tripped breaker, or too large a share of the
fleet's nodes is under remediation, and then holds every mutating action of every cluster until an
operator resets it. The reset clears the trip and keeps the fleet breaker from tripping again for
DURATION (default: the breaker window) so the held faults can be acted on; the clusters' own breakers
still count. It records who (the caller's AWS identity), when and why.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import Any

from autoheal.adapters.fleet import FleetState, LedgerFleet
from autoheal.core.state import NodeStatus
from autoheal.remediate.fleet import FLEET_HOLD, RESET_COMMAND
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import breaker_json, breaker_line
from autoheal_cli.render import Output, cell


def _ledger(ctx: Context) -> LedgerFleet:
    return LedgerFleet(ctx.clients("dynamodb"), ctx.service.require_table())


def _held(ctx: Context) -> int:
    """Faults held by the fleet breaker now (the open index, every cluster)."""
    nodes = ctx.open_nodes().open_nodes()
    return sum(1 for h in nodes if h.status is NodeStatus.HELD and h.hold == FLEET_HOLD)


def state_json(state: FleetState) -> dict[str, Any]:
    trip, override = state.trip, state.override
    return {
        "tripped": trip is not None,
        "trip": None
        if trip is None
        else {
            "at": trip.at,
            "by": trip.by,
            "kind": trip.kind,
            "reason": trip.reason,
            "clusters": list(trip.clusters),
            "nodes": trip.nodes,
            "total": trip.total,
        },
        "override": None
        if override is None
        else {"until": override.until, "by": override.by, "reason": override.reason, "at": override.at},
        "fleet_nodes": state.size.total if state.size else None,
        "fleet_counted_at": state.size.at if state.size else None,
    }


def state_lines(state: FleetState, thresholds: str) -> list[str]:
    lines: list[str] = []
    if state.trip is not None:
        t = state.trip
        lines.append(f"FLEET BREAKER OPEN since {cell(t.at)} ({t.by}): {t.reason}")
        lines.append(f"  every mutating action of every cluster is held; reset: {RESET_COMMAND}")
    else:
        lines.append(f"fleet breaker armed ({thresholds})")
    if state.override is not None:
        o = state.override
        reason = f": {o.reason}" if o.reason else ""
        lines.append(f"FLEET BREAKER RESET until {cell(o.until)} by {o.by or '?'} at {cell(o.at)}{reason}")
    if state.size is not None:
        lines.append(
            f"fleet: {state.size.total} managed nodes in {len(state.size.clusters)} clusters, counted {cell(state.size.at)}"
        )
    return lines


def run_show(ctx: Context, args: argparse.Namespace) -> Output:
    """`autoheal breaker`: the fleet breaker and every cluster breaker tripped."""
    now = ctx.now()
    state = _ledger(ctx).state(now)
    tripped, _ = ctx.breakers().records(now)
    config = ctx.service.settings().policy.guards.fleet_breaker
    thresholds = (
        f"trips at {config.clusters or 'off'} clusters tripped, above {config.percent or 'off'}% of nodes"
    )
    held = _held(ctx)
    data = {
        "fleet": {**state_json(state), "held_faults": held},
        "breakers": [breaker_json(b) for b in tripped],
    }
    lines = [*state_lines(state, thresholds), f"  {held} fault(s) held by the fleet breaker"]
    lines += [breaker_line(b) for b in tripped] or ["no cluster or group breaker is tripped"]
    return Output(data, lines)


def run_reset(ctx: Context, args: argparse.Namespace, duration: timedelta, confirmed: Any) -> Output:
    """`autoheal breaker reset --fleet`: clear the trip, keep it from tripping until now + duration."""
    now = ctx.now()
    ledger = _ledger(ctx)
    state = ledger.state(now)
    until = now + duration
    held = _held(ctx)
    preview = _preview(state, held, duration, until)
    data: dict[str, Any] = {
        "scope": "fleet",
        "fleet": state_json(state),
        "held_faults": held,
        "until": until,
        "reason": args.reason,
        "overridden": False,
    }
    if not args.yes and not confirmed(preview):
        return Output(data, [*preview, "not confirmed: nothing changed"])
    by = ctx.caller()
    cleared = ledger.reset(until, by, args.reason, now)
    data.update(overridden=True, cleared=cleared, by=by, at=now)
    done = "the fleet breaker was cleared" if cleared else "no fleet breaker was tripped"
    return Output(data, [*preview, f"reset by {by}: {done}; it will not trip until {cell(until)}"])


def _preview(state: FleetState, held: int, duration: timedelta, until: datetime) -> list[str]:
    lines = [f"fleet breaker reset: it will not trip for {duration} (until {cell(until)})"]
    if state.trip is not None:
        lines.append(
            f"  it lets through: FLEET BREAKER OPEN since {cell(state.trip.at)}: {state.trip.reason}"
        )
    else:
        lines.append("  the fleet breaker is not tripped now: this only keeps it from tripping")
    lines.append(f"  {held} fault(s) held by the fleet breaker will be acted on when they come back")
    lines.append("  the clusters' own breakers still count (`autoheal breaker reset --cluster C` for those)")
    return lines
