"""The calls' pool and throttling gate (remediate/lanes.py): bounds on calls in flight, per-cluster
start order, results in plan order, backoff and the bounded wait. Sleeps are injected: nothing here
waits for a backoff."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import pytest

from autoheal import clients
from autoheal.remediate import lanes
from autoheal.remediate.lanes import Gate, run_lanes
from autoheal.remediate.pipeline import CLAIM_THREADS


class Recorder:
    """Tasks that record when they start, how many run at once (overall and per cluster) and return
    what they are told to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[str, int] = {}
        self.in_flight = 0
        self.most = 0
        self.most_per_cluster: dict[str, int] = {}
        self.started: list[tuple[str, int]] = []
        self.in_flight_at_start: list[int] = []
        self.threads: set[str] = set()

    def task(self, cluster: str, i: int, result: bool = False, seconds: float = 0.02) -> Callable[[], bool]:
        def run() -> bool:
            with self.lock:
                self.started.append((cluster, i))
                self.in_flight += 1
                self.in_flight_at_start.append(self.in_flight)
                self.running[cluster] = self.running.get(cluster, 0) + 1
                self.most = max(self.most, self.in_flight)
                self.most_per_cluster[cluster] = max(
                    self.most_per_cluster.get(cluster, 0), self.running[cluster]
                )
                self.threads.add(threading.current_thread().name)
            time.sleep(seconds)
            with self.lock:
                self.in_flight -= 1
                self.running[cluster] -= 1
            return result

        return run


def _quiet_gate(width: int = 4, budget: float = 1000.0) -> tuple[Gate, list[float]]:
    waits: list[float] = []
    return Gate(width, rng=random.Random(7), sleep=waits.append, budget=budget), waits


def _same(result: bool) -> bool:
    return result


def test_calls_in_flight_stay_within_the_pool_and_the_per_cluster_bound() -> None:
    rec = Recorder()
    tasks = [(c, rec.task(c, i)) for i, c in enumerate(["a", "a", "a", "b", "b", "c", "a", "b", "c", "d"])]
    gate, waits = _quiet_gate(width=4)

    out = run_lanes(tasks, gate, _same, per_cluster=2)

    assert out.results == [False] * 10 and out.deferred == []
    assert 2 <= rec.most <= 4  # side by side, never more than the pool
    assert max(rec.most_per_cluster.values()) <= 2
    assert waits == []


def test_a_clusters_calls_start_in_plan_order() -> None:
    rec = Recorder()
    plan = ["a", "b", "a", "a", "b", "a", "c", "a", "b"]
    tasks = [(c, rec.task(c, i, seconds=0.01 * (i % 3))) for i, c in enumerate(plan)]

    run_lanes(tasks, _quiet_gate()[0], _same, per_cluster=2)

    for cluster in set(plan):
        started = [i for c, i in rec.started if c == cluster]
        assert started == [i for i, c in enumerate(plan) if c == cluster]


def test_results_come_back_in_plan_order_whatever_order_the_calls_finish_in() -> None:
    finished: list[int] = []

    def task(i: int) -> Callable[[], int]:
        def run() -> int:
            time.sleep(0.05 - 0.01 * i)  # the last planned finishes first
            finished.append(i)
            return i

        return run

    out = run_lanes([(f"c{i}", task(i)) for i in range(4)], _quiet_gate()[0], lambda _: False)

    assert out.results == [0, 1, 2, 3]
    assert finished != [0, 1, 2, 3]


def test_one_call_runs_inline_without_a_thread() -> None:
    rec = Recorder()

    out = run_lanes([("a", rec.task("a", 0, seconds=0))], _quiet_gate()[0], _same)

    assert out.results == [False]
    assert rec.threads == {threading.current_thread().name}


def test_a_throttled_call_narrows_the_pool_to_one_and_backs_off_before_each_next_call() -> None:
    rec = Recorder()
    # the first wave (4 calls) comes back throttled; every later call too
    tasks = [(f"c{i}", rec.task(f"c{i}", i, result=True, seconds=0.1 if i < 4 else 0)) for i in range(8)]
    gate, waits = _quiet_gate(width=4)

    out = run_lanes(tasks, gate, _same)

    assert out.results == [True] * 8 and out.deferred == []
    assert rec.in_flight_at_start[4:] == [1, 1, 1, 1]  # after the throttles: one call in flight
    assert len(waits) == 4  # a backoff before each call started after a throttle
    assert all(lanes.BACKOFF_BASE_SECONDS / 2 <= w <= lanes.BACKOFF_CAP_SECONDS for w in waits)
    assert gate.throttles == 8 and gate.limit == 1


def test_the_gate_backs_off_longer_per_throttle_in_a_row_and_opens_after_calm_calls() -> None:
    waits: list[float] = []
    gate = Gate(4, rng=random.Random(1), sleep=waits.append)
    ceilings = []
    for _ in range(6):
        gate.observe(True)
        wait = gate.take_wait()
        assert wait is not None
        ceilings.append(wait)
    assert gate.limit == 1
    assert max(ceilings) <= lanes.BACKOFF_CAP_SECONDS
    assert max(ceilings[3:]) > lanes.BACKOFF_BASE_SECONDS  # the ceiling doubled
    for _ in range(lanes.CALM_AFTER - 1):
        gate.observe(False)
    assert gate.limit == 1
    gate.observe(False)
    assert gate.limit == 4
    assert gate.take_wait() == 0.0


def test_past_the_wait_budget_the_remaining_calls_are_not_started() -> None:
    rec = Recorder()
    tasks = [("a", rec.task("a", i, result=True, seconds=0.1)) for i in range(5)]  # one cluster: 2 at once
    gate, waits = _quiet_gate(width=4, budget=0.0)

    out = run_lanes(tasks, gate, _same, per_cluster=2)

    assert [i for _, i in rec.started] == [0, 1]
    assert out.results == [True, True, None, None, None]
    assert out.deferred == [2, 3, 4]
    assert waits == []


def test_a_task_that_raises_stops_new_calls_and_is_raised_to_the_caller() -> None:
    rec = Recorder()

    def boom() -> bool:
        raise RuntimeError("boom")

    tasks = [("a", boom), ("a", rec.task("a", 1)), ("a", rec.task("a", 2)), ("a", rec.task("a", 3))]

    with pytest.raises(RuntimeError, match="boom"):
        run_lanes(tasks, _quiet_gate()[0], _same, per_cluster=1)
    assert rec.started == []


def test_the_clients_keep_a_connection_for_every_request_that_can_be_in_flight() -> None:
    # claims side by side, plus each call in flight's pause re-check and `sending` mark (DynamoDB)
    assert clients.MAX_POOL_CONNECTIONS >= CLAIM_THREADS + 2 * lanes.CALL_THREADS
