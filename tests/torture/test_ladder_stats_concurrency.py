"""The adaptive ladder's aggregates count every concurrent update (UpdateItem ADD is atomic in
DynamoDB). Run on DynamoDB Local only: moto's server applies concurrent UpdateItems to the same item
without serialising them, so a count can be lost there although DynamoDB never loses one."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from typing import Any

from autoheal.adapters.ladder_stats import LedgerLadderStats
from hyperpod_local.stack.resources import create_stack_resources
from tests.torture.dynamodb_local import DynamoDBLocal
from tests.torture.support import SplitAws

DAY = date(2026, 11, 25)
WINDOW = timedelta(days=30)


def test_concurrent_updates_never_lose_a_count(aws: Any, dynamodb_local: DynamoDBLocal) -> None:
    split = SplitAws(aws, dynamodb_local.endpoint_url)
    table = create_stack_resources(split.client, suffix=uuid.uuid4().hex[:8]).table_name

    def bump() -> None:
        own = LedgerLadderStats(split.client("dynamodb"), table, WINDOW)
        for _ in range(5):
            own.record("XidError:48", "reboot", DAY, 1, 0)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counters = LedgerLadderStats(split.client("dynamodb"), table, WINDOW).counters(["XidError:48"])
    assert counters == {"XidError:48": {"2026-11-25#reboot#n": 30}}
