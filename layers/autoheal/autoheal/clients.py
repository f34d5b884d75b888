"""boto3 clients, created on first use (never at import time) and reused across warm invocations.

Endpoints come from boto3's own configuration (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), so
local runs against moto need no plumbing here.
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}

#: SageMaker throttles with ThrottlingException; botocore's standard mode retries it with backoff.
_RETRY_MODE = "standard"
_MAX_ATTEMPTS = 5
#: Connections kept per client, at least what can be in flight at once; botocore keeps 10 by default
#: and would drop the rest after each use. DynamoDB: the claim writes (remediate/pipeline.py, 25 side
#: by side, one pool shared by every call) plus each call in flight's pause re-check and `sending`
#: mark (remediate/lanes.py, 4 calls); SageMaker: the 4 calls. tests/unit checks the bound.
MAX_POOL_CONNECTIONS = 40


def client(service: str, region: str | None = None) -> Any:
    """A cached boto3 client for `service`."""
    key = (service, region)
    with _lock:
        if key not in _clients:
            import boto3  # deferred: keeps module import cheap for cold starts
            from botocore.config import Config

            _clients[key] = boto3.client(
                service,
                region_name=region,
                config=Config(
                    retries={"mode": _RETRY_MODE, "max_attempts": _MAX_ATTEMPTS},
                    max_pool_connections=MAX_POOL_CONNECTIONS,
                ),
            )
        return _clients[key]


def reset() -> None:
    """Forget cached clients (tests that change endpoints between runs)."""
    with _lock:
        _clients.clear()
