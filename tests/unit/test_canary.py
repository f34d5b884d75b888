"""The canary waves' decision core (`autoheal.core.canary`), pure: plain data and the clock."""

from __future__ import annotations

from collections.abc import Iterable
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
from autoheal.core.planner import Target
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.faults import FaultSource, NodeFault
from autoheal.policy import Action, RemediationPolicy
from autoheal.remediate.canary import commit_waves, hold_waves
from autoheal.remediate.decide import node_plan
from autoheal.remediate.model import BatchPlan, Node, NodePlan, RemediationReport

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


# ---------------------------------------------------------------- the remediate stage, with a stand-in


class MemoryWaves:
    """`LedgerWaves` in memory; `lose` makes every write lose the race (someone wrote meanwhile)."""

    def __init__(self, lose: bool = False) -> None:
        self.records: dict[WaveKey, WaveRecord] = {}
        self.lose = lose

    def waves(self, keys: Iterable[WaveKey]) -> dict[WaveKey, WaveRecord]:
        return {k: self.records[k] for k in keys if k in self.records}

    def put(self, record: WaveRecord, now: datetime) -> bool:
        if self.lose:
            return False
        self.records[record.key] = replace(record, version=record.version + 1)
        return True

    def all(self) -> list[WaveRecord]:
        return list(self.records.values())


def storm_plans(n: int) -> list[NodePlan]:
    policy = RemediationPolicy()
    plans = []
    for i in range(n):
        iid = f"i-{i:017x}"
        f = NodeFault(
            cluster_name="train",
            instance_id=iid,
            instance_group="gpu",
            signal="NvidiaErrorReboot",
            source=FaultSource.NODE_HEALTH,
            source_event_id=f"e-{i}",
            observed_at=NOW - timedelta(seconds=i),
        )
        target = Target(cluster="train", node_key=iid, instance_id=iid, instance_group="gpu")
        node = Node(ref=("train", iid), target=target, status="Running", faults=[f], message_ids=[f"m-{i}"])
        plans.append(node_plan(node, NodeState("train", iid), None, NOW, policy))
    return plans


def batch_of(plans: list[NodePlan], waves: MemoryWaves) -> BatchPlan:
    policy = RemediationPolicy()
    held, gates = hold_waves(plans, waves, policy, NOW)
    return BatchPlan(NOW, held, RemediationReport(), policy, waves=gates)


def test_the_stage_holds_all_but_the_canary_and_pages_once() -> None:
    waves = MemoryWaves()
    batch = batch_of(storm_plans(8), waves)
    assert [p.would_act for p in batch.nodes] == [True] + [False] * 7
    assert {p.hold.reason for p in batch.nodes[1:] if p.hold} == {"canary_wave"}
    committed, effects = commit_waves(batch, waves)
    assert committed.nodes == batch.nodes and len(effects.humans) == 1
    assert effects.metrics.total("CanaryWaveReleased") == 1 and effects.metrics.total("CanaryHeld") == 7
    again, effects = commit_waves(batch_of(storm_plans(8), waves), waves)
    # paged once; the canary, not acted on yet (its claim lost, say), may still act; the rest wait
    assert effects.humans == [] and [p.would_act for p in again.nodes] == [True] + [False] * 7


def test_a_wave_record_lost_to_another_writer_releases_nothing() -> None:
    batch = batch_of(storm_plans(8), MemoryWaves())
    committed, effects = commit_waves(batch, MemoryWaves(lose=True))
    assert not any(p.would_act for p in committed.nodes) and effects.humans == []
    assert committed.nodes[0].hold is not None and committed.nodes[0].hold.detail == "canary:conflict"
    off = RemediationPolicy(canary=Canary(enabled=False))
    assert hold_waves(storm_plans(8), MemoryWaves(), off, NOW) == (storm_plans(8), [])
