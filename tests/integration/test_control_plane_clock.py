"""Simulated time, operation timings and LocalAws's loopback-only rule (no server needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hyperpod_local.plane import ControlPlaneClock, LocalAws, NodeTimings

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 1, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_clock_follows_real_time_times_scale_plus_advances() -> None:
    real = FakeMonotonic()
    clock = ControlPlaneClock(scale=60.0, start=START, monotonic=real)

    real.value += 2.0  # two real seconds = two simulated minutes
    clock.advance(30)

    assert clock.now() == START + timedelta(seconds=150)


def test_frozen_clock_moves_only_when_advanced() -> None:
    clock = ControlPlaneClock.frozen(START)

    first = clock.now()
    clock.advance(0.5)

    assert first == START
    assert clock.now() == START + timedelta(seconds=0.5)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_clock_rejects_naive_start_and_negative_scale() -> None:
    with pytest.raises(ValueError):
        ControlPlaneClock(start=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        ControlPlaneClock(scale=-1)


def test_restart_forgets_advances() -> None:
    clock = ControlPlaneClock.frozen(START)
    clock.advance(3600)

    clock.restart()

    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_timings_must_be_positive_and_replacement_longer_than_shutdown() -> None:
    with pytest.raises(ValueError):
        NodeTimings(reboot_seconds=0)
    with pytest.raises(ValueError):
        NodeTimings(shutdown_seconds=60, replace_seconds=60)


def test_local_aws_binds_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LocalAws(host="0.0.0.0")
