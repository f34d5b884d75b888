"""`autoheal`: inspect and steer hyperpod-autoheal, deployed (`--stack`) or local (`--endpoint-url`).

Every failure is one line on stderr and a distinct exit code (`errors.EXIT_CODES`, listed in `--help`):
0 success (including "nothing to do"), 1 the cluster/node/approval asked for does not exist, 2 a usage
error, 3 an AWS or service error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata

from autoheal.observability import logger as service_logger
from autoheal_cli import __version__
from autoheal_cli.aws import Clients
from autoheal_cli.commands import (
    approvals,
    breaker,
    history,
    ladder,
    plan,
    release,
    replay,
    selftest,
    status,
    switch,
    waves,
)
from autoheal_cli.commands.command import Command
from autoheal_cli.commands.context import Context
from autoheal_cli.errors import EXIT_CODES, EXIT_INTERRUPTED, HANDLED, Where, exit_code, explain
from autoheal_cli.render import Output
from autoheal_cli.resolve import ENV_QUEUE, ENV_TABLE, resolve

PROG = "autoheal"
DISTRIBUTION = "hyperpod-autoheal"
#: Every sub-command, in the order of the help.
COMMANDS: tuple[Command, ...] = (
    status.COMMAND,
    history.COMMAND,
    ladder.COMMAND,
    switch.PAUSE,
    switch.RESUME,
    breaker.COMMAND,
    waves.COMMAND,
    release.COMMAND,
    approvals.LIST,
    approvals.APPROVE,
    approvals.DENY,
    replay.COMMAND,
    plan.COMMAND,
    selftest.COMMAND,
)
EXAMPLES = "examples:\n" + "".join(f"  {c.example}\n" for c in COMMANDS if c.example)
EPILOG = EXAMPLES + "\nexit codes:\n" + "".join(f"  {code:<3}  {what}\n" for code, what in EXIT_CODES)


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return __version__


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The global flags. On subcommands they default to SUPPRESS, so that they may come before or after
    the subcommand without the subparser's defaults overwriting what was given before it."""

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    group = parser.add_argument_group("where")
    group.add_argument(
        "--stack", default=default(None), help="CloudFormation stack: table, queue and topic from its Outputs"
    )
    group.add_argument(
        "--table", default=default(None), help=f"ledger table name (else the stack's, else ${ENV_TABLE})"
    )
    group.add_argument(
        "--queue-url", default=default(None), help=f"fault queue URL (else the stack's, else ${ENV_QUEUE})"
    )
    group.add_argument("--region", default=default(None), help="AWS region (else AWS_REGION / the profile's)")
    group.add_argument(
        "--profile", default=default(None), help="AWS profile (else AWS_PROFILE / the default chain)"
    )
    group.add_argument(
        "--endpoint-url",
        default=default(None),
        help="a local endpoint, e.g. http://127.0.0.1:5000 (the local moto server); else AWS_ENDPOINT_URL / AWS",
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--json", action="store_true", default=default(False), help="one JSON document on stdout"
    )
    output.add_argument(
        "--verbose", action="store_true", default=default(False), help="the service's own logs, on stderr"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(__doc__ or "").splitlines()[0],
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands, [common])
    return parser


def main(
    argv: Sequence[str] | None = None,
    now: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Run one command; `now` and `sleep` replace the clock and the wait between polls (tests)."""
    args = build_parser().parse_args(argv)
    where = Where(endpoint_url=args.endpoint_url, region=args.region)
    try:
        with _service_logs(verbose=args.verbose):
            clients = Clients(region=args.region, endpoint_url=args.endpoint_url, profile=args.profile)
            where = Where(endpoint_url=clients.endpoint, region=clients.region)
            service = resolve(
                clients,
                stack=args.stack,
                table=args.table,
                queue_url=args.queue_url,
                environ=os.environ,
                region=clients.region,
            )
            where = Where(clients.endpoint, clients.region, service.table_name, service.queue_url)
            context = Context(clients, service, now or _utcnow, sleep or time.sleep)
            output: Output = args.run(context, args)
    except HANDLED as exc:
        print(f"{PROG}: error: {explain(exc, where)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(output.render(args.json))
    return output.code


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _service_logs(*, verbose: bool) -> Iterator[None]:
    """The adapters log through the functions' Powertools logger, which writes JSON to stdout at INFO:
    for the CLI, send it to stderr, and only warnings unless --verbose. Restored afterwards."""
    handler = service_logger.registered_handler
    stream = getattr(handler, "stream", None)
    level = service_logger.log_level
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    service_logger.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        service_logger.setLevel(level)
        if isinstance(handler, logging.StreamHandler) and stream is not None:
            handler.setStream(stream)


if __name__ == "__main__":
    raise SystemExit(main())
