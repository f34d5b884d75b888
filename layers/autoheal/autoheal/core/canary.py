"""Canary waves for correlated faults (issue 18 §3), pure: when many nodes of one instance group report
the same signal within a short window, act on one canary first and release the rest in growing waves,
each gated on the previous wave's verified health.

A wave record per (cluster, instance group, signal) holds what is needed, and nothing else is read:

- `WATCHING`: the nodes that reported the signal within `window` (`seen`). Fewer than `min_nodes`: every
  fault acts as usual. At `min_nodes` an episode starts: one canary is released, the rest are held.
- `WAVE`: the released nodes of the current wave (`current`) wait for reconcile to verify them. Healthy
  (reconcile closed them as healed after their release) -> the next wave may release `growth ** wave`
  more (1, 2, 4, 8, ... with growth 2). A released node whose fault comes back, whose action failed, or
  that is not verified within `verify_timeout` stops the episode.
- `STOPPED`: every fault of the key is held (a hold never drops a fault: it comes back, and goes to a
  human past the policy's hold ceiling) until an operator releases or the episode is ended.
- `RELEASED` (an operator let the rest go) and `DONE` (every node that reported was released and
  verified): faults act as usual; after `window` with no episode the record watches again.

Waves run inside the circuit breaker: the canary decides the order and the gating, the breaker still caps
how many nodes are under remediation at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # `autoheal.policy` holds `Canary`, and `core.state` imports the policy
    from autoheal.core.state import NodeState

#: A record keeps at most this many nodes per key (an item stays far below DynamoDB's 400 KB).
MAX_NODES_KEPT = 2000


class Canary(BaseModel):
    """The policy of canary waves: on by default."""

    model_config = ConfigDict(frozen=True)

    enabled: bool = True
    min_nodes: int = Field(default=5, ge=2)  # nodes of a group with the same signal within `window`
    window: timedelta = timedelta(minutes=10)
    growth: int = Field(default=2, ge=2)  # wave n releases growth ** n nodes (the canary is wave 0)
    verify_timeout: timedelta = timedelta(minutes=60)  # a wave not verified by then stops the episode
    poll_seconds: int = Field(default=120, ge=1, le=900)  # how soon a held fault looks at its wave again


class Phase(StrEnum):
    WATCHING = "watching"
    WAVE = "wave"
    STOPPED = "stopped"
    RELEASED = "released"
    DONE = "done"


class NodeVerdict(StrEnum):
    PENDING = "pending"
    HEALTHY = "healthy"
    FAILED = "failed"


@dataclass(frozen=True)
class WaveKey:
    cluster: str
    group: str
    signal: str

    @property
    def label(self) -> str:
        return f"{self.cluster}/{self.group}/{self.signal}"


@dataclass(frozen=True)
class WaveRecord:
    """One (cluster, group, signal)'s wave state, as the ledger last recorded it."""

    key: WaveKey
    version: int = 0
    phase: Phase = Phase.WATCHING
    seen: Mapping[str, datetime] = field(default_factory=dict)  # node key -> when it first reported
    episode: str | None = None  # a short stable id, for `autoheal waves release|stop ID`
    started_at: datetime | None = None
    count: int = 0  # nodes that had reported when the episode started
    wave: int = 0  # the current wave (0: the canary)
    allowance: int = 0  # how many more nodes the current wave may release
    released: Mapping[str, datetime] = field(default_factory=dict)  # node key -> released at
    current: tuple[str, ...] = ()  # the current wave's nodes, waiting for verification
    wave_at: datetime | None = None  # when the current wave's first node was released
    verified: tuple[str, ...] = ()
    ended_at: datetime | None = None  # stopped, released or done
    reason: str = ""  # why it stopped, or who released it

    @property
    def waiting(self) -> int:
        """Nodes that reported and are not released (held while the episode lasts)."""
        return len(set(self.seen) - set(self.released))

    @property
    def span(self) -> timedelta:
        """How far apart the first and the last report of the seen nodes were."""
        times = list(self.seen.values())
        return max(times) - min(times) if times else timedelta(0)


@dataclass(frozen=True)
class Gate:
    """What the gate decided for one key in one batch."""

    before: WaveRecord
    after: WaveRecord
    release: frozenset[str]  # node keys that may act now
    hold: frozenset[str]  # node keys held by the wave
    started: bool = False  # an episode started: page at the first wave
    stopped: bool = False  # the episode stopped in this batch: page with the evidence

    @property
    def changed(self) -> bool:
        return self.after != self.before


def episode_id(key: WaveKey, at: datetime) -> str:
    """A short stable id for an episode: the same key and start always give the same id."""
    return "w-" + hashlib.sha256(f"{key.label}@{at.isoformat()}".encode()).hexdigest()[:8]


