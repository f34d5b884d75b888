"""AWS-like round trips on the local server: a fixed delay before every request botocore sends to a
service, so the design is judged under realistic latencies, not only loopback.

The delays are per request (one `before-send` event per HTTP request, retries included), added on the
client side of boto3's default session, where `autoheal.clients` builds its clients.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

#: Typical same-region request latencies (orders of magnitude, not measurements): a DynamoDB item
#: request ~5 ms; a SageMaker control-plane request ~100 ms.
AWS_LIKE: Mapping[str, float] = {"dynamodb": 0.005, "sagemaker": 0.100}


class Latency:
    """Sleeps `delays[service]` seconds before each request to that service, only while `active`."""

    def __init__(self, delays: Mapping[str, float]) -> None:
        self.delays = dict(delays)
        self.active = False

    def install(self, session: Any) -> None:
        for service in self.delays:
            session.events.register(f"before-send.{service}", self._before_send)

    def _before_send(self, request: Any = None, event_name: str = "", **_: Any) -> None:
        if not self.active:
            return
        service = event_name.split(".")[1] if "." in event_name else ""
        delay = self.delays.get(service, 0.0)
        if delay:
            time.sleep(delay)
