"""`autoheal status [--cluster C]`: everything an on-call person needs at a glance.

In order: the pauses in force (who, when, why); tripped circuit breakers and operators' overrides, with
their expiry; capacity cool-downs (no replace in a group) and node cool-downs (no new action on a node
soon after its last); held faults by the hold's name; nodes waiting for a human; then every node under
remediation (the ledger's open index) with its step and last outcome. Sections with nothing in them
are left out of the text, never out of --json.
"""

from __future__ import annotations

import argparse
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from autoheal.adapters.control import ALL_CLUSTERS, Breaker, Cooldown, Override, Pause
from autoheal.core.state import NodeState, NodeStatus
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.render import Output, ago, cell, table

HEADERS = (
    "cluster",
    "node",
    "instance",
    "group",
    "status",
    "step",
    "last action",
    "age",
    "attempts",
    "retries",
    "last outcome",
    "error",
)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="only this cluster (name or ARN)")


def run(ctx: Context, args: argparse.Namespace) -> Output:
    info = ctx.cluster_info(args.cluster) if args.cluster else None
    cluster = info.name if info else None
    keys = {cluster, *([info.arn] if info and info.arn else [])} if cluster else None
    now = ctx.now()
    nodes = ctx.open_nodes().open_nodes(cluster)
    attempts = ctx.attempts()
    counts = {(h.cluster, h.node_key): attempts.attempt_count(h.cluster, h.node_key) for h in nodes}
    in_force = ctx.pauses().all()
    pauses = sorted(
        (p for p in in_force.values() if keys is None or p.scope in keys or p.scope == ALL_CLUSTERS),
        key=lambda p: p.scope,
    )
    tripped, overrides = ctx.breakers().records(now)
    tripped = [b for b in tripped if _in(b.label.split("/", 1)[0], keys)]
    overrides = [o for o in overrides if _in(o.scope.split("/", 1)[0], keys) or o.scope == ALL_CLUSTERS]
    cooldowns = [c for c in ctx.cooldowns().all(now) if _in(c.cluster, keys)]
    node_cooldown = ctx.service.settings().policy.guards.node_cooldown
    cooling = [h for h in nodes if _cooling_until(h, node_cooldown, now) is not None]
    held = [h for h in nodes if h.status is NodeStatus.HELD]
    humans = [h for h in nodes if h.status is NodeStatus.NEEDS_HUMAN]

    held_by = dict(sorted(Counter(h.hold or "unknown" for h in held).items()))
    data: dict[str, Any] = {
        "cluster": cluster,
        "pauses": [pause_json(p) for p in pauses],
        "breakers": [breaker_json(b) for b in tripped],
        "breaker_overrides": [override_json(o) for o in overrides],
        "capacity_cooldowns": [cooldown_json(c) for c in cooldowns],
        "node_cooldowns": [
            {"cluster": h.cluster, "node_key": h.node_key, "until": _cooling_until(h, node_cooldown, now)}
            for h in cooling
        ],
        "held": held_by,
        "needs_human": [
            {"cluster": h.cluster, "node_key": h.node_key, "instance_id": h.instance_id} for h in humans
        ],
        "nodes": [node_json(h, counts[(h.cluster, h.node_key)]) for h in nodes],
    }
    lines = [pause_line(p) for p in pauses]
    lines += [breaker_line(b) for b in tripped]
    lines += [override_line(o) for o in overrides]
    lines += [cooldown_line(c) for c in cooldowns]
    if cooling:
        lines.append(
            f"NODE COOL-DOWN: {len(cooling)} node(s) acted on within {node_cooldown} get no new action yet"
        )
    if held:
        by_hold = ", ".join(f"{n} {hold}" for hold, n in held_by.items())
        lines.append(f"HELD: {len(held)} fault(s) waiting for a hold to lift: {by_hold}")
    if humans:
        names = ", ".join(f"{h.cluster}/{h.node_key}" for h in humans)
        lines.append(
            f"NEEDS A HUMAN: {len(humans)} node(s): {names} "
            "(fix, then: autoheal release NODE --cluster C --reason TEXT)"
        )
    if nodes:
        rows = [
            (
                h.cluster,
                h.node_key,
                h.instance_id,
                h.instance_group,
                _status(h),
                h.step if h.step >= 0 else None,
                h.last_action,
                ago(h.last_attempt_at or h.last_action_at, now),
                counts[(h.cluster, h.node_key)],
                h.transient_retries,
                h.last_outcome,
                h.last_error_code,
            )
            for h in nodes
        ]
        lines += table(HEADERS, rows)
        lines.append(summary(nodes))
    else:
        where = f" in {cluster}" if cluster else ""
        lines.append(f"no nodes under remediation{where}")
    return Output(data, lines)


