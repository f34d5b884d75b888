"""``python -m hyperpod_local``: serve moto and the local HyperPod control plane until stopped.

Example (a demo where each real second is a simulated minute)::

    python -m hyperpod_local --port 5000 --scale 60 --seed 7
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing \\
        AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

With ``--stack NAME``, the stack's table, queues and topic are created from template.yaml and a local
CloudFormation stack NAME names them in its Outputs, for the operator CLI::

    python -m hyperpod_local --port 5000 --stack autoheal-local
    autoheal --endpoint-url http://127.0.0.1:5000 --stack autoheal-local status

The first line printed is the endpoint URL. Stops on SIGINT or SIGTERM. Note that the control
plane's test handle (advance, fault injection) is only reachable from this process; a demo that
needs it should start :class:`~hyperpod_local.plane.LocalAws` itself.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.control import ControlPlane
from hyperpod_local.plane.server import LocalAws
from hyperpod_local.stack.resources import create_stack_resources, register_stack


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperpod_local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids (reproducible runs)")
    parser.add_argument(
        "--stack", metavar="NAME", help="create the stack's resources and a local CloudFormation stack NAME"
    )
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    control = ControlPlane(clock=ControlPlaneClock(scale=args.scale), seed=args.seed)
    with LocalAws(control, host=args.host, port=args.port) as local:
        print(local.endpoint_url, flush=True)
        if args.stack:
            resources = create_stack_resources(local.client, suffix=args.stack)
            register_stack(local.client("cloudformation"), args.stack, resources)
            print(
                f"stack {args.stack}: table {resources.table_name}, queue {resources.queue_url}", flush=True
            )
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
