"""`autoheal release NODE [--cluster C] --reason TEXT`: hand a node that needs a human back to automation.

When the service stops acting on a node (the ladder ran out, a budget, a protected node type, a
permanent error) it waits for a human and ignores the node's faults. Once an operator has fixed the
node, `release` ends that wait: the node's state goes back to idle and its next fault starts the ladder
again (the per-node action budget still counts its recent actions). The write is conditional on the
node's version (if the service changed the node in between, nothing is written: run it again) and
records who (the caller's AWS identity), when and why on the node's state, where `history` shows it.
"""

from __future__ import annotations

import argparse

from autoheal.core import transitions
from autoheal.core.state import NodeStatus
from autoheal_cli import ids
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import node_json
from autoheal_cli.errors import EXIT_ERROR, EXIT_NOT_FOUND, CliError
from autoheal_cli.render import Output, cell


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("node", metavar="NODE", help="NodeLogicalId or EC2 instance id (current or replaced)")
    parser.add_argument("--cluster", help="the node's cluster (name or ARN); narrows the search")
    parser.add_argument("--reason", required=True, help="what was done to the node (recorded)")


def run(ctx: Context, args: argparse.Namespace) -> Output:
    ref = ids.node_ref(args.node)
    cluster = ctx.cluster(args.cluster)
    if not args.reason.strip():
        raise CliError("--reason must say what was done to the node", EXIT_ERROR)
    found = ctx.open_nodes().find_nodes(ref, cluster)
    where = f" in cluster {cluster}" if cluster else ""
    if not found:
        raise CliError(f"no ledger entries for {ref}{where}", EXIT_NOT_FOUND)
    if len(found) > 1:
        names = ", ".join(f"{c}/{k}" for c, k in found)
        raise CliError(f"{ref} names more than one node ({names}): pass --cluster", EXIT_ERROR)
    (node,) = found
    states = ctx.node_states()
    seen = states.load([node])[node]
    data = {"query": ref, "cluster": node[0], "node_key": node[1], "released": False}
    attempts = ctx.attempts().attempt_count(*node)
    if seen.status is not NodeStatus.NEEDS_HUMAN:
        data["state"] = node_json(seen, attempts)
        return Output(
            data,
            [
                f"node {node[1]} in cluster {node[0]} does not need a human ({seen.status.value}): nothing to do"
            ],
        )
    now = ctx.now()
    by = ctx.caller()
    new = transitions.handed_back(seen, seen.version, by=by, reason=args.reason, now=now)
    if not states.put_if_unchanged(new, seen.version, now):
        raise CliError(
            f"node {node[1]} changed while it was being released (version {seen.version}): nothing written; "
            "look at `autoheal history` and run release again",
            EXIT_ERROR,
        )
    data.update(released=True, by=by, at=now, reason=args.reason, state=node_json(new, attempts))
    return Output(
        data,
        [
            f"released node {node[1]} in cluster {node[0]} back to automation "
            f"(by {by} at {cell(now)}: {args.reason})",
            "its next fault starts the ladder again",
        ],
    )


COMMAND = Command(
    "release",
    help="hand a node that needs a human back to automation (recorded: who, when, why)",
    description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    arguments=_arguments,
    run=run,
    example='autoheal --stack hyperpod-autoheal-prod release gpu-a-17 --cluster ml-cluster --reason "reseated the GPU"',
)
