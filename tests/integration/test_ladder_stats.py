"""The adaptive ladder's aggregates (`LedgerLadderStats`) on the local DynamoDB: the window trimmed on
update, one BatchGetItem / one Query to read them. Atomic counts under concurrency are a torture test
on DynamoDB Local (`tests/torture/test_ladder_stats_concurrency.py`): moto's server does not serialise
concurrent UpdateItems."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from autoheal.adapters.ladder_stats import TRIM_DAYS, LedgerLadderStats
from autoheal.core.adaptive import Adaptive, adapt, rate
from autoheal.signals import FirstRung, Rung
from hyperpod_local.stack.resources import create_stack_resources

pytestmark = pytest.mark.integration

DAY = date(2026, 11, 25)
WINDOW = timedelta(days=30)


@pytest.fixture
def table(aws) -> str:  # type: ignore[no-untyped-def]
    return create_stack_resources(aws.client, suffix=uuid.uuid4().hex[:8]).table_name


def test_a_recurrence_moves_a_success_to_a_failure(aws, table: str) -> None:  # type: ignore[no-untyped-def]
    stats = LedgerLadderStats(aws.client("dynamodb"), table, WINDOW)
    stats.record("XidError:48", "reboot", DAY, 1, 1)
    after = stats.record("XidError:48", "reboot", DAY, 0, -1)
    assert after == {"2026-11-25#reboot#n": 1, "2026-11-25#reboot#ok": 0}


def test_days_past_the_window_are_removed_on_update(aws, table: str) -> None:  # type: ignore[no-untyped-def]
    stats = LedgerLadderStats(aws.client("dynamodb"), table, WINDOW)
    old = DAY - WINDOW - timedelta(days=TRIM_DAYS)
    stats.record("XidError:48", "replace", old, 1, 1)
    counters = stats.record("XidError:48", "reboot", DAY, 1, 0)
    assert counters == {"2026-11-25#reboot#n": 1}


def test_reads_one_item_per_signal_and_list_all(aws, table: str) -> None:  # type: ignore[no-untyped-def]
    stats = LedgerLadderStats(aws.client("dynamodb"), table, WINDOW)
    for _ in range(20):
        stats.record("XidError:48", "reboot", DAY, 1, 0)
    stats.record("XidError:79", "replace", DAY, 1, 1)
    stats.record("XidError:79", "retire", DAY, 1, 1)  # not counted
    assert stats.counters([]) == {}
    got = stats.counters(["XidError:48", "NoSuchSignal"])
    assert list(got) == ["XidError:48"]
    assert sorted(stats.all()) == ["XidError:48", "XidError:79"]
    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert rate(got["XidError:48"], "reboot", now, WINDOW).samples == 20
    first = FirstRung(Rung.REBOOT, "table: XidError:48 → reboot", kind="table")
    adapted = adapt(first, "XidError:48", got["XidError:48"], Adaptive(enabled=True), now)
    assert adapted.rung is Rung.REPLACE and "0/20 = 0%" in adapted.rule
