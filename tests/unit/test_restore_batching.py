"""Restores batched to BatchAddClusterNodes' limits (issue 17): `core.restore.plan_adds` gives each
group back at most its lost slots, in the fewest calls of <= 5 groups and <= 50 nodes, each member
with its slot; a member's stored call is what a retry re-sends."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import pytest

from autoheal.core.restore import AddCall, plan_adds, stored_call
from autoheal.core.state import NodeState


def _members(per_group: Mapping[str, int], target: int = 100) -> list[NodeState]:
    return [
        NodeState(
            cluster="c1", node_key=f"{g}-n{i:03d}", instance_group=g, restore_token="t", restore_target=target
        )
        for g, n in per_group.items()
        for i in range(n)
    ]


def _tokens() -> Callable[[], str]:
    counter = itertools.count()
    return lambda: f"autoheal-{next(counter)}"


def _lowered(per_group: Mapping[str, int], target: int = 100) -> dict[str, int]:
    """The groups' TargetCount after the delete lowered each by its members."""
    return {g: target - n for g, n in per_group.items()}


@pytest.mark.parametrize(("nodes", "calls"), [(0, 0), (1, 1), (25, 1), (26, 1), (50, 1), (51, 2), (101, 3)])
def test_one_group_is_restored_in_ceil_n_over_50_calls(nodes: int, calls: int) -> None:
    members = _members({"gpu-a": nodes})
    planned, not_needed = plan_adds(members, _lowered({"gpu-a": nodes}), _tokens())
    assert len(planned) == calls and not_needed == []
    assert all(c.size <= 50 and len(c.nodes_to_add) <= 5 for c in planned)
    assert sum(c.size for c in planned) == nodes
    assert sorted(k for c in planned for k in c.slots) == sorted(h.node_key for h in members)
    assert len({c.token for c in planned}) == calls  # one token per call


def test_six_groups_need_two_calls_and_slots_index_each_groups_ids() -> None:
    groups = {f"g{i}": 2 for i in range(6)}
    planned, _ = plan_adds(_members(groups), _lowered(groups), _tokens())
    assert [c.nodes_to_add for c in planned] == [
        (("g0", 2), ("g1", 2), ("g2", 2), ("g3", 2), ("g4", 2)),
        (("g5", 2),),
    ]
    assert planned[0].slots["g0-n000"] == 0 and planned[0].slots["g0-n001"] == 1
    assert planned[1].slots == {"g5-n000": 0, "g5-n001": 1}


def test_a_group_split_at_50_nodes_restarts_its_slots_in_the_next_call() -> None:
    planned, _ = plan_adds(_members({"a": 30, "b": 30}), _lowered({"a": 30, "b": 30}), _tokens())
    assert [c.nodes_to_add for c in planned] == [(("a", 30), ("b", 20)), (("b", 10),)]
    assert planned[1].slots["b-n020"] == 0


def test_a_group_not_below_its_target_gets_nothing_and_never_more_than_it_lost() -> None:
    members = _members({"a": 3, "b": 2})
    planned, not_needed = plan_adds(members, {"a": 99, "b": 100}, _tokens())  # a lost 1 slot, b none
    assert [c.nodes_to_add for c in planned] == [(("a", 1),)]
    assert planned[0].slots == {"a-n000": 0}
    assert not_needed == ["a-n001", "a-n002", "b-n000", "b-n001"]


def test_a_member_stores_the_exact_call_it_is_part_of() -> None:
    h = NodeState(
        cluster="c1",
        node_key="n1",
        restore_token="autoheal-x",
        restore_batch=(("a", 2), ("b", 1)),
        restore_slot=1,
    )
    assert stored_call(h) == AddCall("autoheal-x", (("a", 2), ("b", 1)), {"n1": 1})
    assert stored_call(NodeState(cluster="c1", node_key="n1", restore_token="autoheal-x")) is None


def test_a_record_from_before_batching_re_sends_its_own_one_node_call() -> None:
    h = NodeState(
        cluster="c1",
        node_key="n1",
        instance_group="a",
        restore_token="autoheal-old",
        restore_at=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert stored_call(h) == AddCall("autoheal-old", (("a", 1),), {"n1": 0})