def gate(
    record: WaveRecord,
    wanting: Mapping[str, datetime],
    recurred: Iterable[str],
    now: datetime,
    policy: Canary,
) -> Gate:
    """The faults of `wanting` (node key -> when its fault was observed, for the nodes whose fault would
    act now, in batch order) through the wave. `recurred`: those of them whose fault is new after their
    own release (not a retry of it)."""
    r = pruned(_aged(record, now, policy), now, policy)
    r = replace(r, seen=_seen(r, wanting, now))
    nodes = list(wanting)
    if r.phase in (Phase.RELEASED, Phase.DONE):
        return Gate(record, r, frozenset(nodes), frozenset())
    if r.phase is Phase.WATCHING:
        if len(r.seen) < policy.min_nodes:
            return Gate(record, r, frozenset(nodes), frozenset())
        canary = nodes[0]
        started = replace(
            r,
            phase=Phase.WAVE,
            episode=episode_id(r.key, now),
            started_at=now,
            count=len(r.seen),
            wave=0,
            allowance=0,
            released={canary: now},
            current=(canary,),
            wave_at=now,
            verified=(),
            ended_at=None,
            reason="",
        )
        return Gate(record, started, frozenset({canary}), frozenset(nodes[1:]), started=True)
    if r.phase is Phase.WAVE:
        back = [n for n in recurred if n in r.released]
        if back:
            stopped = _stop(r, f"fault recurred on released node {back[0]}", now)
            return Gate(record, stopped, frozenset(), frozenset(nodes), stopped=True)
        r, release = _release(r, nodes, now)
        return Gate(record, r, release, frozenset(n for n in nodes if n not in release))
    return Gate(record, r, frozenset(), frozenset(nodes))  # STOPPED


def _release(r: WaveRecord, nodes: list[str], now: datetime) -> tuple[WaveRecord, frozenset[str]]:
    """Released nodes act (again: a retry, a re-delivery); new ones while the wave has room."""
    already = [n for n in nodes if n in r.released]
    fresh = [n for n in nodes if n not in r.released][: max(0, r.allowance)]
    if not fresh:
        return r, frozenset(already)
    released = {**r.released, **dict.fromkeys(fresh, now)}
    out = replace(
        r,
        released=released,
        current=(*r.current, *fresh),
        allowance=r.allowance - len(fresh),
        wave_at=r.wave_at or now,
    )
    return out, frozenset([*already, *fresh])


def _aged(r: WaveRecord, now: datetime, policy: Canary) -> WaveRecord:
    """A record whose episode ended more than `window` ago watches again, from nothing."""
    ended = r.phase in (Phase.RELEASED, Phase.DONE) and r.ended_at is not None
    if ended and r.ended_at is not None and now - r.ended_at >= policy.window:
        return WaveRecord(r.key, r.version)
    return r


def _seen(r: WaveRecord, wanting: Mapping[str, datetime], now: datetime) -> dict[str, datetime]:
    """While watching, the nodes seen within the window; during an episode, every node that reported
    (each at its fault's observation, never later than now)."""
    seen = dict(r.seen)
    for n, at in wanting.items():
        seen.setdefault(n, min(at, now))
    if len(seen) > MAX_NODES_KEPT:
        seen = dict(sorted(seen.items(), key=lambda kv: kv[1])[-MAX_NODES_KEPT:])
    return seen


def pruned(r: WaveRecord, now: datetime, policy: Canary) -> WaveRecord:
    """A watching record without the nodes seen before the window."""
    if r.phase is not Phase.WATCHING:
        return r
    return replace(r, seen={n: t for n, t in r.seen.items() if now - t < policy.window})


def _stop(r: WaveRecord, reason: str, now: datetime) -> WaveRecord:
    return replace(r, phase=Phase.STOPPED, reason=reason[:512], ended_at=now, allowance=0)


def node_verdict(h: NodeState | None, released_at: datetime) -> NodeVerdict:
    """A released node, judged from its ledger state: healed after its release, or failed."""
    from autoheal.core.state import LastOutcome, NodeStatus  # see the TYPE_CHECKING import

    if h is None:
        return NodeVerdict.PENDING
    acted = h.last_action_at is not None and h.last_action_at >= released_at
    if h.status is NodeStatus.NEEDS_HUMAN:
        return NodeVerdict.FAILED
    if not acted:
        return NodeVerdict.PENDING
    if h.last_outcome in (LastOutcome.FAILED, LastOutcome.PERMANENT, LastOutcome.GONE):
        return NodeVerdict.FAILED
    if h.status in (NodeStatus.IDLE, NodeStatus.CLOSED) and h.last_outcome is LastOutcome.HEALED:
        return NodeVerdict.HEALTHY
    return NodeVerdict.PENDING


def verify(
    r: WaveRecord, verdicts: Mapping[str, NodeVerdict], now: datetime, policy: Canary
) -> tuple[WaveRecord, bool]:
    """The current wave judged (reconcile): (the record after, whether the episode just stopped)."""
    if r.phase is not Phase.WAVE or not r.current:
        return r, False
    failed = [n for n in r.current if verdicts.get(n) is NodeVerdict.FAILED]
    if failed:
        return _stop(r, f"released node {failed[0]}: its action failed", now), True
    if all(verdicts.get(n) is NodeVerdict.HEALTHY for n in r.current):
        verified = (*r.verified, *r.current)
        if not set(r.seen) - set(r.released):
            return replace(r, phase=Phase.DONE, verified=verified, current=(), ended_at=now), False
        wave = r.wave + 1
        return replace(
            r, wave=wave, allowance=policy.growth**wave, current=(), wave_at=None, verified=verified
        ), False
    if r.wave_at is not None and now - r.wave_at >= policy.verify_timeout:
        return _stop(r, f"wave {r.wave} not verified within {policy.verify_timeout}", now), True
    return r, False


def operator(r: WaveRecord, release: bool, by: str, now: datetime) -> WaveRecord:
    """An operator's decision: release the rest (faults act as usual), or stop (hold the rest)."""
    if release:
        return replace(r, phase=Phase.RELEASED, allowance=0, ended_at=now, reason=f"released by {by}"[:512])
    return _stop(r, f"stopped by {by}", now)
