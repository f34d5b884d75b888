"""`autoheal pause` / `autoheal resume` `[--cluster C]`: the kill switch remediate reads every invocation.

A pause is an item in the ledger table (`autoheal.adapters.control`): no redeploy. While a cluster (or,
without --cluster, every cluster: scope `*`) is paused, remediate holds its faults in the queue and
calls nothing mutating; `resume` lets the held faults through on their next delivery.
"""

from __future__ import annotations

import argparse
import getpass
import socket

from autoheal.adapters.control import ALL_CLUSTERS, covering
from autoheal_cli import ids
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import pause_json, pause_line
from autoheal_cli.render import Output


def _pause_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="pause this cluster only (name or ARN); default: every cluster")
    parser.add_argument("--reason", default="", help="why (shown by `status` and stored with the pause)")


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="resume this cluster (name or ARN); default: the global pause")


def operator() -> str:
    """Who set the pause, for the record: local user and host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry / no login name in a container
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def run_pause(ctx: Context, args: argparse.Namespace) -> Output:
    scope = ids.cluster_ref(args.cluster) or ALL_CLUSTERS
    pause = ctx.pauses().pause(scope, by=operator(), reason=args.reason, now=ctx.now())
    return Output(
        {"paused": pause_json(pause)}, [pause_line(pause), f"resume with: autoheal resume{_flag(scope)}"]
    )


def run_resume(ctx: Context, args: argparse.Namespace) -> Output:
    scope = ids.cluster_ref(args.cluster) or ALL_CLUSTERS
    pauses = ctx.pauses()
    cleared = pauses.resume(scope)
    # a resume is also the operator's word on tripped circuit breakers: they are cleared, and the
    # breaker stays open-handed for one window so the held faults can go through
    window = ctx.service.settings().policy.guards.breaker.window
    breakers = ctx.breakers().override_breakers(scope, ctx.now() + window)
    what = "every cluster" if scope == ALL_CLUSTERS else f"cluster {scope}"
    lines = [f"resumed {what}" if cleared else f"{what} was not paused"]
    if breakers:
        lines.append(f"cleared {breakers} tripped circuit breaker(s); they re-arm in {window}")
    still = covering(pauses.paused([scope]), scope)
    if still is not None:
        lines.append(f"still held by: {pause_line(still)}")
    data = {
        "scope": scope,
        "resumed": cleared,
        "breakers_cleared": breakers,
        "still_paused_by": pause_json(still) if still else None,
    }
    return Output(data, lines)


def _flag(scope: str) -> str:
    return "" if scope == ALL_CLUSTERS else f" --cluster {scope}"


PAUSE = Command(
    "pause",
    help="stop remediation (one cluster, or all)",
    description="Pause remediation: remediate holds the faults of the paused scope and acts on nothing.",
    arguments=_pause_arguments,
    run=run_pause,
    example='autoheal --stack hyperpod-autoheal-prod pause --cluster ml-cluster --reason "bad AMI rollout"',
)
RESUME = Command(
    "resume",
    help="lift a pause",
    description="Lift a pause set by `autoheal pause` (the same --cluster, or none for the global one).",
    arguments=_resume_arguments,
    run=run_resume,
    example="autoheal --stack hyperpod-autoheal-prod resume --cluster ml-cluster",
)
