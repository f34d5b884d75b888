"""The process environment the demo runs in, and where the service's own output goes.

The handlers read their settings and boto3 its endpoint and credentials from ``os.environ``;
Powertools reads its service name and namespace when ``autoheal.observability`` is first imported.
:class:`DemoEnvironment` sets all of it and puts every variable back afterwards, so the demo can run
inside a test process. :func:`service_output` sends the handlers' JSON logs and EMF blobs (written to
stdout in Lambda) to a sink, so the demo's own stdout stays readable, or pure JSON.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Self

#: What the template's Globals set, and a test identity that can reach nothing but the local endpoint.
BASE_ENV = {
    "POWERTOOLS_SERVICE_NAME": "hyperpod-autoheal",
    "POWERTOOLS_METRICS_NAMESPACE": "HyperPodAutoheal",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
HIDDEN = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


class DemoEnvironment:
    """Sets variables (``set``), remembering each one's previous value; ``restore`` puts them back."""

    def __init__(self) -> None:
        self._saved: dict[str, str | None] = {}

    def set(self, key: str, value: str) -> None:
        self._saved.setdefault(key, os.environ.get(key))
        os.environ[key] = value

    def unset(self, key: str) -> None:
        self._saved.setdefault(key, os.environ.get(key))
        os.environ.pop(key, None)

    def restore(self) -> None:
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()

    def __enter__(self) -> Self:
        for key, value in BASE_ENV.items():
            self.set(key, value)
        for key in HIDDEN:
            self.unset(key)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.restore()


@contextlib.contextmanager
def service_output(sink: IO[str]) -> Iterator[None]:
    """Send the service's logs (Powertools' stream handler) and EMF (printed) to ``sink``."""
    from autoheal.observability import logger

    handler = logger.registered_handler
    previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
