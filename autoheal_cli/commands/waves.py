"""`autoheal waves [release|stop EPISODE --reason TEXT]`: canary waves for correlated faults.

Without an action: every wave record (one Query of its partition) -- each episode's id, cluster, group
and signal, phase (wave: a wave waits for reconcile's verification; stopped: the rest are held; done;
released), how many nodes reported, were released, verified and are held, and why it stopped.
`release EPISODE` lets the held faults go (they act as they come back, still inside the circuit
breaker); `stop EPISODE` holds the rest (they go to a human past the hold ceiling). Both record who
(the caller's AWS identity) and why.
"""

from __future__ import annotations

import argparse
from typing import Any

from autoheal.adapters.waves import LedgerWaves
from autoheal.core.canary import Phase, WaveRecord, operator
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.errors import EXIT_NOT_FOUND, CliError
from autoheal_cli.render import Output, table

HEADERS = (
    "episode",
    "cluster",
    "group",
    "signal",
    "phase",
    "wave",
    "reported",
    "released",
    "verified",
    "held",
)
#: Phases an operator may still change.
OPEN_PHASES = frozenset({Phase.WAVE, Phase.STOPPED})


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", nargs="?", choices=("list", "release", "stop"), default="list")
    parser.add_argument("episode", nargs="?", help="the episode id (w-xxxxxxxx) to release or stop")
    parser.add_argument("--reason", default="", help="why (recorded with the episode)")


def run(ctx: Context, args: argparse.Namespace) -> Output:
    waves = LedgerWaves(ctx.clients("dynamodb"), ctx.service.require_table())
    if args.action == "list":
        return _list(waves.all())
    if not args.episode:
        raise CliError(f"`waves {args.action}` needs an EPISODE id (see `autoheal waves`)")
    return _decide(ctx, waves, args.episode, args.action == "release", args.reason)


def _list(records: list[WaveRecord]) -> Output:
    episodes = [r for r in records if r.episode is not None]
    data: dict[str, Any] = {"episodes": [wave_json(r) for r in episodes]}
    if not episodes:
        return Output(data, ["no canary wave episode: no correlated fault seen"])
    cells = [_row(r) for r in episodes]
    why = [f"{r.episode}: {r.reason}" for r in episodes if r.reason]
    return Output(data, [*table(HEADERS, cells), *why])


def _row(r: WaveRecord) -> tuple[Any, ...]:
    key = r.key
    return (r.episode, key.cluster, key.group, key.signal, r.phase.value, r.wave, r.count, *_counts(r))


def _counts(r: WaveRecord) -> tuple[int, int, int]:
    return len(r.released), len(r.verified), r.waiting


def wave_json(r: WaveRecord) -> dict[str, Any]:
    return {
        "episode": r.episode,
        "cluster": r.key.cluster,
        "group": r.key.group,
        "signal": r.key.signal,
        "phase": r.phase,
        "wave": r.wave,
        "reported": r.count,
        "released": sorted(r.released),
        "current": list(r.current),
        "verified": list(r.verified),
        "held": r.waiting,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "reason": r.reason,
    }


def _decide(ctx: Context, waves: LedgerWaves, episode: str, release: bool, reason: str) -> Output:
    by = ctx.caller() + (f": {reason}" if reason else "")
    for _ in range(3):  # a record written meanwhile (remediate, reconcile) is read again
        found = next((r for r in waves.all() if r.episode == episode), None)
        if found is None:
            raise CliError(f"no canary wave episode {episode!r} (see `autoheal waves`)", EXIT_NOT_FOUND)
        if found.phase not in OPEN_PHASES:
            return Output({"episode": wave_json(found)}, [f"{episode} is {found.phase.value}: nothing to do"])
        after = operator(found, release, by, ctx.now())
        if waves.put(after, ctx.now()):
            what = (
                "released: the held faults act as they come back"
                if release
                else "stopped: the rest stay held"
            )
            return Output({"episode": wave_json(after)}, [f"{episode} {what} ({after.waiting} held)"])
    raise CliError(f"episode {episode!r} kept changing; try again")


COMMAND = Command(
    "waves",
    help="canary waves for correlated faults: list episodes, release or stop one",
    description=(__doc__ or "").split("\n\n")[0],
    arguments=_arguments,
    run=run,
    example="autoheal --stack hyperpod-autoheal-prod waves release w-1a2b3c4d --reason 'driver rollback done'",
)
