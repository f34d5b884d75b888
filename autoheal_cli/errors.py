"""One-line messages for the failures an operator can fix; everything else is a bug and raises.

`explain` walks an exception's chain (adapters wrap botocore errors in their own, `from` the original)
and names the cause by type or AWS error code, never by message text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
    TokenRetrievalError,
)

from autoheal.adapters.directory import ClusterUnreachable
from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.queue import QueueError

EXIT_OK = 0  # done, including "nothing to do"
EXIT_NOT_FOUND = 1  # the cluster, node or approval asked for does not exist
EXIT_USAGE = 2  # a usage error: bad flag or argument, unreadable file, no table/queue named
EXIT_SERVICE = 3  # an AWS or service error: credentials, access denied, throttling, stack/table missing
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_ERROR = EXIT_USAGE  # the older name of EXIT_USAGE

#: The exit codes, for `--help` and the README (a test keeps them in step).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (EXIT_OK, 'success, including "nothing to do"'),
    (EXIT_NOT_FOUND, "the cluster, node or approval asked for does not exist"),
    (EXIT_USAGE, "usage error (bad flag, argument or file; no table or queue named)"),
    (EXIT_SERVICE, "AWS or service error (credentials, access denied, throttling, stack or table not found)"),
    (EXIT_INTERRUPTED, "interrupted"),
)

_REJECTED_CREDENTIALS = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
    }
)
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException"})
_QUEUE_MISSING = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})


class MutatingCallRefused(RuntimeError):
    """A dry run tried to call something that is not a read. A bug: nothing was sent."""


class CliError(Exception):
    """A failure with a message for the operator (by default a usage error, exit code 2)."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


#: Errors `main` turns into one line and an exit code (`exit_code`); anything else is a bug: a traceback.
HANDLED: tuple[type[BaseException], ...] = (
    CliError,
    BotoCoreError,
    ClientError,
    LedgerError,
    QueueError,
    MutatingCallRefused,
    ClusterUnreachable,
)


@dataclass(frozen=True)
class Where:
    """What the command was talking to, to name it in messages."""

    endpoint_url: str | None = None
    region: str | None = None
    table_name: str | None = None
    queue_url: str | None = None


def exit_code(exc: BaseException) -> int:
    """A `CliError` carries its code, except that one raised from an AWS error (a stack that does not
    exist) is that AWS error; every other handled error is AWS's or the service's."""
    if not isinstance(exc, CliError):
        return EXIT_SERVICE
    from_aws = any(isinstance(cause, ClientError | BotoCoreError) for cause in _chain(exc))
    return EXIT_SERVICE if exc.code == EXIT_USAGE and from_aws else exc.code


def explain(exc: BaseException, where: Where) -> str:
    """The one line to print for a handled error."""
    for cause in _chain(exc):
        message = _explain_one(cause, where)
        if message is not None:
            return message
    return f"{type(exc).__name__}: {exc}"


def _explain_one(exc: BaseException, where: Where) -> str | None:
    if isinstance(exc, CliError):
        return exc.message
    if isinstance(exc, MutatingCallRefused):
        return f"{exc} (a bug: nothing was sent)"
    if isinstance(exc, ClusterUnreachable):
        detail = f": {exc.message}" if exc.message else ""
        return f"cluster {exc.cluster} cannot be read ({exc.code}){detail}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | TokenRetrievalError):
        return (
            "no AWS credentials found: set AWS_PROFILE (or --profile), run `aws sso login`, "
            f"or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY ({type(exc).__name__})"
        )
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_REGION"
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile not found: {exc.kwargs.get('profile', '?')}"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError):
        url = exc.kwargs.get("endpoint_url") or where.endpoint_url or "the AWS endpoint"
        hint = " (is the local server running?)" if where.endpoint_url else ""
        return f"cannot reach {url}{hint} ({type(exc).__name__})"
    if isinstance(exc, ReadTimeoutError):
        return f"no answer from {exc.kwargs.get('endpoint_url', 'the AWS endpoint')} (ReadTimeoutError)"
    if isinstance(exc, ClientError):
        return _client_error(exc, where)
    return None


def _client_error(exc: ClientError, where: Where) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    query_code = str(error.get("QueryErrorCode", ""))
    text = str(error.get("Message", "")).strip()
    region = f" in {where.region}" if where.region else ""
    if code == "ResourceNotFoundException" and where.table_name:
        return (
            f"ledger table {where.table_name!r} not found{region} (ResourceNotFoundException): "
            "check --stack/--table and --region"
        )
    if code in _QUEUE_MISSING or query_code in _QUEUE_MISSING:
        return f"fault queue {where.queue_url or '?'} does not exist (QueueDoesNotExist): check --stack/--queue-url"
    if code in _REJECTED_CREDENTIALS:
        return f"AWS rejected the credentials ({code}): {text}"
    if code in _ACCESS_DENIED:
        return f"access denied to {exc.operation_name} ({code}): {text}"
    return f"{exc.operation_name} failed ({code}): {text}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what it was raised from (or during), outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
