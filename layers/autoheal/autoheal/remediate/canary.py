"""Stage 4c, canary waves (issue 18 §3): a correlated fault -- many nodes of one instance group with the
same signal within a short window -- acts on one canary first and on the rest in growing waves, each
released only once reconcile verified the previous one (`autoheal.core.canary` decides; this stage
reads and writes the wave records).

- `hold_waves` (plan): one BatchGetItem of the batch's (cluster, group, signal) records; every fault that
  would act goes through its key's gate; those the wave does not release are held (`canary_wave`, back
  after `poll_seconds`, recorded as held: never dropped).
- `commit_waves` (execute, before the claims): each changed record written on its version. A record
  someone else wrote meanwhile releases nothing in this batch (its nodes are held a few seconds and
  decided again). An episode that starts pages a human at once -- a false positive "heals" under any
  action, so the page must not wait for a failure -- and one that stops pages with why.

Runs before the circuit breaker: held faults are not counted as under remediation, the breaker still
caps the released ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from autoheal.adapters.notify import HumanNeeded
from autoheal.core.canary import Gate, WaveKey, WaveRecord, gate
from autoheal.observability import Metric, logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import Waves
from autoheal.remediate.model import BatchPlan, Effects, Hold, NodePlan

HOLD = "canary_wave"
#: A lost race on a wave record: its faults come back this soon and are decided again.
CONFLICT_SECONDS = 5


def key_of(p: NodePlan) -> WaveKey:
    return WaveKey(p.node.ref[0], p.node.target.instance_group or "", p.node.latest.signal)


def hold_waves(
    plans: list[NodePlan], waves: Waves | None, policy: RemediationPolicy, now: datetime
) -> tuple[list[NodePlan], list[Gate]]:
    """The faults that would act, through their wave's gate; the gates that changed a record."""
    wanting = [p for p in plans if p.would_act]
    if waves is None or not policy.canary.enabled or not wanting:
        return plans, []
    by_key: dict[WaveKey, list[NodePlan]] = {}
    for p in wanting:
        by_key.setdefault(key_of(p), []).append(p)
    records = waves.waves(by_key)
    gates: dict[WaveKey, Gate] = {}
    for key, members in by_key.items():
        record = records.get(key, WaveRecord(key))
        nodes = {p.node.target.node_key: min(f.observed_at for f in p.node.faults) for p in members}
        gates[key] = gate(record, nodes, _recurred(members, record), now, policy.canary)
    out = []
    for p in plans:
        g = gates.get(key_of(p)) if p.would_act else None
        if g is not None and p.node.target.node_key in g.hold:
            p = replace(p, hold=Hold(HOLD, f"canary:{g.after.episode or g.after.key.label}", _poll(policy)))
        out.append(p)
    return out, [g for g in gates.values() if g.changed]


def _recurred(members: Sequence[NodePlan], record: WaveRecord) -> list[str]:
    """Released nodes acted on since their release whose fault is new (not a retry of that action)."""
    out = []
    for p in members:
        released = record.released.get(p.node.target.node_key)
        acted = p.history.last_action_at
        if released is not None and acted is not None and acted >= released and not p.decision.retry:
            out.append(p.node.target.node_key)
    return out


def _poll(policy: RemediationPolicy) -> int:
    return policy.canary.poll_seconds


def commit_waves(batch: BatchPlan, waves: Waves | None) -> tuple[BatchPlan, Effects]:
    """Write the changed wave records; a record lost to another writer holds its key's nodes."""
    out = Effects()
    if waves is None or not batch.waves or batch.policy.guards.dry_run:
        return batch, out
    lost: set[WaveKey] = set()
    for g in batch.waves:
        if not waves.put(g.after, batch.now):
            lost.add(g.after.key)
            logger.info("wave record written meanwhile; its faults wait", extra={"wave": g.after.key.label})
            continue
        _effects(g, batch, out)
    if not lost:
        return batch, out
    nodes = [
        replace(p, hold=Hold(HOLD, "canary:conflict", CONFLICT_SECONDS))
        if p.would_act and key_of(p) in lost
        else p
        for p in batch.nodes
    ]
    return replace(batch, nodes=nodes), out


def _effects(g: Gate, batch: BatchPlan, out: Effects) -> None:
    before, after = g.before, g.after
    fresh = set(after.released) - set(before.released)
    if fresh:
        out.metrics.add(Metric.CANARY_WAVE_RELEASED, len(fresh))
    if g.hold:
        out.metrics.add(Metric.CANARY_HELD, len(g.hold))
    if g.started:
        out.metrics.add(Metric.CANARY_EPISODES)
        out.humans.append(_started(after, batch))
        logger.warning("correlated fault: canary wave started", extra=_extra(after))
    if g.stopped:
        out.metrics.add(Metric.CANARY_STOPPED)
        out.humans.append(stopped_notice(after))
        logger.warning("canary wave stopped", extra=_extra(after))


def _extra(r: WaveRecord) -> dict[str, object]:
    return {"episode": r.episode, "wave": r.key.label, "nodes": r.count, "reason": r.reason}


def _started(r: WaveRecord, batch: BatchPlan) -> HumanNeeded:
    canary = r.current[0] if r.current else "?"
    instance = next(
        (p.node.target.instance_id for p in batch.nodes if p.node.target.node_key == canary), None
    )
    minutes = max(1, -(-int(r.span.total_seconds()) // 60))
    return HumanNeeded(
        cluster=r.key.cluster,
        node_key=f"canary:{r.episode}",
        instance_id=instance,
        reason=(
            f"correlated fault: {r.count} nodes of group {r.key.group} reported signal {r.key.signal} "
            f"within {minutes} min; acting on canary {canary}; the rest held until it is verified healthy, "
            f"then released in growing waves (episode {r.episode}). A false positive heals under any "
            f"action: look at why they all said the same thing. `autoheal waves` shows it; "
            f"`autoheal waves stop {r.episode}` holds the rest, `autoheal waves release {r.episode}` "
            "lets them all go"
        ),
        last_action=None,
        signal=r.key.signal,
        kind="canary_started",
        details=_details(r, canary=canary, count=str(r.count)),
    )


def stopped_notice(r: WaveRecord) -> HumanNeeded:
    """The page when an episode stops: why, and what is held."""
    return HumanNeeded(
        cluster=r.key.cluster,
        node_key=f"canary:{r.episode}",
        instance_id=None,
        reason=(
            f"canary waves stopped for {r.count} nodes of group {r.key.group} with signal {r.key.signal} "
            f"(episode {r.episode}, wave {r.wave}): {r.reason}; {len(r.verified)} verified healthy, "
            f"{r.waiting} held. `autoheal history NODE --cluster {r.key.cluster}` shows the evidence; "
            f"`autoheal waves release {r.episode}` lets the rest go"
        ),
        last_action=None,
        signal=r.key.signal,
        kind="canary_stopped",
        details=_details(r, wave=str(r.wave), held=str(r.waiting), verified=str(len(r.verified))),
    )


def _details(r: WaveRecord, **more: str) -> dict[str, str]:
    """An episode notice's structured fields (its row in `autoheal.alerts.kinds` uses them)."""
    return {"episode": r.episode or "", "group": r.key.group, **more}
