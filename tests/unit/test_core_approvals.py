"""The approval gate's rule (pure): what the node's record says about a decision that needs approval."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core.approvals import (
    DEADLINE,
    Approval,
    ApprovalGate,
    ApprovalStatus,
    Asked,
    GateKind,
    gate,
    hold_seconds,
    new_id,
)
from autoheal.settings import SettingsError, load_settings

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
POLICY = ApprovalGate(required_for=frozenset({"replace", "restore"}), timeout=timedelta(minutes=60))
ASKED = Asked("train", "n1", "i-1", "replace", "recurred", "ladder: recurred", "XidError:79", "{}", "ev-1")


def pending(at: datetime = T0, action: str = "replace") -> Approval:
    return Approval("abcdefgh", "train", "n1", action, "recurred", "r", at, at + timedelta(hours=1), "deny")


def test_which_decisions_need_approval() -> None:
    assert POLICY.needs_approval("replace", "ladder: recurred")
    assert POLICY.needs_approval("retire", "ladder: lemon")  # restore gates the retire rung
    assert not POLICY.needs_approval("reboot", "default: reboot")
    auto = POLICY.model_copy(update={"auto_approve_rules": ("table",)})
    assert not auto.needs_approval("replace", "table: XidError:79 → replace (GPU fallen off the bus)")
    assert auto.needs_approval("replace", "ladder: recurred")


def test_no_record_asks_and_a_pending_one_waits_until_its_deadline() -> None:
    asked = gate(None, ASKED, None, None, T0, POLICY)
    assert (asked.kind, asked.write, asked.replaces) == (GateKind.ASK, True, None)
    assert asked.approval.deadline == T0 + timedelta(minutes=60) and len(asked.approval.id) == 8
    waiting = gate(pending(), ASKED, None, None, T0 + timedelta(minutes=59), POLICY)
    assert (waiting.kind, waiting.write) == (GateKind.WAIT, False)
    assert hold_seconds(pending(), T0, 900) == 900
    assert hold_seconds(pending(), T0 + timedelta(minutes=55), 900) == 301


@pytest.mark.parametrize(("default", "kind"), [("deny", GateKind.HUMAN), ("approve", GateKind.PROCEED)])
def test_the_deadline_applies_the_default(default: str, kind: GateKind) -> None:
    v = gate(replace(pending(), default=default), ASKED, None, None, T0 + timedelta(hours=1), POLICY)
    assert (v.kind, v.write, v.approval.decided_by) == (kind, True, DEADLINE)
    assert v.approval.decision == f"default_{default}"


def test_a_decided_record_applies_to_its_episode_only() -> None:
    approved = pending().decided(ApprovalStatus.APPROVED, "arn:x", T0 + timedelta(minutes=5), "ok")
    assert gate(approved, ASKED, None, None, T0 + timedelta(minutes=6), POLICY).kind is GateKind.PROCEED
    after_action = gate(approved, ASKED, T0 + timedelta(minutes=7), None, T0 + timedelta(minutes=8), POLICY)
    assert (after_action.kind, after_action.replaces) == (GateKind.ASK, "abcdefgh")
    stale = gate(approved, ASKED, None, None, T0 + timedelta(hours=30), POLICY)
    assert stale.kind is GateKind.ASK
    other_action = gate(pending(action="reboot"), ASKED, None, None, T0, POLICY)
    assert other_action.kind is GateKind.ASK
    denied = pending().decided(ApprovalStatus.DENIED, "arn:x", T0 + timedelta(minutes=5), "no")
    assert gate(denied, ASKED, None, None, T0 + timedelta(minutes=6), POLICY).kind is GateKind.HUMAN
    released = gate(denied, ASKED, None, T0 + timedelta(minutes=9), T0 + timedelta(minutes=10), POLICY)
    assert released.kind is GateKind.ASK


def test_ids_are_short_unambiguous_and_stable() -> None:
    ids = {new_id("train", f"n{i}", "replace", T0.isoformat(), "ev") for i in range(200)}
    assert len(ids) == 200
    assert new_id("a", "b") == new_id("a", "b") != new_id("a", "c")
    assert all(len(i) == 8 and not set(i) & set("01oli") for i in ids)


def test_the_settings_are_validated_at_cold_start() -> None:
    s = load_settings(
        {"AUTOHEAL_APPROVAL_REQUIRED_FOR": "replace,restore", "AUTOHEAL_APPROVAL_DEFAULT": "approve"}
    )
    assert s.policy.approvals.required_for == {"replace", "restore"}
    assert s.policy.approvals.default_approve
    for bad in (
        {"AUTOHEAL_APPROVAL_REQUIRED_FOR": "terminate"},
        {"AUTOHEAL_APPROVAL_TIMEOUT_MINUTES": "4"},
        {"AUTOHEAL_APPROVAL_TIMEOUT_MINUTES": "10081"},
        {"AUTOHEAL_APPROVAL_DEFAULT": "maybe"},
    ):
        with pytest.raises(SettingsError):
            load_settings(bad)
