"""`autoheal status [--cluster C]`: the nodes under remediation (the ledger's open index) and any pause."""

from __future__ import annotations

import argparse
from typing import Any

from autoheal.adapters.control import ALL_CLUSTERS, Pause
from autoheal.core.state import NodeState
from autoheal_cli import ids
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.render import Output, ago, table

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
    cluster = ids.cluster_ref(args.cluster)
    nodes = ctx.open_nodes().open_nodes(cluster)
    attempts = ctx.attempts()
    counts = {(h.cluster, h.node_key): attempts.attempt_count(h.cluster, h.node_key) for h in nodes}
    kill_switch = ctx.pauses()
    in_force = kill_switch.paused({cluster}) if cluster else kill_switch.all()
    pauses = sorted(in_force.values(), key=lambda p: p.scope)
    now = ctx.now()

    data = {
        "cluster": cluster,
        "pauses": [pause_json(p) for p in pauses],
        "nodes": [node_json(h, counts[(h.cluster, h.node_key)]) for h in nodes],
    }
    lines = [pause_line(p) for p in pauses]
    if nodes:
        rows = [
            (
                h.cluster,
                h.node_key,
                h.instance_id,
                h.instance_group,
                h.status,
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


COMMAND = Command(
    "status",
    help="nodes under remediation, with their step and last outcome",
    description="Nodes with an open fault (claimed, in progress, retry pending, needs a human), "
    "from the ledger's open index, and the pause switches in force.",
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod status",
)
