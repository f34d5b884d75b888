"""Safety guards, pure: what is ignored, held, or handed to a human, and when the breaker trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoheal.core import guards
from autoheal.core.guards import GuardKind, NodeContext, Scope, breaker_trips
from autoheal.core.ladder import Decision, DecisionKind, Reason
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault, RepairAction
from autoheal.policy import Action, Guards

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
G = Guards()
ACT = Decision(DecisionKind.ACT, Reason.RECURRED, step=1, escalated=True)


def fault(at: datetime = T0, repair: RepairAction | None = None) -> NodeFault:
    return NodeFault(
        cluster_name="c1",
        instance_id="i-0123456789abcdef0",
        signal="NvidiaErrorTerminate",
        source=FaultSource.NODE_HEALTH,
        source_event_id="e1",
        observed_at=at,
        repair_action=repair,
    )


def ctx(**kw: object) -> NodeContext:
    base: dict[str, object] = dict(
        cluster_status="InService", group="gpu", group_status="InService", node_status="Running"
    )
    base.update(kw)
    return NodeContext(**base)  # type: ignore[arg-type]


def history(**kw: object) -> NodeState:
    return NodeState(cluster="c1", node_key="n1", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("faults", "context", "reason"),
    [
        ([fault()], ctx(cluster_tags={"hyperpod-autoheal:opt-out": "true"}), "cluster_opted_out"),
        ([fault(T0 - timedelta(hours=2))], ctx(), "stale_event"),
        ([fault(repair=RepairAction.REPLACE)], ctx(node_recovery="Automatic"), "deferred_to_hyperpod"),
        ([fault()], ctx(cluster="autoheal-selftest-0a1b2c3d"), "reserved_cluster_name"),
    ],
)
def test_faults_the_service_leaves_alone(faults: list[NodeFault], context: NodeContext, reason: str) -> None:
    verdict = guards.before(faults, context, T0, G)
    assert verdict is not None and (verdict.kind, verdict.reason) == (GuardKind.IGNORE, reason)


def test_group_lists() -> None:
    deny = Guards(denied_groups=frozenset({"gpu"}))
    allow = Guards(allowed_groups=frozenset({"other"}))
    for g in (deny, allow):
        v = guards.before([fault()], ctx(), T0, g)
        assert v is not None and v.reason == "group_excluded"
    assert guards.before([fault()], ctx(), T0, Guards(allowed_groups=frozenset({"gpu"}))) is None


def test_hyperpod_is_not_deferred_to_when_it_will_not_act() -> None:
    assert guards.before([fault(repair=RepairAction.REPLACE)], ctx(node_recovery="None"), T0, G) is None
    assert guards.before([fault(repair=RepairAction.NONE)], ctx(node_recovery="Automatic"), T0, G) is None


def test_a_fresh_fault_passes() -> None:
    assert guards.before([fault()], ctx(), T0, G) is None
    assert guards.after(ACT, Action.REPLACE, history(), ctx(), T0, G) is None


@pytest.mark.parametrize("node_type", ["Controller", "Login"])
def test_protected_slurm_nodes_are_never_replaced(node_type: str) -> None:
    v = guards.after(ACT, Action.REPLACE, history(), ctx(node_type=node_type), T0, G)
    assert v is not None and v.kind is GuardKind.HUMAN and v.reason == f"protected_node_type:{node_type}"
    assert guards.after(ACT, Action.REBOOT, history(), ctx(node_type=node_type), T0, G) is None


def test_the_per_node_budget_counts_every_action() -> None:
    times = {
        Action.REBOOT: tuple(T0 - timedelta(days=d) for d in (1, 2, 3)),
        Action.REPLACE: (T0 - timedelta(days=4), T0 - timedelta(days=5)),
    }
    v = guards.after(ACT, Action.REBOOT, history(action_times=times), ctx(), T0, G)
    assert v is not None and (v.kind, v.reason) == (GuardKind.HUMAN, "node_budget_exhausted")


def test_the_per_node_cooldown_holds_a_new_action() -> None:
    recent = history(
        last_action=Action.REBOOT, last_action_at=T0 - timedelta(minutes=10), status=NodeStatus.IN_PROGRESS
    )
    v = guards.after(ACT, Action.REPLACE, recent, ctx(), T0, G)
    assert v is not None and (v.kind, v.reason) == (GuardKind.HOLD, "node_cooldown")
    retry = Decision(DecisionKind.ACT, Reason.RETRY, step=1, retry=True)
    assert guards.after(retry, Action.REPLACE, recent, ctx(), T0, G) is None  # a retry is not a new action


@pytest.mark.parametrize(
    ("context", "reason"),
    [
        (ctx(cluster_status="Updating"), "cluster_Updating"),
        (ctx(group_status="Updating"), "group_Updating"),
        (ctx(node_status="DeepHealthCheckInProgress"), "node_DeepHealthCheckInProgress"),
        (ctx(node_status="ShuttingDown"), "node_ShuttingDown"),
    ],
)
def test_unsuitable_states_hold(context: NodeContext, reason: str) -> None:
    v = guards.after(ACT, Action.REBOOT, history(), context, T0, G)
    assert v is not None and (v.kind, v.reason) == (GuardKind.HOLD, reason)


def test_a_node_stuck_after_a_failed_action_is_not_held() -> None:
    failed = Decision(DecisionKind.ACT, Reason.LAST_ACTION_FAILED, step=1, escalated=True)
    h = history(last_outcome=LastOutcome.FAILED)
    assert guards.after(failed, Action.REPLACE, h, ctx(node_status="Pending"), T0, G) is None


def test_the_breaker_trips_on_count_and_percentage() -> None:
    sizes = {Scope("c1", "gpu"): 100, Scope("c1", None): 101}
    wanting = [("c1", "gpu")] * 40
    tripped = breaker_trips(wanting, [], sizes, G)
    assert tripped[Scope("c1", "gpu")] == (40, 20)  # 20% of 100
    assert tripped[Scope("c1", None)] == (40, 20)
    assert breaker_trips([("c1", "gpu")] * 15, [("c1", "gpu")] * 5, sizes, G) == {}  # 20 is allowed


def test_a_small_group_may_always_heal_one_node() -> None:
    sizes = {Scope("c1", "tiny"): 3, Scope("c1", None): 3}
    assert breaker_trips([("c1", "tiny")], [], sizes, G) == {}
    assert Scope("c1", "tiny") in breaker_trips([("c1", "tiny")] * 2, [], sizes, G)


def test_an_event_s_age_is_judged_at_its_receipt_not_while_it_is_held() -> None:
    received = fault(T0 - timedelta(minutes=10)).received(T0)[0]
    later = T0 + timedelta(hours=5)  # held for hours since
    assert guards.before([received], ctx(), later, G) is None
    stale_on_arrival = fault(T0 - timedelta(hours=2)).received(T0)[0]
    assert guards.before([stale_on_arrival], ctx(), later, G) == guards.GuardVerdict(
        GuardKind.IGNORE, "stale_event"
    )
    unstamped = fault(T0 - timedelta(minutes=10))  # queued before the stamp existed: judged now
    assert guards.before([unstamped], ctx(), later, G) is not None
    assert guards.before([unstamped.admitted(T0)], ctx(), later, G) is None


def test_a_future_dated_fault_is_clamped_to_its_receipt() -> None:
    stamped, skew = fault(T0 + timedelta(minutes=10)).received(T0)
    assert (stamped.observed_at, stamped.received_at, skew) == (T0, T0, 600.0)
    assert fault(T0 - timedelta(seconds=1)).received(T0)[1] == 0.0
