"""``python -m hyperpod_local``: serve moto and the local HyperPod control plane until stopped.

Example (a server only, where each real second is a simulated minute)::

    python -m hyperpod_local --port 5000 --scale 60 --seed 7
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing \\
        AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

With ``--stack NAME`` the whole service runs (``make local``): the stack's resources and EventBridge
rules from template.yaml, its functions in-process on their triggers (PutEvents -> intake, the fault
queue -> remediate, reconcile's schedule, the HMA subscriptions), clusters from ``--scenario FILE``
(the demo's format; only its ``clusters`` are used) or two small default ones, and a local
CloudFormation stack NAME for the operator CLI (:mod:`hyperpod_local.live.runtime`)::

    python -m hyperpod_local --stack autoheal-local --scale 60
    autoheal --stack autoheal-local status

The first line printed is the endpoint URL; with ``--stack`` the environment to export, the clusters
and ready-to-inject event files follow. Stops on SIGINT or SIGTERM. Note that the control plane's test
handle (advance, fault injection) is only reachable from this process; a demo that needs it should
start :class:`~hyperpod_local.plane.LocalAws` itself.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hyperpod_local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="simulated seconds per real second (default 1; 60 with --stack)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for ids (reproducible runs)")
    parser.add_argument(
        "--stack", metavar="NAME", help="run the whole stack, named NAME for `autoheal --stack`"
    )
    parser.add_argument(
        "--scenario", metavar="FILE", help="with --stack: create the clusters of this demo scenario file"
    )
    parser.add_argument(
        "--events-dir",
        metavar="DIR",
        type=Path,
        help="with --stack: write the sample events here (default: a temporary directory)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (args.scenario or args.events_dir) and not args.stack:
        print(
            "python -m hyperpod_local: error: --scenario and --events-dir need --stack NAME", file=sys.stderr
        )
        return EXIT_USAGE
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    if args.stack:
        return _serve_stack(args, stop)
    return _serve(args, stop)


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    from hyperpod_local.plane.clock import ControlPlaneClock
    from hyperpod_local.plane.control import ControlPlane
    from hyperpod_local.plane.server import LocalAws

    scale = 1.0 if args.scale is None else args.scale
    control = ControlPlane(clock=ControlPlaneClock(scale=scale), seed=args.seed)
    with LocalAws(control, host=args.host, port=args.port) as local:
        print(local.endpoint_url, flush=True)
        stop.wait()
    return 0


def _serve_stack(args: argparse.Namespace, stop: threading.Event) -> int:
    from hyperpod_local.demo.environment import DemoEnvironment

    # Powertools reads its service name and metrics namespace when the service is first imported
    with DemoEnvironment():
        return _run_stack(args, stop)


def _run_stack(args: argparse.Namespace, stop: threading.Event) -> int:
    from hyperpod_local.demo.scenario_file import ScenarioError, load_scenario
    from hyperpod_local.live.runtime import LiveOptions, LiveStack
    from hyperpod_local.live.seed import default_clusters

    try:
        scenario = load_scenario(args.scenario) if args.scenario else None
    except ScenarioError as exc:
        print(f"python -m hyperpod_local: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = LiveOptions(
        stack=args.stack,
        scale=60.0 if args.scale is None else args.scale,
        clusters=scenario.clusters if scenario else default_clusters(),
        retire_and_restore=bool(scenario and scenario.retire_and_restore),
        seed=args.seed,
        host=args.host,
        port=args.port,
        events_dir=args.events_dir,
    )
    live = LiveStack(options).start()
    try:
        live.describe(sys.stdout)
        stop.wait()
    finally:
        live.stop()
    print(f"local stack {args.stack} stopped ({live.failures} failed invocation(s))", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
