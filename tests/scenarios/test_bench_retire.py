"""The retire + restore benchmark's measure (bench/retire.py) on a small N, on the local stack: the
counts `make bench` reports are the ones the real handlers produce."""

from __future__ import annotations

import pytest

from bench.retire import ON, retire_restore
from hyperpod_local.stack.world import LocalWorld

pytestmark = pytest.mark.scenario


def test_five_lemons_over_two_clusters_one_delete_and_one_add_per_cluster(
    aws,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    figures = retire_restore(LocalWorld(aws, monkeypatch.setenv, env=ON), 5)

    assert figures == {
        "lemons": 5,
        "crash_after_the_call": False,
        "delete_calls": 2,  # train-a 3 nodes, train-b 2: Σ ceil(n/50) per cluster
        "delete_sizes": [3, 2],
        "min_delete_calls": 2,
        "nodes_retired": 5,
        "add_calls": 2,  # train-a 3 nodes (3 groups), train-b 2: Σ ceil(n/50) per cluster
        "add_sizes": [3, 2],
        "min_add_calls": 2,
        "add_tokens": 2,
        "add_calls_per_token": 1,
        "nodes_added": 5,
        "nodes_added_twice": 0,
    }


def test_a_redelivered_restore_resends_each_token_and_never_adds_twice(
    aws,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    figures = retire_restore(LocalWorld(aws, monkeypatch.setenv, env=ON), 2, crash=True)

    assert (figures["delete_calls"], figures["nodes_retired"]) == (1, 2)
    # one add call (both lemons are in train-a), re-sent once under its token by the resumed restores
    assert (figures["add_calls"], figures["add_tokens"], figures["add_calls_per_token"]) == (2, 1, 2)
    assert (figures["add_sizes"], figures["min_add_calls"]) == ([2], 1)
    assert (figures["nodes_added"], figures["nodes_added_twice"]) == (2, 0)
