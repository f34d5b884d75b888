"""Shared fixtures: one local AWS endpoint (moto + the local HyperPod control plane) per session.

``hyperpod_local.plane`` (and so moto) is imported lazily inside the fixtures, so unit-test runs that never
ask for them pay nothing. No socket blocking here: ``tests/unit`` has its own conftest for that.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from hyperpod_local.plane import ControlPlane, LocalAws

TEST_REGION = "us-east-1"


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    """moto's threaded server on a free loopback port with the control plane installed.

    The control plane's clock is frozen: simulated time moves only with ``control.advance(seconds)``,
    so node operations (reboot 120 s, replace 600 s, ...) complete exactly when a test says so.
    """
    from hyperpod_local.plane import ControlPlane, ControlPlaneClock, LocalAws

    with LocalAws(ControlPlane(clock=ControlPlaneClock.frozen())) as local:
        yield local


@dataclass(frozen=True)
class AwsEnv:
    """What the ``aws`` fixture yields."""

    local: LocalAws

    @property
    def endpoint_url(self) -> str:
        return self.local.endpoint_url

    @property
    def control(self) -> ControlPlane:
        return self.local.control

    def client(self, service: str, **kwargs: Any) -> Any:
        """A real boto3 client against the local endpoint (extra kwargs go to ``Session.client``)."""
        return self.local.client(service, region=TEST_REGION, **kwargs)


@pytest.fixture
def aws(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> AwsEnv:
    """Fresh moto and control-plane state, and an environment that points boto3 at it.

    Sets ``AWS_ENDPOINT_URL`` (so code that builds its own clients needs no endpoint plumbing),
    test credentials and ``AWS_DEFAULT_REGION``; hides any profile or shared config of the machine.
    """
    local_aws.reset()
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_REGION", TEST_REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return AwsEnv(local_aws)


@pytest.fixture(autouse=True)
def _cold_tag_cache() -> Iterator[None]:
    """Each test starts as a cold Lambda container: no cluster tags kept from an earlier test."""
    from autoheal.adapters.directory import WARM_TAGS

    WARM_TAGS.clear()
    yield
    WARM_TAGS.clear()
