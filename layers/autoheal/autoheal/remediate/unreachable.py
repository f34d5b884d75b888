"""Stage 8a (execute), tell about clusters that cannot be read: one metric per cluster and error code,
and one notification per (cluster, error code) per `NOTICE_EVERY`, rate-limited by a control record
(`ports.Notices`), so a cluster denied for hours is told once an hour, not once per batch.

The faults themselves were held by `resolve` (hold `cluster_unreachable`) and are re-queued by `claim`
and `requeue` like every other hold.
"""

from __future__ import annotations

from datetime import timedelta

from autoheal.adapters.notify import HumanNeeded
from autoheal.observability import Metric, logger
from autoheal.ports import Notices
from autoheal.remediate.model import RETRY_MAX_SECONDS, BatchPlan, Effects

#: At most one notification per cluster and error code in this period.
NOTICE_EVERY = timedelta(hours=1)


def tell_unreachable(batch: BatchPlan, notices: Notices | None) -> Effects:
    out = Effects()
    for cluster, (code, message) in sorted(batch.unreachable.items()):  # the code is normalised
        out.metrics.add(Metric.CLUSTER_ERRORS, ErrorCode=code)
        held = sum(len(p.node.faults) for p in batch.nodes if p.node.ref[0] == cluster)
        logger.warning(
            "cluster cannot be read; its faults are held",
            extra={"cluster": cluster, "error_code": code, "error": message, "faults": held},
        )
        if batch.policy.guards.dry_run:
            continue
        if notices is not None and not notices.first_notice(f"{cluster}#{code}", batch.now, NOTICE_EVERY):
            continue
        out.humans.append(
            HumanNeeded(
                cluster=cluster,
                node_key="*",
                instance_id=None,
                reason=(
                    f"cluster {cluster} cannot be read ({code}: {message}); its faults are held and "
                    f"retried every {RETRY_MAX_SECONDS // 60} minutes, nothing is done there until it can "
                    "be read (check the remediate role's permissions and the cluster); other clusters "
                    f"are not affected. Told at most once per {int(NOTICE_EVERY.total_seconds() // 60)} "
                    "minutes per cluster and error."
                ),
                last_action=None,
                signal=None,
                kind="cluster_unreachable",
                details={"error_code": code},
            )
        )
    return out
