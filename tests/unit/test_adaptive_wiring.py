"""Remediate's adaptive-ladder I/O (`autoheal.remediate.adaptive`): no read when the switch is off,
one read of the batch's signals when on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

from autoheal.core.adaptive import Adaptive
from autoheal.core.planner import Target
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import RemediationPolicy
from autoheal.remediate.adaptive import read_counters
from autoheal.remediate.model import Node

T0 = datetime(2026, 12, 1, tzinfo=UTC)


class Stats:
    def __init__(self) -> None:
        self.reads: list[set[str]] = []

    def record(self, signal: str, action: str, day: date, attempts: int, successes: int) -> dict[str, int]:
        raise AssertionError("not written here")

    def counters(self, signals: Iterable[str]) -> dict[str, dict[str, int]]:
        self.reads.append(set(signals))
        return {"XidError:48": {"2026-12-01#reboot#n": 1}}


def node(signal: str) -> Node:
    fault = NodeFault(
        cluster_name="c",
        instance_id="i-0123456789abcdef0",
        signal=signal,
        source=FaultSource.NODE_HEALTH,
        source_event_id=f"e-{signal}",
        observed_at=T0,
    )
    return Node(("c", signal), Target("c", signal), faults=[fault])


def test_off_reads_nothing() -> None:
    stats = Stats()
    assert read_counters([node("XidError:48")], RemediationPolicy(), stats) == {}
    assert stats.reads == []


def test_on_reads_the_batch_signals_once() -> None:
    stats = Stats()
    policy = RemediationPolicy(adaptive=Adaptive(enabled=True))
    got = read_counters([node("XidError:48"), node("XidError:63"), node("XidError:48")], policy, stats)
    assert stats.reads == [{"XidError:48", "XidError:63"}]
    assert got == {"XidError:48": {"2026-12-01#reboot#n": 1}}
