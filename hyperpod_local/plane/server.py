"""``LocalAws``: moto's threaded server on loopback with the local HyperPod control plane installed.

One per process (moto's backends are process-global). Starting takes a few milliseconds after
``import moto`` (~0.2 s). Every AWS service moto implements is served on the same endpoint; the
SageMaker cluster-node calls are answered by :class:`~hyperpod_local.plane.control.ControlPlane`.

In a test::

    def test_x(aws):                      # tests/conftest.py fixture, one server per session
        sm = aws.client("sagemaker")
        ...

In a script::

    with LocalAws(control=ControlPlane(clock=ControlPlaneClock(scale=60))) as local:
        os.environ["AWS_ENDPOINT_URL"] = local.endpoint_url
        ...
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

from hyperpod_local.plane import _moto
from hyperpod_local.plane.control import ControlPlane

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_REGION = "us-east-1"
TEST_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@contextmanager
def in_process(control: ControlPlane) -> Iterator[ControlPlane]:
    """Serve ``control`` in-process, for ``moto.mock_aws()`` users (no server, no port).

    Example::

        with in_process(ControlPlane()) as control, mock_aws():
            sm = boto3.client("sagemaker")
    """
    _moto.install(control)
    try:
        yield control
    finally:
        _moto.uninstall()


class LocalAws:
    """A moto server on a free loopback port, serving the local HyperPod control plane.

    Args:
        control: the control plane to install; a default one (real-time clock) if omitted.
        host: loopback address to bind (anything else is refused).
        port: TCP port; ``0`` picks a free one.
        quiet: silence werkzeug's per-request access log.
    """

    def __init__(
        self,
        control: ControlPlane | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quiet: bool = True,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"LocalAws binds loopback only, not {host!r}")
        self.control = control or ControlPlane()
        self._host = host
        self._port = port
        self._quiet = quiet
        self._server: Any = None
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("LocalAws is not started")
        return self._endpoint_url

    def start(self) -> Self:
        from moto.server import ThreadedMotoServer

        if self._server is not None:
            return self
        if self._quiet:
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _moto.install(self.control)
        server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        try:
            server.start()
        except BaseException:
            _moto.uninstall()
            raise
        host, port = server.get_host_and_port()
        self._server = server
        self._endpoint_url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        return self

    def reset(self) -> None:
        """Reset moto (``POST /moto-api/reset``: every service's state) and the control plane."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"moto reset failed with HTTP {response.status}")
        self.control.reset()

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self._server.stop()
        finally:
            self._server = None
            self._endpoint_url = None
            _moto.uninstall()

    def client(self, service: str, region: str = DEFAULT_REGION, **kwargs: Any) -> Any:
        """A real boto3 client for ``service`` against this endpoint, with test credentials."""
        import boto3

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region_name": region,
            **TEST_CREDENTIALS,
        }
        options.update(kwargs)
        session: Any = boto3.session.Session()  # typed Any: the stubs overload client() per literal name
        return session.client(service, **options)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
