"""The canary waves' decision core (`autoheal.core.canary`), pure: plain data and the clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from autoheal.core.canary import (
    Canary,
    NodeVerdict,
    Phase,
    WaveKey,
    WaveRecord,
    gate,
    node_verdict,
    operator,
    verify,
)
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.policy import Action

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = WaveKey("train", "gpu", "NvidiaErrorReboot")
POLICY = Canary()  # 5 nodes within 10 minutes, waves of 1, 2, 4, ...


def nodes(*names: str, at: datetime = NOW) -> dict[str, datetime]:
    return dict.fromkeys(names, at)


def started(n: int = 8) -> WaveRecord:
    g = gate(WaveRecord(KEY), nodes(*(f"n{i}" for i in range(n))), [], NOW, POLICY)
    return g.after


def test_fewer_nodes_than_the_threshold_all_act() -> None:
    g = gate(WaveRecord(KEY), nodes("a", "b", "c", "d"), [], NOW, POLICY)
    assert (g.release, g.hold, g.started, g.after.phase) == (
        {"a", "b", "c", "d"},
        set(),
        False,
        Phase.WATCHING,
    )
    assert set(g.after.seen) == {"a", "b", "c", "d"}  # counted for the next batch


def test_the_threshold_across_batches_starts_an_episode_with_one_canary() -> None:
    first = gate(WaveRecord(KEY), nodes("a", "b", "c"), [], NOW, POLICY).after
    g = gate(
        first, nodes("d", "e", "f", at=NOW + timedelta(minutes=2)), [], NOW + timedelta(minutes=2), POLICY
    )
    assert g.started and g.release == {"d"} and g.hold == {"e", "f"}
    assert (g.after.phase, g.after.count, g.after.current) == (Phase.WAVE, 6, ("d",))
    assert g.after.episode is not None and g.after.episode.startswith("w-")
    assert g.after.span == timedelta(minutes=2)


def test_nodes_seen_before_the_window_do_not_count() -> None:
    old = gate(WaveRecord(KEY), nodes("a", "b", "c", "d", at=NOW), [], NOW, POLICY).after
    later = NOW + timedelta(minutes=11)
    g = gate(old, nodes("e", at=later), [], later, POLICY)
    assert g.release == {"e"} and set(g.after.seen) == {"e"}


def test_during_a_wave_new_nodes_are_held_and_released_nodes_retry() -> None:
    r = started()
    g = gate(r, nodes("n0", "n9"), [], NOW + timedelta(minutes=1), POLICY)
    assert g.release == {"n0"} and g.hold == {"n9"} and "n9" in g.after.seen  # counted, held


def test_a_verified_wave_lets_the_next_one_grow() -> None:
    r = started()
    after, stopped = verify(r, {"n0": NodeVerdict.HEALTHY}, NOW + timedelta(minutes=6), POLICY)
    assert not stopped and (after.wave, after.allowance, after.verified, after.current) == (1, 2, ("n0",), ())
    g = gate(after, nodes("n1", "n2", "n3"), [], NOW + timedelta(minutes=7), POLICY)
    assert g.release == {"n1", "n2"} and g.hold == {"n3"} and g.after.allowance == 0
    after, _ = verify(g.after, dict.fromkeys(("n1", "n2"), NodeVerdict.HEALTHY), NOW, POLICY)
    assert (after.wave, after.allowance) == (2, 4)  # 1, 2, 4, 8, ...


def test_the_last_wave_verified_ends_the_episode() -> None:
    r = replace(started(2 + 3), released=dict.fromkeys([f"n{i}" for i in range(5)], NOW), current=("n4",))
    after, stopped = verify(r, {"n4": NodeVerdict.HEALTHY}, NOW, POLICY)
    assert (after.phase, stopped) == (Phase.DONE, False)
    g = gate(after, nodes("n0"), [], NOW + timedelta(minutes=1), POLICY)
    assert g.release == {"n0"}  # done: faults act as usual
    fresh = gate(after, nodes("x"), [], NOW + timedelta(minutes=11), POLICY).after
    assert (fresh.phase, set(fresh.seen), fresh.episode) == (Phase.WATCHING, {"x"}, None)


def test_a_failed_node_or_a_late_wave_stops_the_episode() -> None:
    r = started()
    after, stopped = verify(r, {"n0": NodeVerdict.FAILED}, NOW, POLICY)
    assert stopped and after.phase is Phase.STOPPED and "n0" in after.reason
    late, stopped = verify(r, {"n0": NodeVerdict.PENDING}, NOW + timedelta(minutes=61), POLICY)
    assert stopped and "not verified within" in late.reason
    waiting, stopped = verify(r, {"n0": NodeVerdict.PENDING}, NOW + timedelta(minutes=30), POLICY)
    assert not stopped and waiting == r


def test_a_recurrence_on_a_released_node_stops_and_holds_everything() -> None:
    g = gate(started(), nodes("n0", "n5"), ["n0"], NOW + timedelta(minutes=20), POLICY)
    assert g.stopped and g.release == set() and g.hold == {"n0", "n5"}
    again = gate(g.after, nodes("n6"), [], NOW + timedelta(minutes=21), POLICY)
    assert again.release == set() and again.hold == {"n6"} and not again.stopped  # paged once


def test_an_operator_releases_or_stops() -> None:
    stopped = operator(started(), False, "arn:aws:iam::1:user/ops", NOW)
    assert stopped.phase is Phase.STOPPED and stopped.reason == "stopped by arn:aws:iam::1:user/ops"
    released = operator(stopped, True, "ops", NOW)
    g = gate(released, nodes("n1", "n2"), [], NOW, POLICY)
    assert released.phase is Phase.RELEASED and g.release == {"n1", "n2"}


def test_a_released_node_is_judged_from_its_state() -> None:
    at = NOW
    after = NOW + timedelta(minutes=1)
    base = NodeState("train", "n0", last_action=Action.REBOOT, last_action_at=after)
    assert node_verdict(None, at) is NodeVerdict.PENDING
    assert node_verdict(replace(base, status=NodeStatus.IN_PROGRESS), at) is NodeVerdict.PENDING
    healed = replace(base, status=NodeStatus.IDLE, last_outcome=LastOutcome.HEALED)
    assert node_verdict(healed, at) is NodeVerdict.HEALTHY
    assert node_verdict(replace(healed, last_action_at=at - timedelta(hours=1)), at) is NodeVerdict.PENDING
    failed = replace(base, status=NodeStatus.RETRY_PENDING, last_outcome=LastOutcome.FAILED)
    assert node_verdict(failed, at) is NodeVerdict.FAILED
    assert node_verdict(replace(base, status=NodeStatus.NEEDS_HUMAN), at) is NodeVerdict.FAILED
