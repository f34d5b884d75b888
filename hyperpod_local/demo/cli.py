"""``python -m hyperpod_local.demo``: the service's main job on a laptop, with no AWS account.

Starts moto (server mode, a free loopback port) with the local HyperPod control plane, creates the
stack's resources from template.yaml and realistic Slurm clusters, and drives an incident through the
real intake and remediate code. Time is simulated: the control plane's clock is frozen and the script
advances it, so a run takes seconds and gives the same counts every time.

Exit codes: 0 done, 2 bad arguments or a bad scenario file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING, Any, NoReturn

from hyperpod_local.demo.builtin import (
    APPROVAL_REQUIRED_FOR,
    DEFAULT_NODES,
    MAX_STORM_NODES,
    RETIRE_AND_RESTORE,
)
from hyperpod_local.demo.scenario_file import Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from hyperpod_local.plane.server import LocalAws

EXIT_OK, EXIT_USAGE = 0, 2
DEFAULT_SEED = 1
BUILTIN_NAME = "built-in incident"


class UsageError(Exception):
    """Bad command-line arguments (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m hyperpod_local.demo",
        description="Run hyperpod-autoheal's main job end to end on a local HyperPod control plane "
        "(moto in-process, simulated time, no AWS account) and summarise what it did.",
        epilog="Scenario file format: hyperpod_local/demo/README.md. Example: hyperpod_local/demo/examples/",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON document (progress: stderr)"
    )
    parser.add_argument(
        "--scenario", metavar="FILE", help="replay your own scenario file instead of the built-in incident"
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=None,
        help=f"GPU faults in the built-in storm, 1..{MAX_STORM_NODES} (default {DEFAULT_NODES}; "
        "the GPU group has max(64, N) nodes)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed for instance, logical and event ids (default {DEFAULT_SEED})",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines, only the summary")
    parser.add_argument("--logs", metavar="FILE", help="write the handlers' JSON logs and EMF output to FILE")
    return parser


def main(
    argv: Sequence[str] | None = None,
    local: LocalAws | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """Run the demo; returns the exit code.

    ``local``: an already started :class:`~hyperpod_local.plane.server.LocalAws` with a frozen clock to run
    in (moto's backends are process-wide, so a test passes its session server); it is reset first.
    Without it the demo starts and stops its own.
    """
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        scenario_name, scenario = _scenario_source(parser, args)
        if local is not None and local.control.clock.scale != 0:
            raise UsageError(
                "error: the LocalAws passed in needs a frozen clock (ControlPlaneClock.frozen())"
            )
    except (UsageError, ScenarioError) as exc:
        print(exc if isinstance(exc, UsageError) else f"error: {exc}", file=err)
        return EXIT_USAGE
    progress_stream = None if args.quiet else (err if args.json else out)

    def progress(line: str) -> None:
        if progress_stream is not None:
            print(line, file=progress_stream, flush=True)

    try:
        sink: IO[str] = open(args.logs, "w", encoding="utf-8") if args.logs else io.StringIO()  # noqa: SIM115
    except OSError as exc:
        print(f"error: --logs {args.logs}: {exc.strerror or exc}", file=err)
        return EXIT_USAGE
    try:
        with sink:
            summary = _run(args, scenario_name, scenario, local, progress, sink)
    except ScenarioError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_USAGE
    if args.json:
        json.dump(summary, out, indent=2)
        out.write("\n")
    else:
        from hyperpod_local.demo.render import render_summary

        out.write(render_summary(summary))
    out.flush()
    return EXIT_OK


def _scenario_source(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> tuple[str, Scenario | None]:
    """The scenario's name, and the scenario when it is a file (the built-in one needs the runtime)."""
    if args.scenario is not None:
        if args.nodes is not None:
            parser.error("--nodes scales the built-in incident; it does not apply to --scenario")
        return args.scenario, load_scenario(args.scenario)
    nodes = DEFAULT_NODES if args.nodes is None else args.nodes
    if not 1 <= nodes <= MAX_STORM_NODES:
        parser.error(f"--nodes must be between 1 and {MAX_STORM_NODES}, not {nodes}")
    args.nodes = nodes
    return BUILTIN_NAME, None


def _run(
    args: argparse.Namespace,
    name: str,
    scenario: Scenario | None,
    local: LocalAws | None,
    progress: Callable[[str], None],
    sink: IO[str],
) -> dict[str, Any]:
    from hyperpod_local.demo.environment import DemoEnvironment, service_output

    with ExitStack() as stack:
        env = stack.enter_context(DemoEnvironment())
        # Imported only now: Powertools reads POWERTOOLS_* when autoheal.observability is first imported.
        from autoheal import clients
        from hyperpod_local.demo import render
        from hyperpod_local.demo.builtin import incident
        from hyperpod_local.demo.script import ScriptRunner
        from hyperpod_local.demo.summary import build_summary, guards_summary, switches_summary
        from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws
        from hyperpod_local.stack.guards import RELAXED
        from hyperpod_local.stack.world import LocalWorld

        if local is None:
            local = stack.enter_context(
                LocalAws(ControlPlane(clock=ControlPlaneClock.frozen(), seed=args.seed))
            )
            progress(f"local AWS (moto + HyperPod control plane) on {local.endpoint_url}")
        else:
            local.reset()
            progress(f"local AWS (moto + HyperPod control plane) on {local.endpoint_url} (reset)")
        env.set("AWS_ENDPOINT_URL", local.endpoint_url)
        stack.callback(clients.reset)
        stack.enter_context(service_output(sink))
        retire = RETIRE_AND_RESTORE if scenario is None else scenario.retire_and_restore
        switched = {"AUTOHEAL_RETIRE_AND_RESTORE": "true"} if retire else {}
        gated = APPROVAL_REQUIRED_FOR if scenario is None else scenario.approval_required_for
        if gated:
            switched["AUTOHEAL_APPROVAL_REQUIRED_FOR"] = ",".join(gated)
        world = LocalWorld(local, env.set, env=switched)
        progress(
            f"stack from template.yaml: table {world.stack.table_name}, queue {world.stack.queue_url.rsplit('/', 1)[-1]}, "
            f"topic {world.stack.topic_arn.rsplit(':', 1)[-1]}"
        )
        # the guard settings the handlers really run with (LocalWorld relaxes them), against a deployment's
        guards = guards_summary({k: os.environ[k] for k in RELAXED if k in os.environ}, world.stack.env())
        if guards["relaxed"]:
            progress(render.guards_line(guards))
        switches = switches_summary(switched, world.stack.env())
        if switches["changed"]:
            progress(render.switches_line(switches))
        if gated:
            progress(f"switches: approval required for {', '.join(gated)} in the demo (deployed: none)")
        timings = local.control.timings
        if scenario is None:
            grace = world.settings.policy.recurrence_grace.total_seconds()
            claim_ttl = world.settings.policy.claim_ttl.total_seconds()
            scenario = incident(
                args.nodes, seed=args.seed, timings=timings, grace_seconds=grace, claim_ttl_seconds=claim_ttl
            )
        progress(f"scenario: {scenario.description}")
        record = ScriptRunner(world, scenario, progress, random.Random(args.seed)).run()
        return build_summary(
            record, name=name, seed=args.seed, timings=timings, guards=guards, switches=switches
        )
