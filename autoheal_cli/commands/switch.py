"""`autoheal pause` / `autoheal resume` `[--cluster C]`: the kill switch remediate reads every invocation.

A pause is an item in the ledger table (`autoheal.adapters.control`): no redeploy. While a cluster (or,
without --cluster, every cluster: scope `*`) is paused, remediate holds its faults and calls nothing
mutating; `resume` lifts the pause, and nothing else (a tripped circuit breaker stays tripped: that is
`autoheal breaker reset`). A cluster is given by name or ARN and stored under its name; one that does
not exist is refused (exit 1). A second `pause` keeps the first one's record unless `--force`.
"""

from __future__ import annotations

import argparse

from autoheal.adapters.control import ALL_CLUSTERS, AlreadyPaused, covering
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import pause_json, pause_line
from autoheal_cli.render import Output


def _pause_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="pause this cluster only (name or ARN); default: every cluster")
    parser.add_argument("--reason", default="", help="why (shown by `status` and stored with the pause)")
    parser.add_argument(
        "--force", action="store_true", help="replace the record (who, when, why) of a pause already in force"
    )


def _resume_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cluster", help="resume this cluster (name or ARN); default: the global pause")


def _scopes(ctx: Context, ref: str | None) -> tuple[str, list[str]]:
    """The pause scope a --cluster names (its name, or `*`), and every key a pause of it may be stored
    under: its name, and its ARN (an older CLI stored `pause --cluster <ARN>` under the ARN)."""
    if ref is None:
        return ALL_CLUSTERS, [ALL_CLUSTERS]
    info = ctx.cluster_info(ref)
    return info.name, [info.name, *([info.arn] if info.arn else [])]


def run_pause(ctx: Context, args: argparse.Namespace) -> Output:
    scope, _ = _scopes(ctx, args.cluster)
    try:
        pause = ctx.pauses().pause(
            scope, by=ctx.caller(), reason=args.reason, now=ctx.now(), force=args.force
        )
    except AlreadyPaused as already:
        kept = already.pause
        lines = [
            f"already paused: {pause_line(kept)}",
            f"the pause is kept as it was; to replace its reason: autoheal pause{_flag(scope)} --force --reason TEXT",
        ]
        return Output({"paused": pause_json(kept), "already_paused": True}, lines)
    replaced = " (replaced the earlier pause)" if args.force else ""
    return Output(
        {"paused": pause_json(pause), "already_paused": False},
        [pause_line(pause) + replaced, f"resume with: autoheal resume{_flag(scope)}"],
    )


def run_resume(ctx: Context, args: argparse.Namespace) -> Output:
    scope, keys = _scopes(ctx, args.cluster)
    pauses = ctx.pauses()
    cleared = [key for key in keys if pauses.resume(key)]
    what = "every cluster" if scope == ALL_CLUSTERS else f"cluster {scope}"
    lines = [f"resumed {what}" if cleared else f"{what} was not paused: nothing to do"]
    still = covering(pauses.paused([scope]), scope)
    if still is not None:
        lines.append(f"still held by: {pause_line(still)}")
    data = {
        "scope": scope,
        "resumed": bool(cleared),
        "still_paused_by": pause_json(still) if still else None,
    }
    return Output(data, lines)


def _flag(scope: str) -> str:
    return "" if scope == ALL_CLUSTERS else f" --cluster {scope}"


PAUSE = Command(
    "pause",
    help="stop remediation (one cluster, or all)",
    description="Pause remediation: remediate holds the faults of the paused scope and acts on nothing. "
    "A pause already in force is kept (and shown) unless --force replaces its reason.",
    arguments=_pause_arguments,
    run=run_pause,
    example='autoheal --stack hyperpod-autoheal-prod pause --cluster ml-cluster --reason "bad AMI rollout"',
)
RESUME = Command(
    "resume",
    help="lift a pause (and nothing else)",
    description="Lift a pause set by `autoheal pause` (the same --cluster, or none for the global one). "
    "Tripped circuit breakers are not touched: see `autoheal breaker reset`.",
    arguments=_resume_arguments,
    run=run_resume,
    example="autoheal --stack hyperpod-autoheal-prod resume --cluster ml-cluster",
)
