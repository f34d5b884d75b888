"""Reconcile's part in canary waves (issue 18 §3): verify each episode's current wave.

Once per round, after the open nodes were judged: one Query of the wave records, then for each episode
waiting on a wave one BatchGetItem of its released nodes' states. Every node healed after its release
(reconcile closed it healthy, past the healthy delay, with no new fault) -> the next, bigger wave may be
released (remediate releases it as the held faults come back); a node whose action failed, that went to
a human or is gone, or a wave not verified within `verify_timeout` -> the episode stops, the rest stay
held, and a human is paged once (the write is conditional on the record's version: one writer pages).
"""

from __future__ import annotations

from datetime import datetime

from autoheal.adapters.dynamo import LedgerError
from autoheal.adapters.notify import NotifyError
from autoheal.core.canary import Phase, WaveRecord, node_verdict, verify
from autoheal.observability import Metric, MetricCounts, logger
from autoheal.policy import RemediationPolicy
from autoheal.ports import HumanNotifier, NodeStates, Waves
from autoheal.remediate.canary import stopped_notice


def verify_waves(
    waves: Waves | None,
    states: NodeStates,
    notifier: HumanNotifier,
    policy: RemediationPolicy,
    now: datetime,
    cluster: str | None = None,
) -> MetricCounts:
    """Judge every waiting wave (of `cluster`, or all); advance or stop it. Never stops the round."""
    metrics = MetricCounts()
    if waves is None:
        return metrics
    try:
        records = [r for r in waves.all() if r.phase is Phase.WAVE and r.current]
    except LedgerError:
        logger.exception("wave records not read; waves are verified next round")
        return metrics
    for r in records:
        if cluster is not None and r.key.cluster != cluster:
            continue
        try:
            _verify_one(r, waves, states, notifier, policy, now, metrics)
        except LedgerError:  # this episode is verified next round; the others go on
            logger.exception("canary wave not verified", extra={"episode": r.episode})
    return metrics


def _verify_one(
    r: WaveRecord,
    waves: Waves,
    states: NodeStates,
    notifier: HumanNotifier,
    policy: RemediationPolicy,
    now: datetime,
    metrics: MetricCounts,
) -> None:
    loaded = states.load([(r.key.cluster, n) for n in r.current])
    verdicts = {n: node_verdict(loaded.get((r.key.cluster, n)), r.released[n]) for n in r.current}
    after, stopped = verify(r, verdicts, now, policy.canary)
    if after == r or not waves.put(after, now):
        return
    if stopped:
        metrics.add(Metric.CANARY_STOPPED)
        logger.warning("canary wave stopped", extra={"episode": r.episode, "reason": after.reason})
        try:
            notifier.needs_human([stopped_notice(after)])
        except NotifyError:
            logger.exception("canary stop not published", extra={"episode": r.episode})
        return
    metrics.add(Metric.CANARY_WAVES_VERIFIED)
    logger.info(
        "canary wave verified", extra={"episode": r.episode, "wave": r.wave, "phase": after.phase.value}
    )
