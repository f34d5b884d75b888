"""The adaptive ladder's pure core (issue 17 §2): rates over the window and the rule that uses them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from autoheal.core.adaptive import Adaptive, adapt, counter, rate
from autoheal.core.ladder import DecisionKind, NodeFaults, Reason, decide
from autoheal.core.state import NodeState
from autoheal.faults import FaultSource, NodeFault, RepairAction
from autoheal.policy import RemediationPolicy
from autoheal.signals import DEFAULT, FirstRung, Rung, first_rung

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ON = Adaptive(enabled=True)
NODE = "i-0123456789abcdef0"


def counters(days: int, per_day: int, ok_per_day: int, action: str = "reboot") -> dict[str, int]:
    """`days` days of history ending today: `per_day` attempts, `ok_per_day` of them successes."""
    out: dict[str, int] = {}
    for back in range(days):
        day = NOW.date() - timedelta(days=back)
        out[counter(day, action, "n")] = per_day
        out[counter(day, action, "ok")] = ok_per_day
    return out


def test_the_rate_counts_only_the_window_and_the_action() -> None:
    history = counters(40, 1, 0) | counters(5, 2, 2, action="replace")
    history[counter(date(2026, 12, 7), "reboot", "n")] = 99  # a future day: not counted
    history["pk"] = 0  # not a counter
    r = rate(history, "reboot", NOW, timedelta(days=30))
    assert (r.samples, r.successes) == (31, 0)  # today and the 30 days before it
    assert rate(history, "replace", NOW, timedelta(days=30)).text() == "10/10 = 100%"


def test_reboots_that_rarely_work_start_the_signal_at_replace() -> None:
    table = first_rung(fault("XidError:48"), {})
    adapted = adapt(table, "XidError:48", counters(25, 1, 0), ON, NOW)
    assert adapted.rung is Rung.REPLACE
    assert (
        adapted.rule
        == "adaptive: XidError:48 reboot success 0/25 = 0% < 20% over 30 days (≥ 20 samples) → replace"
    )


@pytest.mark.parametrize(
    ("history", "policy"),
    [
        (counters(19, 1, 0), ON),  # cold start: too few samples
        (counters(25, 1, 1), ON),  # reboots work
        (counters(25, 1, 0), Adaptive()),  # off by default
    ],
)
def test_the_static_table_stays(history: dict[str, int], policy: Adaptive) -> None:
    assert adapt(DEFAULT, "NodeUnhealthy", history, policy, NOW) == DEFAULT


@pytest.mark.parametrize(
    "first",
    [
        FirstRung(Rung.REBOOT, "override: XidError:48=reboot", kind="override"),
        FirstRung(Rung.REBOOT, "verdict: HMA/HyperPod repair action Reboot", kind="verdict"),
        FirstRung(Rung.NONE, "table: XidError:13 → none (...)"),
    ],
)
def test_overrides_verdicts_and_none_never_adapt(first: FirstRung) -> None:
    assert adapt(first, "XidError:48", counters(25, 1, 0), ON, NOW) is first


def fault(signal: str, repair: RepairAction | None = None) -> NodeFault:
    return NodeFault(
        cluster_name="c1",
        instance_id=NODE,
        signal=signal,
        repair_action=repair,
        source=FaultSource.HMA_LOG,
        source_event_id="e1",
        observed_at=NOW,
    )


def test_the_ladder_starts_at_replace_and_names_the_rate() -> None:
    policy = RemediationPolicy(adaptive=ON)
    stats = {"XidError:48": counters(25, 1, 0)}
    d = decide(
        NodeFaults((fault("XidError:48"),)), NodeState(cluster="c1", node_key=NODE), NOW, policy, stats
    )
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.FIRST_FAULT, 1)
    assert d.rule.startswith("adaptive: XidError:48 reboot success 0/25 = 0%")
    static = decide(NodeFaults((fault("XidError:48"),)), NodeState(cluster="c1", node_key=NODE), NOW, policy)
    assert static.step == 0 and static.rule.startswith("table: XidError:48 → reboot")
