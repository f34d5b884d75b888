"""boto3 clients for one CLI run: region, endpoint and profile from the flags, else boto3's own chain.

A loopback endpoint (`--endpoint-url` or AWS_ENDPOINT_URL: the local moto server) gets moto's test
credentials when none are configured, so `autoheal --endpoint-url http://127.0.0.1:5000 status` needs no
AWS setup.
`ReadOnlyClient` wraps a client so that only reads go through (the dry run's belt and braces).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from autoheal_cli.errors import CliError, MutatingCallRefused

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_CREDENTIAL_ENV = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE")
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 60


def check_endpoint(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliError(f"--endpoint-url must be an http(s) URL such as http://127.0.0.1:5000, not {url!r}")
    return url


def is_loopback(url: str | None) -> bool:
    return url is not None and urlsplit(url).hostname in LOOPBACK_HOSTS


class Clients:
    """A `service -> client` factory (what the adapters and `build_deps` take), one client per service."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.endpoint_url = check_endpoint(endpoint_url) if endpoint_url else None
        self._region = region
        self._profile = profile
        self._environ = os.environ if environ is None else environ
        self._session: Any = None
        self._clients: dict[str, Any] = {}

    @property
    def endpoint(self) -> str | None:
        """The endpoint the clients talk to when it is not AWS's: the flag, else AWS_ENDPOINT_URL."""
        return self.endpoint_url or self._environ.get("AWS_ENDPOINT_URL") or None

    @property
    def region(self) -> str | None:
        return self._region or self._environ.get("AWS_REGION") or self._environ.get("AWS_DEFAULT_REGION")

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard"},  # attempts: AWS_MAX_ATTEMPTS, else botocore's 3
                connect_timeout=CONNECT_TIMEOUT,
                read_timeout=READ_TIMEOUT,
                user_agent_extra="autoheal-cli",
            )
            self._clients[service] = self._boto_session().client(
                service, endpoint_url=self.endpoint_url, config=config
            )
        return self._clients[service]

    def _boto_session(self) -> Any:
        if self._session is None:
            import boto3

            options: dict[str, Any] = {"region_name": self._region, "profile_name": self._profile}
            if is_loopback(self.endpoint) and not self._has_credentials_config():
                options.update(LOCAL_CREDENTIALS)
            self._session = boto3.session.Session(**options)
        return self._session

    def _has_credentials_config(self) -> bool:
        return self._profile is not None or any(self._environ.get(name) for name in _CREDENTIAL_ENV)


#: Client methods that only read (SageMaker List*/Describe*, DynamoDB reads, SQS/SNS Get*).
READ_PREFIXES = ("list_", "describe_", "get_", "batch_get_", "query", "scan")
_PASSTHROUGH = frozenset({"meta", "exceptions", "can_paginate"})


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


class ReadOnlyClient:
    """A boto3 client that refuses, before sending anything, every method that is not a read."""

    def __init__(self, service: str, client: Any) -> None:
        self._service = service
        self._client = client

    def get_paginator(self, operation_name: str) -> Any:
        if not is_read(operation_name):
            raise MutatingCallRefused(f"dry run refused to paginate {self._service}.{operation_name}")
        return self._client.get_paginator(operation_name)

    def __getattr__(self, name: str) -> Any:
        if name in _PASSTHROUGH or is_read(name):
            return getattr(self._client, name)
        service = self._service

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise MutatingCallRefused(f"dry run refused a mutating call: {service}.{name}")

        return refuse


def read_only(clients: Callable[[str], Any]) -> Callable[[str], Any]:
    """A `service -> client` factory whose clients only read."""
    return lambda service: ReadOnlyClient(service, clients(service))
