"""Process deaths at random nodes — after the claim, after the SageMaker call, before the outcome write —
then SQS redelivery and reconcile: no node is acted on twice, and every fault ends terminal (healed) or
pending a retry.

With the control plane's own durations: a reboot is over in 2 minutes, long before the 15-minute claim
expires, so when reconcile looks the node is Running again and nothing on it tells a finished reboot
from one never sent. The ledger does: a call's nodes are marked `sending` just before it, so a death
after that point is "sent, outcome unknown" (recorded as taken, verified, never sent again) and a
death before it left nothing sent (the claim is released and the fault re-driven)."""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from autoheal.adapters.ledger import AttemptRecord
from autoheal.core.planner import BatchRequest
from autoheal.core.state import LastOutcome, NodeState, NodeStatus
from autoheal.remediate.service import Deps
from hyperpod_local.stack.world import LocalWorld
from tests.fixtures import minutes
from tests.torture.support import (
    REBOOT,
    Storm,
    answered,
    backend,
    deliver,
    entries_per_node,
    make_storm,
    records,
    redeliver,
    remediate_batch,
    remediate_until_quiet,
    report,
    scaled,
    seed,
    take,
)

pytestmark = pytest.mark.torture

BATCH = 10
MODES = ("after_claim", "after_call", "before_outcome")


class Crash(RuntimeError):
    """A process death: escapes the handler, as a real one would."""


def _names(victim: tuple[str, str], storm: Storm) -> set[str]:
    cluster, logical = victim
    return {logical, *(iid for c, iid, lid in storm.nodes if lid == logical and c.name == cluster)}


def crash_hook(mode: str, victim: set[str]) -> Callable[[Deps], Deps]:
    """Wrap the adapters so that the invocation dies at `mode` when it reaches the victim node."""

    def hook(deps: Deps) -> Deps:
        ledger, nodes = deps.states, deps.nodes

        class States:
            def __getattr__(self, name: str) -> Any:
                return getattr(ledger, name)

            def put_if_unchanged(self, new: NodeState, expected: int, now: Any) -> bool:
                won = ledger.put_if_unchanged(new, expected, now)
                if (
                    mode == "after_claim"
                    and won
                    and new.status is NodeStatus.CLAIMED
                    and new.node_key in victim
                ):
                    raise Crash(f"died after claiming {new.node_key}")
                return won

            def commit(
                self, states: Sequence[NodeState], attempts: Sequence[AttemptRecord], now: Any
            ) -> None:
                if mode == "before_outcome" and any(s.node_key in victim for s in states):
                    raise Crash("died before writing the outcomes")
                ledger.commit(states, attempts, now)

        class Nodes:
            def __getattr__(self, name: str) -> Any:
                return getattr(nodes, name)

            def execute(self, request: BatchRequest) -> Any:
                receipt = nodes.execute(request)
                if mode == "after_call" and victim & set(request.ids):
                    raise Crash(f"died after {request.action} on {len(request.ids)} nodes")
                return receipt

        deps.states = States()  # type: ignore[assignment]
        deps.nodes = Nodes()  # type: ignore[assignment]
        return deps

    return hook


def test_crashes_at_every_step_never_act_twice_and_lose_nothing(
    world: LocalWorld, dynamodb_endpoint: str | None
) -> None:
    started = time.monotonic()
    rng = random.Random(seed() + 3)
    n = scaled(100, 1000)
    storm = make_storm(world, n, prefix="crash")
    deliver(world, storm.events(world))
    messages = take(world)
    rng.shuffle(messages)

    crashes: Counter[str] = Counter()
    crashed: list[dict[str, Any]] = []
    for start in range(0, len(messages), BATCH):
        batch = messages[start : start + BATCH]
        mode = rng.choice((*MODES, "none"))
        if mode == "none":
            remediate_batch(world, batch)
            continue
        victim_body = rng.choice(batch)["body"]
        victim = storm.key(world, _victim_ref(victim_body))
        try:
            remediate_batch(world, batch, deps_hook=crash_hook(mode, _names(victim, storm)))
        except Crash:
            crashes[mode] += 1
            crashed.extend(batch)
    assert sum(crashes.values()) > 0 and len(crashes) == len(MODES), crashes

    # SQS redelivers the dead invocations' messages while their claims still hold: claimed nodes are
    # left alone (nodes the dead invocation never reached are acted on now, for the first time)
    redeliver(world, crashed)
    remediate_until_quiet(world, rng)
    early = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    assert {k: v for k, v in early.items() if v > 1} == {}

    # the claims expire; reconcile records what reached the platform and releases the rest
    recovered: Counter[str] = Counter()
    world.advance(minutes(16).total_seconds())
    for _ in range(3):
        r = world.reconcile()
        recovered["recorded_as_taken"] += r.metrics.total("ClaimsRecovered", Resolution="recorded_as_taken")
        recovered["released"] += r.metrics.total("ClaimsRecovered", Resolution="released")
        remediate_until_quiet(world, rng)
        world.advance(minutes(15).total_seconds())
    world.reconcile()

    keys = [(c.name, logical) for c, _, logical in storm.nodes]
    reboots = entries_per_node(world, storm, answered(world.control.calls, REBOOT))
    ledger = records(world, storm)
    finals = Counter(str(ledger[k].state.status) if ledger[k].state else "none" for k in keys)  # type: ignore[union-attr]
    doubles = {k: v for k, v in reboots.items() if v > 1}
    settled = {NodeStatus.IDLE, NodeStatus.CLOSED, NodeStatus.NEEDS_HUMAN, NodeStatus.RETRY_PENDING}
    lost = [k for k in keys if ledger[k].state is None or ledger[k].state.status not in settled]  # type: ignore[union-attr]
    report(
        f"crashes [{backend(dynamodb_endpoint)}]",
        events=n,
        faults=n,
        crashes=dict(crashes),
        recovered=dict(recovered),
        actions=sum(reboots.values()),
        final=dict(finals),
        duplicates=sum(v - 1 for v in doubles.values()),
        lost=len(lost),
        seconds=round(time.monotonic() - started, 1),
    )
    assert doubles == {}
    assert lost == []
    assert recovered["recorded_as_taken"] > 0 and recovered["released"] > 0
    for k in keys:
        state = ledger[k].state
        assert state is not None
        assert state.claim_expires_at is None and state.intent_action is None, k
        if state.status is NodeStatus.IDLE:
            assert state.last_outcome is LastOutcome.HEALED and reboots[k] == 1, k


def _victim_ref(body: str) -> str:
    import json

    fault = json.loads(body)
    ref: str = fault.get("instance_id") or fault.get("node_logical_id")
    return ref
