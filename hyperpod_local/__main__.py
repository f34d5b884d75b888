"""``python -m hyperpod_local``: serve moto and the local HyperPod control plane until stopped.

Example (a demo where each real second is a simulated minute)::

    python -m hyperpod_local --port 5000 --scale 60 --seed 7
    export AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=testing \\
        AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1

The first line printed is the endpoint URL. Stops on SIGINT or SIGTERM. Note that the control
plane's test handle (advance, fault injection) is only reachable from this process; a demo that
needs it should start :class:`~hyperpod_local.LocalAws` itself.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from types import FrameType

from hyperpod_local.clock import ControlPlaneClock
from hyperpod_local.control import ControlPlane
from hyperpod_local.server import LocalAws


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyperpod_local", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--scale", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--seed", type=int, default=None, help="seed for ids (reproducible runs)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    control = ControlPlane(clock=ControlPlaneClock(scale=args.scale), seed=args.seed)
    with LocalAws(control, host=args.host, port=args.port) as local:
        print(local.endpoint_url, flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
