"""Requests never exceed 25 nodes; a storm makes ceil(n/25) calls per (cluster, action, id kind)."""

from __future__ import annotations

import math

import pytest

from autoheal.core.batching import MAX_NODES_PER_REBOOT_OR_REPLACE, chunked, unique_in_order
from autoheal.core.planner import BatchRequest, Target, plan_requests
from autoheal.core.results import IdKind
from autoheal.policy import Action


def _iid(n: int) -> str:
    return f"i-{n:017x}"


@pytest.mark.parametrize(
    ("count", "sizes"), [(0, []), (1, [1]), (25, [25]), (26, [25, 1]), (51, [25, 25, 1])]
)
def test_chunks_at_the_boundaries(count: int, sizes: list[int]) -> None:
    chunks = list(chunked([_iid(i) for i in range(count)], MAX_NODES_PER_REBOOT_OR_REPLACE))
    assert [len(c) for c in chunks] == sizes
    assert [i for c in chunks for i in c] == [_iid(i) for i in range(count)]


def test_chunk_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        list(chunked([1, 2], 0))


def test_unique_in_order_keeps_first_occurrence() -> None:
    assert unique_in_order(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


@pytest.mark.parametrize("count", [0, 1, 25, 26, 51, 60, 1000])
def test_plan_makes_the_minimum_number_of_requests(count: int) -> None:
    targets = [(Target("c1", _iid(i), instance_id=_iid(i)), Action.REBOOT) for i in range(count)]
    requests = plan_requests(targets)
    assert len(requests) == math.ceil(count / 25)
    assert all(1 <= len(r.ids) <= 25 for r in requests)
    assert sorted(i for r in requests for i in r.ids) == sorted(_iid(i) for i in range(count))


def test_plan_groups_by_cluster_action_and_id_kind() -> None:
    planned = [
        (Target("c1", "a", instance_id=_iid(1)), Action.REBOOT),
        (Target("c1", "b", instance_id=_iid(2)), Action.REPLACE),
        (Target("c2", "c", instance_id=_iid(3)), Action.REBOOT),
        (Target("c1", "lid-1", node_logical_id="lid-1"), Action.REBOOT),
        (Target("c1", "d", instance_id=_iid(4)), Action.REBOOT),
    ]
    requests = {(r.cluster, r.action, r.id_kind): r.ids for r in plan_requests(planned)}
    assert requests == {
        ("c1", Action.REBOOT, IdKind.NODE_ID): (_iid(1), _iid(4)),
        ("c1", Action.REPLACE, IdKind.NODE_ID): (_iid(2),),
        ("c2", Action.REBOOT, IdKind.NODE_ID): (_iid(3),),
        ("c1", Action.REBOOT, IdKind.LOGICAL_ID): ("lid-1",),
    }


def test_a_node_named_twice_is_sent_once() -> None:
    t = Target("c1", "a", instance_id=_iid(1))
    (request,) = plan_requests([(t, Action.REBOOT), (t, Action.REBOOT)])
    assert request.ids == (_iid(1),)


def test_instance_id_is_preferred_over_logical_id() -> None:
    t = Target("c1", "lid-1", instance_id=_iid(1), node_logical_id="lid-1")
    assert (t.id_kind, t.api_id) == (IdKind.NODE_ID, _iid(1))


@pytest.mark.parametrize("size", [0, 26])
def test_a_request_outside_1_to_25_cannot_be_built(size: int) -> None:
    with pytest.raises(ValueError, match="1-25"):
        BatchRequest("c1", Action.REBOOT, IdKind.NODE_ID, tuple(_iid(i) for i in range(size)))
