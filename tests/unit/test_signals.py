"""The signal table (issue 17 §1): first rungs, their precedence, overrides, and README's copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from autoheal.core.ladder import DecisionKind, NodeFaults, Reason, decide
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault, RepairAction
from autoheal.policy import Action, Budget, RemediationPolicy
from autoheal.settings import SettingsError, load_settings
from autoheal.signals import (
    SIGNAL_TABLE,
    SOURCES,
    XID_TABLE,
    Rung,
    first_rung,
    markdown_table,
    parse_overrides,
    strongest,
)

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NODE = "i-0123456789abcdef0"
README = Path(__file__).parents[2] / "README.md"


def fault(
    signal: str = "XidError:79",
    repair: RepairAction | None = None,
    event_id: str = "e1",
    at: datetime = T0,
    source: FaultSource = FaultSource.HMA_LOG,
) -> NodeFault:
    return NodeFault(
        cluster_name="c1",
        instance_id=NODE,
        signal=signal,
        repair_action=repair,
        source=source,
        source_event_id=event_id,
        observed_at=at,
    )


# --- the table ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("xid", [13, 31, 43, 45, 94])
def test_application_class_xids_start_on_none(xid: int) -> None:
    assert XID_TABLE[xid].rung is Rung.NONE
    assert first_rung(fault(f"XidError:{xid}"), {}).ignore_as == "application_fault"


@pytest.mark.parametrize(
    ("xid", "rung"), [(79, Rung.REPLACE), (64, Rung.REPLACE), (74, Rung.REPLACE), (48, Rung.REBOOT)]
)
def test_hardware_xids(xid: int, rung: Rung) -> None:
    assert first_rung(fault(f"XidError:{xid}"), {}).rung is rung


@pytest.mark.parametrize(
    ("code", "rung"),
    [
        ("AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED", Rung.REPLACE),
        ("AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED", Rung.REPLACE),
        ("AWS_EC2_INSTANCE_REBOOT_MAINTENANCE_SCHEDULED", Rung.REBOOT),
        ("AWS_EC2_SYSTEM_REBOOT_MAINTENANCE_SCHEDULED", Rung.NONE),
    ],
)
def test_aws_health_codes(code: str, rung: Rung) -> None:
    assert first_rung(fault(code, source=FaultSource.AWS_HEALTH), {}).rung is rung


def test_every_entry_has_a_reason_and_known_sources() -> None:
    for rule in [*XID_TABLE.values(), *SIGNAL_TABLE.values()]:
        assert rule.reason and rule.sources
        assert set(rule.sources) <= set(SOURCES)
    assert all(url.startswith("https://") for url in SOURCES.values())


def test_the_readme_shows_the_table_of_the_code() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- signal-table:start")
    body = text[text.index("\n", start) + 1 : text.index("<!-- signal-table:end -->")].strip()
    assert body == markdown_table(), "README's signal table differs: paste autoheal.signals.markdown_table()"


# --- precedence: override > verdict > Xid > signal > default ---------------------------------------------


def test_unknown_signals_start_on_the_default_reboot() -> None:
    found = first_rung(fault("NvidiaErrorTerminate", source=FaultSource.NODE_HEALTH), {})
    assert (found.rung, found.rule) == (Rung.REBOOT, "default: reboot (first step of the ladder)")


def test_the_rule_names_the_entry_and_its_reason() -> None:
    assert first_rung(fault(), {}).rule.startswith("table: XidError:79 → replace (GPU fallen off the bus")


def test_hmas_verdict_wins_over_the_xid_table() -> None:
    assert first_rung(fault("XidError:13", RepairAction.REPLACE), {}).rung is Rung.REPLACE
    found = first_rung(fault("XidError:79", RepairAction.REBOOT), {})
    assert (found.rung, found.rule) == (Rung.REBOOT, "verdict: HMA/HyperPod repair action Reboot")


@pytest.mark.parametrize("repair", [None, RepairAction.NONE, RepairAction.UNKNOWN])
def test_no_verdict_leaves_the_table(repair: RepairAction | None) -> None:
    assert first_rung(fault("XidError:79", repair), {}).rung is Rung.REPLACE


def test_an_override_wins_over_everything() -> None:
    found = first_rung(fault("XidError:79", RepairAction.REPLACE), {"XidError:79": Rung.NONE})
    assert (found.rung, found.rule) == (Rung.NONE, "override: XidError:79=none")
    assert first_rung(fault("NodeUnhealthy"), {"NodeUnhealthy": Rung.REPLACE}).rung is Rung.REPLACE


def test_an_xid_named_by_the_record_keys_the_xid_rules_whatever_the_signal() -> None:
    """An EKS NPD event record (`Type` NvidiaGPUUnhealthy, no Action) carries its Xid in the message."""
    npd = fault("NvidiaGPUUnhealthy", RepairAction.UNKNOWN).model_copy(update={"xid": 79})
    assert first_rung(npd, {}).rule.startswith("table: XidError:79 → replace")
    assert first_rung(npd, {"XidError:79": Rung.REBOOT}).rule == "override: XidError:79=reboot"


def test_the_strongest_rung_of_a_nodes_faults_wins() -> None:
    found = strongest([fault("XidError:13", event_id="a"), fault("XidError:79", event_id="b")], {})
    assert found.rung is Rung.REPLACE


# --- overrides as the operator writes them ----------------------------------------------------------------


def test_overrides_parse() -> None:
    assert parse_overrides(["XidError:64=replace", " XidError:31 = NONE ", ""]) == {
        "XidError:64": Rung.REPLACE,
        "XidError:31": Rung.NONE,
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("XidError:64", "expected SIGNAL=RUNG"),
        ("XidError:64=fix", "the rung must be one of none, reboot, replace"),
        ("a b=reboot", "expected SIGNAL=RUNG"),
    ],
)
def test_bad_overrides_fail_the_settings_with_the_entry_named(entry: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings({"AUTOHEAL_SIGNAL_FIRST_RUNG": entry})


def test_settings_hand_the_overrides_to_the_policy() -> None:
    settings = load_settings({"AUTOHEAL_SIGNAL_FIRST_RUNG": "XidError:64=replace,XidError:31=none"})
    assert settings.policy.signal_first_rung == {"XidError:64": Rung.REPLACE, "XidError:31": Rung.NONE}
    assert load_settings({}).policy.signal_first_rung == {}


# --- the ladder starts there; escalation is unchanged ----------------------------------------------------

POLICY = RemediationPolicy()


def fresh() -> NodeState:
    return NodeState(cluster="c1", node_key=NODE)


def test_a_replace_first_signal_takes_the_replace_step() -> None:
    d = decide(NodeFaults((fault(),)), fresh(), T0, POLICY)
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.FIRST_FAULT, 1)
    assert POLICY.ladder[d.step].action is Action.REPLACE


def test_an_application_fault_is_ignored_with_its_reason_even_within_the_window() -> None:
    d = decide(NodeFaults((fault("XidError:13"),)), fresh(), T0, POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.APPLICATION_FAULT)
    assert d.rule.startswith("table: XidError:13 → none")
    rebooted = rebooted_at_t0(last_attempt_at=T0, last_outcome=LastOutcome.ACCEPTED, seen_event_ids=("e0",))
    later = fault("XidError:31", at=T0 + timedelta(hours=1))
    d = decide(NodeFaults((later,)), rebooted, T0 + timedelta(hours=1), POLICY)
    assert (d.kind, d.reason) == (DecisionKind.IGNORE, Reason.APPLICATION_FAULT)  # no climb


def rebooted_at_t0(**more: Any) -> NodeState:
    """A node whose reboot went out at T0 and is still in progress."""
    return NodeState(
        cluster="c1",
        node_key=NODE,
        version=2,
        status=NodeStatus.IN_PROGRESS,
        step=0,
        last_action=Action.REBOOT,
        last_action_at=T0,
        action_times={Action.REBOOT: (T0,)},
        **more,
    )


def test_a_failure_signal_still_climbs() -> None:
    """Failure signals are the ladder's own: the table never turns them into `none`."""
    policy = RemediationPolicy(signal_first_rung={"RebootFailed": Rung.NONE})
    rebooted = rebooted_at_t0()
    failed = fault("RebootFailed", at=T0 + timedelta(minutes=10), source=FaultSource.CLUSTER_EVENT)
    d = decide(NodeFaults((failed,)), rebooted, T0 + timedelta(minutes=10), policy)
    assert (d.kind, d.reason, d.step) == (DecisionKind.ACT, Reason.LAST_ACTION_FAILED, 1)
    assert d.rule == "ladder: last_action_failed"


def test_replace_first_with_the_budget_spent_needs_a_human() -> None:
    policy = RemediationPolicy(budgets={Action.REPLACE: Budget(max_actions=0, window=timedelta(days=7))})
    d = decide(NodeFaults((fault(),)), fresh(), T0, policy)
    assert (d.kind, d.reason) == (DecisionKind.NEEDS_HUMAN, Reason.BUDGET_EXHAUSTED)
    assert d.rule.startswith("table: XidError:79")