def _in(cluster: str, keys: set[str] | None) -> bool:
    return keys is None or cluster in keys


def _status(h: NodeState) -> str:
    return f"held:{h.hold}" if h.status is NodeStatus.HELD and h.hold else h.status.value


def _cooling_until(h: NodeState, cooldown: timedelta, now: datetime) -> datetime | None:
    if h.last_action_at is None or h.last_action_at + cooldown <= now:
        return None
    return h.last_action_at + cooldown


def summary(nodes: list[NodeState]) -> str:
    by_status: dict[str, int] = {}
    for h in nodes:
        by_status[h.status.value] = by_status.get(h.status.value, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(by_status.items()))
    return f"{len(nodes)} node(s): {parts}"


def node_json(h: NodeState, attempts: int) -> dict[str, Any]:
    return {
        "cluster": h.cluster,
        "node_key": h.node_key,
        "node_logical_id": h.node_logical_id,
        "instance_id": h.instance_id,
        "instance_group": h.instance_group,
        "status": h.status,
        "hold": h.hold,
        "held_since": h.held_since,
        "step": h.step,
        "last_action": h.last_action,
        "last_action_at": h.last_action_at,
        "last_attempt_at": h.last_attempt_at,
        "last_outcome": h.last_outcome,
        "last_error_code": h.last_error_code,
        "transient_retries": h.transient_retries,
        "attempts": attempts,
        "claim_expires_at": h.claim_expires_at,
        "version": h.version,
    }


def pause_json(p: Pause) -> dict[str, Any]:
    return {"scope": p.scope, "by": p.by, "reason": p.reason, "at": p.at}


def pause_line(p: Pause) -> str:
    what = "every cluster" if p.scope == ALL_CLUSTERS else f"cluster {p.scope}"
    reason = f": {p.reason}" if p.reason else ""
    return f"PAUSED {what} by {p.by or '?'} at {p.at:%Y-%m-%d %H:%M:%SZ}{reason}"


def breaker_json(b: Breaker) -> dict[str, Any]:
    return {"scope": b.label, "nodes": b.count, "allowed": b.allowed, "until": b.until}


def breaker_line(b: Breaker) -> str:
    cluster, group = b.label.split("/", 1)
    flag = f" --group {group}" if group != "*" else ""
    return (
        f"BREAKER OPEN {b.label}: {b.count} nodes under remediation, {b.allowed} allowed; "
        f"holds until {cell(b.until)} (override: autoheal breaker reset --cluster {cluster}{flag})"
    )


def override_json(o: Override) -> dict[str, Any]:
    return {"scope": o.scope, "until": o.until, "by": o.by, "reason": o.reason, "at": o.at}


def override_line(o: Override) -> str:
    what = "every cluster" if o.scope == ALL_CLUSTERS else o.scope
    reason = f": {o.reason}" if o.reason else ""
    return f"BREAKER OVERRIDDEN for {what} until {cell(o.until)} by {o.by or '?'} at {cell(o.at)}{reason}"


def cooldown_json(c: Cooldown) -> dict[str, Any]:
    return {"cluster": c.cluster, "group": c.group, "until": c.until, "reason": c.reason, "node": c.node}


def cooldown_line(c: Cooldown) -> str:
    return f"CAPACITY COOL-DOWN {c.cluster}/{c.group}: no replace until {cell(c.until)} ({c.reason})"


COMMAND = Command(
    "status",
    help="what is held, paused, tripped or waiting for a human, and every node under remediation",
    description="Pauses, tripped circuit breakers and overrides, capacity and node cool-downs, held faults "
    "by hold, nodes needing a human, and every node with an open fault (the ledger's open index).",
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod status --cluster ml-cluster",
)
