"""The planned calls side by side: a small bounded pool, each cluster's calls started in plan order,
and a throttling gate shared by all of them.

Each planned call's whole step (claim its nodes, then `act`: pause re-check, evidence, `sending`
mark, the call) is one task. At most `CALL_THREADS` tasks are in flight at once, and at most
`CALLS_PER_CLUSTER` for one cluster; a cluster's tasks start in plan order, and across clusters the
earliest planned task that may start goes first. One task runs inline (no thread for a single call).

Two calls of the same cluster may overlap. They never name the same node (the planner puts each node
in exactly one call, and a node decided again into another call goes after every planned call), and
HyperPod only refuses a second operation on the *same* node while one is in progress
(`InstanceIdInUse` / `NodeIdInUse`:
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchRebootClusterNodes.html,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchDeleteClusterNodes.html). Nothing
in one invocation depends on the order of two calls of one cluster, except the retire rung's restore:
its BatchAddClusterNodes is sent by `restore.restore_all`, after every task here has finished, so it
always follows the deletes it restores. The per-cluster bound only keeps one cluster from taking the
whole pool, and keeps a cluster's calls near plan order.

Throttling: SageMaker answers `ThrottlingException` when the account's request rate is exceeded
(https://repost.aws/knowledge-center/sagemaker-python-throttlingexception); botocore's standard retry
mode retries each request first (`autoheal.clients`). A call that still comes back throttled trips
the `Gate`: the pool drops to one call in flight and the next call waits a jittered backoff (uniform
between half the base and a ceiling that doubles per throttle in a row, capped); after `CALM_AFTER` calls in a row without throttling
the pool opens up again. The total backoff of one invocation is bounded (`WAIT_BUDGET_SECONDS`, far
below the function's timeout): past it the remaining tasks are not started, and their nodes -- not
claimed yet -- go back to the queue as `later`, never dropped (`CallsDeferred{Reason=throttled}`).
The throttled call's own nodes follow the transient path in `record`.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

#: Tasks (one planned call each) in flight at once.
CALL_THREADS = 4
#: Tasks of one cluster in flight at once.
CALLS_PER_CLUSTER = 2
#: The first backoff ceiling after a throttled call, and the largest (seconds; drawn from [base/2, ceiling]).
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 8.0
#: The most one invocation waits in backoffs before it defers the remaining calls.
WAIT_BUDGET_SECONDS = 20.0
#: Calls in a row without throttling before the pool opens up again.
CALM_AFTER = 3
#: Error codes of a throttled call (after botocore's own retries).
THROTTLED = frozenset({"ThrottlingException", "Throttling"})

_T = TypeVar("_T")


class Gate:
    """How many calls may be in flight, and how long to wait before the next one starts. Thread-safe;
    `sleep` and `rng` are injectable so tests do not wait."""

    def __init__(
        self,
        width: int = CALL_THREADS,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
    ) -> None:
        self.width = width
        self.sleep = sleep
        self._rng = rng or random.Random()
        self._budget = WAIT_BUDGET_SECONDS if budget is None else budget
        self._lock = threading.Lock()
        self._limit = width
        self._streak = 0  # throttled calls in a row
        self._calm = 0  # calls in a row without throttling since the last throttle
        self._due = 0.0  # backoff owed before the next start
        self.waited = 0.0  # backoff waited so far
        self.throttles = 0

    @property
    def limit(self) -> int:
        with self._lock:
            return self._limit

    def observe(self, throttled: bool) -> None:
        """A call came back: throttled (one in flight, a backoff owed) or not (counts toward opening)."""
        with self._lock:
            if throttled:
                self.throttles += 1
                ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**self._streak)
                self._streak += 1
                self._calm = 0
                self._limit = 1
                self._due = max(self._due, self._rng.uniform(BACKOFF_BASE_SECONDS / 2, ceiling))
                return
            self._streak = 0
            self._calm += 1
            if self._calm >= CALM_AFTER:
                self._limit = self.width

    def take_wait(self) -> float | None:
        """The backoff to wait before the next start (0: none); None: the budget is spent, start no more."""
        with self._lock:
            due, self._due = self._due, 0.0
            if due and self.waited + due > self._budget:
                return None
            self.waited += due
            return due


@dataclass
class Lanes(Generic[_T]):
    """The tasks' results in plan order (None: not started, the gate's budget spent)."""

    results: list[_T | None] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)  # indexes of the tasks not started


def run_lanes(
    tasks: Sequence[tuple[str, Callable[[], _T]]],
    gate: Gate,
    throttled: Callable[[_T], bool],
    per_cluster: int = CALLS_PER_CLUSTER,
) -> Lanes[_T]:
    """Run `(cluster, task)` pairs within the gate's and the per-cluster bounds; results in plan order.
    A task that raises stops new starts; the first error is raised once the others have finished."""
    if len(tasks) <= 1:
        return _inline(tasks, gate, throttled)
    run = _Dispatch(tasks, gate, throttled, per_cluster)
    with ThreadPoolExecutor(max_workers=gate.width, thread_name_prefix="call") as pool:
        run.dispatch(pool)
    if run.error is not None:
        raise run.error
    return run.out


def _inline(
    tasks: Sequence[tuple[str, Callable[[], _T]]], gate: Gate, throttled: Callable[[_T], bool]
) -> Lanes[_T]:
    out: Lanes[_T] = Lanes()
    for _, task in tasks:
        result = task()
        gate.observe(throttled(result))
        out.results.append(result)
    return out


class _Dispatch(Generic[_T]):
    """The caller's thread starts tasks; pool threads run them and report back under one condition."""

    def __init__(
        self,
        tasks: Sequence[tuple[str, Callable[[], _T]]],
        gate: Gate,
        throttled: Callable[[_T], bool],
        per_cluster: int,
    ) -> None:
        self.tasks = tasks
        self.gate = gate
        self.throttled = throttled
        self.per_cluster = per_cluster
        self.out: Lanes[_T] = Lanes(results=[None] * len(tasks))
        self.error: BaseException | None = None
        self._changed = threading.Condition()
        self._queues: dict[str, deque[int]] = {}
        for i, (cluster, _) in enumerate(tasks):
            self._queues.setdefault(cluster, deque()).append(i)
        self._running: dict[str, int] = dict.fromkeys(self._queues, 0)
        self._in_flight = 0

    def dispatch(self, pool: ThreadPoolExecutor) -> None:
        while True:
            with self._changed:
                while (i := self._next()) is None and self._left() and self.error is None:
                    self._changed.wait()
            if i is None:
                return
            wait = self.gate.take_wait()
            if wait is None:
                self._defer_rest()
                return
            if wait:
                self.gate.sleep(wait)
                continue  # the gate may have narrowed meanwhile: choose again
            with self._changed:
                cluster = self.tasks[i][0]
                self._queues[cluster].popleft()
                self._running[cluster] += 1
                self._in_flight += 1
            pool.submit(self._run, i)

    def _next(self) -> int | None:
        """The earliest planned task that may start now (called under the condition)."""
        if self.error is not None or self._in_flight >= self.gate.limit:
            return None
        heads = [q[0] for c, q in self._queues.items() if q and self._running[c] < self.per_cluster]
        return min(heads, default=None)

    def _left(self) -> bool:
        return any(self._queues.values())

    def _defer_rest(self) -> None:
        with self._changed:
            self.out.deferred = sorted(i for q in self._queues.values() for i in q)
            for q in self._queues.values():
                q.clear()

    def _run(self, i: int) -> None:
        cluster, task = self.tasks[i]
        result: _T | None = None
        error: BaseException | None = None
        try:
            result = task()
        except BaseException as exc:  # handed to the caller's thread, raised there
            error = exc
        throttled = error is None and self.throttled(result)  # type: ignore[arg-type]
        self.gate.observe(throttled)
        with self._changed:
            self.out.results[i] = result
            if error is not None and self.error is None:
                self.error = error
            self._running[cluster] -= 1
            self._in_flight -= 1
            self._changed.notify_all()
