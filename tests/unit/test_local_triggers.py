"""The local stack's triggers as template.yaml declares them (issue 19): batch gate, rate schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hyperpod_local.stack.triggers import BatchGate, Schedule, rate_seconds, trigger_settings

T0 = datetime(2025, 6, 1, 16, 0, tzinfo=UTC)


def test_the_template_s_batching_and_schedule_are_read_with_its_parameters() -> None:
    deployed = trigger_settings()
    assert (deployed.batch_size, deployed.batching_window_seconds, deployed.reconcile_every_seconds) == (
        1000,
        20.0,
        120.0,
    )
    other = trigger_settings(
        {"BatchSize": "10", "BatchingWindowSeconds": "0", "ReconcileIntervalMinutes": "1"}
    )
    assert (other.batch_size, other.batching_window_seconds, other.reconcile_every_seconds) == (10, 0.0, 60.0)


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions(expression: str, seconds: float) -> None:
    assert rate_seconds(expression) == seconds


@pytest.mark.parametrize(
    "expression",
    ["cron(0 * * * ? *)", "rate(0 minutes)", "rate(5 weeks)", "rate(1 minutes)", "rate(5 hour)", ""],
)
def test_other_schedule_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError, match="not a rate"):
        rate_seconds(expression)


def test_the_gate_opens_for_a_full_batch_or_when_the_window_has_run() -> None:
    gate = BatchGate(batch_size=3, window_seconds=20)
    assert not gate.ready(0, T0)
    assert not gate.ready(1, T0)  # the window starts with the first message seen
    assert not gate.ready(2, T0 + timedelta(seconds=19))
    assert gate.ready(2, T0 + timedelta(seconds=20))
    assert gate.ready(3, T0 + timedelta(seconds=21))  # a full batch goes at once
    assert not gate.ready(1, T0 + timedelta(seconds=22))  # a new window


def test_the_schedule_fires_once_per_period_and_skips_missed_ticks() -> None:
    schedule = Schedule(120, T0)
    assert not schedule.due(T0 + timedelta(seconds=119))
    assert schedule.due(T0 + timedelta(seconds=120))
    assert not schedule.due(T0 + timedelta(seconds=121))
    assert schedule.due(T0 + timedelta(seconds=1000))  # one round for the ticks it slept through
    assert not schedule.due(T0 + timedelta(seconds=1001))
