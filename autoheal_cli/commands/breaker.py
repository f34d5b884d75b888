"""`autoheal breaker reset --cluster C [--group G] [--for DURATION] [--yes] [--reason TEXT]`: override
a circuit breaker, explicitly (`--fleet` instead of `--cluster`: reset the fleet breaker, see
`fleet_breaker`; `autoheal breaker` alone shows the fleet breaker and every breaker tripped).

A breaker trips when too many nodes of an instance group (or of a cluster) are under remediation at
once, and holds their faults. Resetting it clears the tripped breakers of the cluster (with --group:
of that instance group only; the cluster-wide breaker still counts every group) and keeps them from
tripping again for DURATION (default: the breaker window): the held faults are then acted on. The
command shows what it would let through, and asks for confirmation unless --yes (without a terminal to
ask on, it refuses). The override records who (the caller's AWS identity), when and why; `status`
shows it until it expires.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from autoheal.adapters.control import covers
from autoheal.core.state import NodeStatus
from autoheal_cli.commands import fleet_breaker
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.commands.status import breaker_json, breaker_line
from autoheal_cli.errors import EXIT_ERROR, EXIT_NOT_FOUND, CliError
from autoheal_cli.render import Output, cell

#: The longest override one command may set: a breaker is a safety guard, not a switch to leave off.
MAX_OVERRIDE = timedelta(hours=24)
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_BREAKER_HOLD = "breaker_open"


def parse_duration(text: str) -> timedelta:
    """`90s`, `30m`, `2h`, `1h30m`: a positive duration of at most `MAX_OVERRIDE`."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise CliError(f"--for must be a duration such as 30m, 2h or 1h30m, not {text!r}")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    duration = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    if not timedelta(0) < duration <= MAX_OVERRIDE:
        raise CliError(f"--for must be more than 0 and at most {MAX_OVERRIDE}, not {text!r}")
    return duration


def _reset_arguments(parser: argparse.ArgumentParser) -> None:
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--cluster", help="the cluster whose breakers to reset (name or ARN)")
    scope.add_argument(
        "--fleet", action="store_true", help="reset the fleet breaker (every cluster's actions)"
    )
    parser.add_argument("--group", help="only this instance group's breaker (the cluster-wide one stays)")
    parser.add_argument(
        "--for",
        dest="duration",
        metavar="DURATION",
        help="how long the override lasts (default: the breaker window)",
    )
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--reason", default="", help="why (recorded with the override, shown by `status`)")


def run_reset(ctx: Context, args: argparse.Namespace) -> Output:
    if args.fleet:
        if args.group is not None:
            raise CliError("--group names a cluster's instance group: not with --fleet")
        return fleet_breaker.run_reset(ctx, args, _duration(ctx, args), _confirmed)
    info = ctx.cluster_info(args.cluster)
    cluster = info.name
    if args.group is not None and args.group not in info.groups:
        known = ", ".join(sorted(info.groups)) or "none"
        raise CliError(
            f"cluster {cluster} has no instance group {args.group!r} (groups: {known})", EXIT_NOT_FOUND
        )
    duration = _duration(ctx, args)
    now = ctx.now()
    scope = f"{cluster}/{args.group}" if args.group else cluster
    tripped, _ = ctx.breakers().records(now)
    tripped = [b for b in tripped if covers(scope, b.label)]
    held = [
        h
        for h in ctx.open_nodes().open_nodes(cluster)
        if h.status is NodeStatus.HELD
        and h.hold == _BREAKER_HOLD
        and (args.group is None or h.instance_group == args.group)
    ]
    until = now + duration
    preview = _preview(scope, tripped, len(held), duration, until)
    data: dict[str, Any] = {
        "scope": scope,
        "cluster": cluster,
        "group": args.group,
        "breakers": [breaker_json(b) for b in tripped],
        "held_faults": len(held),
        "until": until,
        "reason": args.reason,
        "overridden": False,
    }
    if not args.yes and not _confirmed(preview):
        return Output(data, [*preview, "not confirmed: nothing changed"])
    by = ctx.caller()
    cleared = ctx.breakers().override_breakers(
        cluster, until, group=args.group, by=by, reason=args.reason, now=now
    )
    data.update(overridden=True, cleared=cleared, by=by, at=now)
    lines = [
        *preview,
        f"overridden by {by}: {cleared} tripped breaker(s) cleared; {scope} will not trip until {cell(until)}",
    ]
    return Output(data, lines)


def _duration(ctx: Context, args: argparse.Namespace) -> timedelta:
    if args.duration:
        return parse_duration(args.duration)
    return ctx.service.settings().policy.guards.breaker.window


def _preview(scope: str, tripped: list[Any], held: int, duration: timedelta, until: Any) -> list[str]:
    lines = [f"breaker reset for {scope}: no breaker will hold it for {duration} (until {cell(until)})"]
    if tripped:
        lines += ["  it lets through:"] + [f"    {breaker_line(b)}" for b in tripped]
    else:
        lines.append("  no breaker is tripped there now: this only keeps one from tripping")
    lines.append(f"  {held} fault(s) held by the breaker will be acted on when they come back")
    return lines


def _confirmed(preview: list[str]) -> bool:
    """Ask on the terminal. Without one (a pipe, a script, no stdin), refuse: --yes says it on purpose."""
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise CliError(
            "breaker reset needs confirmation and there is no terminal to ask on: pass --yes to override "
            "without asking",
            EXIT_ERROR,
        )
    print("\n".join(preview), file=sys.stderr)
    print("override the circuit breaker? [y/N] ", end="", file=sys.stderr, flush=True)
    return stdin.readline().strip().lower() in ("y", "yes")


@dataclass(frozen=True)
class _Group(Command):
    """A command with sub-commands of its own (`autoheal breaker reset`), each given the global flags."""

    actions: tuple[Command, ...] = ()

    def register(self, commands: Any, parents: list[argparse.ArgumentParser]) -> None:
        parser = commands.add_parser(
            self.name,
            parents=parents,
            help=self.help,
            description=self.description,
            epilog=f"example:\n  {self.example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(run=self.run)  # no action: the command's own (`breaker`: show)
        actions = parser.add_subparsers(dest=f"{self.name}_action", metavar="ACTION")
        for action in self.actions:
            action.register(actions, parents)


RESET = Command(
    "reset",
    help="override a tripped circuit breaker for a while (asks first)",
    description=(__doc__ or "").split("\n\n")[1].replace("\n", " "),
    arguments=_reset_arguments,
    run=run_reset,
    example='autoheal --stack hyperpod-autoheal-prod breaker reset --cluster ml-cluster --group gpu-a --for 30m --reason "failures are real: rack power"',
)
COMMAND = _Group(
    "breaker",
    help="circuit breakers: show the fleet breaker and tripped breakers; reset (override) one, on the record",
    description=(
        "Circuit breakers: alone, shows the fleet breaker and every tripped breaker; `reset` overrides "
        "the tripped breakers of a cluster or group for a while, `reset --fleet` the fleet breaker."
    ),
    run=fleet_breaker.run_show,
    example=RESET.example,
    actions=(RESET,),
)
