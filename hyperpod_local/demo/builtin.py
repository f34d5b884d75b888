"""The built-in incident: what ``make demo`` runs when no ``--scenario`` is given.

Two Slurm clusters on ml.p5.48xlarge. ``train-p5`` has a controller, two login nodes and a GPU group
of ``max(64, nodes)``; ``infer-p5`` has a controller and 8 GPU nodes. Then:

1. storm: ``nodes`` GPU faults in ``train-p5/gpu-a`` at once (60: three reboot calls, 25 + 25 + 10),
   with, in the same batch, one event delivered twice (same id), a healthy transition and a malformed
   event;
2. busy node: HyperPod itself is working on an ``infer-p5`` node, so our reboot gets
   ``InstanceIdInUse``: a retry is scheduled;
3. time passes (one reboot's duration): the reboots finish, the busy node's retry is accepted, and
   EventBridge redelivers the duplicate event once more;
4. HMA log: Slurm's fault path. HMA on an ``infer-p5`` node logs an XID 48 (double-bit ECC: reboot first) three times (one
   CloudWatch Logs delivery), and HyperPod's EventBridge Node Health Event reports the same fault:
   the node is rebooted once. (After "time passes", not before: remediate retries without backoff
   here, so an invocation while the busy node is still busy would retry it early.)
5. recurrence: past the echo grace period, the first storm node faults again: the ladder's next step
   is a replace, which this demo asks a person to approve (``ApprovalRequiredFor=replace``; empty as
   deployed, said in its output): the replace is held as a pending approval, the demo's operator
   approves it with ``autoheal approve --all --cluster train-p5`` (the CLI's own code), and the next
   invocation replaces the node; after the replacement's duration it runs with a new instance id under
   the same NodeLogicalId.
6. lemon: past the grace period once more, the same node faults again. With the retire rung switched
   on (``RetireAndRestore``; off as deployed, on in this demo and said in its output) it is retired
   (BatchDeleteClusterNodes) and its group restored (BatchAddClusterNodes, under a ClientToken the
   ledger keeps) -- and the invocation dies after both calls, before writing their outcome;
7. redelivered restore: once the dead invocation's claim expires, SQS redelivers its message (the node
   has left the cluster: ignored), reconcile records the retire as taken and queues a
   ``RestorePending`` fault, and remediate re-sends the add under the same token: HyperPod answers with
   the first call's NodeLogicalId, no second node;
8. restore tracked: a capacity shortage (from the retire on) keeps the added node Pending, so reconcile
   waits; when the shortage ends it runs, and reconcile closes the retire as restored.

Durations come from the control plane's ``NodeTimings`` and the policy's recurrence grace, so the
script stays right if either changes.
"""

from __future__ import annotations

import random
import uuid
from typing import Literal

from hyperpod_local.demo.approvals import Approve
from hyperpod_local.demo.scenario_file import (
    Busy,
    ClusterSpecModel,
    GroupSpecModel,
    HealthFaults,
    HmaFaults,
    Reconcile,
    Remediate,
    Scenario,
    Shortage,
    Step,
)
from hyperpod_local.plane.model import NodeTimings

DEFAULT_NODES = 60
#: The biggest storm --nodes allows: moto slows down with queue and table size (500 takes ~20 s).
MAX_STORM_NODES = 500
MIN_GROUP = 64
TRAIN, INFER = "train-p5", "infer-p5"
STORM_GROUP, INFER_GROUP = "gpu-a", "gpu"
GPU = "ml.p5.48xlarge"

LABEL_RECURS = "faults again -> replace"
LABEL_BUSY = "busy (InstanceIdInUse)"
LABEL_DUPLICATE = "duplicate event"
LABEL_HEALTHY = "healthy transition"
LABEL_HMA = "HMA log + EventBridge (same fault)"
LABEL_LEMON = "keeps faulting -> retire + restore"
APPROVAL_REASON = "demo operator: the node faulted again after its reboot"
#: the built-in incident runs with the retire rung on (template RetireAndRestore; off as deployed)
RETIRE_AND_RESTORE = True
#: the built-in incident asks for approval of replaces (template ApprovalRequiredFor; empty as deployed)
APPROVAL_REQUIRED_FOR: list[Literal["reboot", "replace", "retire", "restore"]] = ["replace"]
#: a capacity shortage in the lemon's group from its retire on: the added node waits in Pending
SHORTAGE_SECONDS = 30 * 60

#: infer-p5/gpu node indexes of the special nodes (the group has INFER_NODES)
DUPLICATE_INDEX, HEALTHY_INDEX, BUSY_INDEX, MALFORMED_INDEX, HMA_INDEX = 0, 1, 2, 3, 4
INFER_NODES = 8
#: HMA log records of the HMA node's one delivery (one fault: the others are duplicate_in_event)
HMA_RECORDS = 3


def storm_group_size(nodes: int) -> int:
    return max(MIN_GROUP, nodes)


def incident(
    nodes: int, *, seed: int, timings: NodeTimings, grace_seconds: float, claim_ttl_seconds: float
) -> Scenario:
    """The scripted incident with a storm of ``nodes`` faults (1 <= nodes <= MAX_STORM_NODES)."""
    duplicate_id = str(uuid.UUID(int=random.Random(f"duplicate:{seed}").getrandbits(128), version=4))
    steps = [
        *_storm(nodes, duplicate_id),
        *_busy_node(timings),
        *_time_passes(timings, duplicate_id),
        *_hma_log(),
        *_recurrence(grace_seconds),
        Step(phase="replacement", advance=timings.replace_seconds),
        *_lemon(grace_seconds),
        *_redelivered_restore(claim_ttl_seconds),
        *_tracked(grace_seconds, claim_ttl_seconds),
    ]
    return Scenario(
        description=f"built-in incident: a storm of {nodes} GPU faults, an approved replace, a busy node, "
        "a duplicate, a malformed event, a healthy transition, an HMA fault also via EventBridge, "
        "a lemon retired and restored",
        retire_and_restore=RETIRE_AND_RESTORE,
        approval_required_for=APPROVAL_REQUIRED_FOR,
        clusters=[_train_cluster(nodes), _infer_cluster()],
        steps=steps,
    )


#: one remediate invocation: each phase below ends with one
_REMEDIATE = Step(remediate=Remediate())


def _storm(nodes: int, duplicate_id: str) -> list[Step]:
    """Phase 1: the storm, with a duplicate delivery, a healthy transition and a malformed event."""
    return [
        Step(
            phase="storm",
            health=HealthFaults(cluster=TRAIN, group=STORM_GROUP, nodes=[f"0-{nodes - 1}"]),
        ),
        _health(INFER_GROUP, DUPLICATE_INDEX, LABEL_DUPLICATE, event_id=duplicate_id, copies=2),
        _health(INFER_GROUP, HEALTHY_INDEX, LABEL_HEALTHY, status="Healthy"),
        Step(deliver=[_malformed_event()]),
        _REMEDIATE,
    ]


def _busy_node(timings: NodeTimings) -> list[Step]:
    """Phase 2: HyperPod is busy with a node we are asked to reboot."""
    return [
        Step(
            phase="busy node",
            busy=Busy(cluster=INFER, group=INFER_GROUP, index=BUSY_INDEX, seconds=timings.reboot_seconds / 2),
        ),
        _health(INFER_GROUP, BUSY_INDEX, LABEL_BUSY),
        _REMEDIATE,
    ]


def _time_passes(timings: NodeTimings, duplicate_id: str) -> list[Step]:
    """Phase 3: one reboot's duration passes and EventBridge redelivers the duplicate once more."""
    return [
        Step(phase="time passes", advance=timings.reboot_seconds),
        _health(INFER_GROUP, DUPLICATE_INDEX, LABEL_DUPLICATE, event_id=duplicate_id),
        _REMEDIATE,
    ]


def _hma_log() -> list[Step]:
    """Phase 4: one HMA log delivery and the EventBridge event for the same fault."""
    return [
        Step(
            phase="HMA log (Slurm)",
            hma=HmaFaults(
                cluster=INFER,
                group=INFER_GROUP,
                nodes=[HMA_INDEX],
                xid=48,
                records=HMA_RECORDS,
                also_eventbridge=True,
                label=LABEL_HMA,
            ),
        ),
        _REMEDIATE,
    ]


def _recurrence(grace_seconds: float) -> list[Step]:
    """Phase 5: past the echo grace period the first storm node faults again."""
    return [
        Step(phase="recurrence", advance=grace_seconds),
        Step(
            health=HealthFaults(
                cluster=TRAIN,
                group=STORM_GROUP,
                nodes=[0],
                fault_type="NvidiaErrorTerminate",
                label=LABEL_RECURS,
            )
        ),
        _REMEDIATE,  # the replace needs approval: held, a pending approval, one notice
        Step(phase="approval", approve=Approve(cluster=TRAIN, reason=APPROVAL_REASON)),
        _REMEDIATE,  # the approved replace (the approve put the held fault back on the queue)
    ]


def _lemon(grace_seconds: float) -> list[Step]:
    """Phase 6: the replaced node faults once more; the invocation that retires and restores it dies
    after its calls."""
    return [
        Step(phase="lemon: retire + restore", advance=grace_seconds),
        Step(shortage=Shortage(cluster=TRAIN, group=STORM_GROUP, seconds=SHORTAGE_SECONDS)),
        Step(health=HealthFaults(cluster=TRAIN, group=STORM_GROUP, nodes=[0], label=LABEL_LEMON)),
        Step(remediate=Remediate(dies="after_the_call")),
    ]


def _redelivered_restore(claim_ttl_seconds: float) -> list[Step]:
    """Phase 7: the dead claim expires; the message comes back; reconcile re-drives the restore."""
    return [
        Step(phase="redelivered restore", advance=claim_ttl_seconds),
        _REMEDIATE,  # SQS redelivers the dead invocation's message
        Step(reconcile=Reconcile()),  # the retire recorded as taken, a RestorePending fault queued
        _REMEDIATE,  # the restore resumed under its stored ClientToken
    ]


def _tracked(grace_seconds: float, claim_ttl_seconds: float) -> list[Step]:
    """Phase 8: reconcile waits while the added node is Pending (the shortage), then sees it run."""
    return [
        Step(phase="restore tracked", reconcile=Reconcile()),
        Step(advance=SHORTAGE_SECONDS - claim_ttl_seconds),
        Step(reconcile=Reconcile()),
    ]


def _train_cluster(nodes: int) -> ClusterSpecModel:
    return ClusterSpecModel(
        name=TRAIN,
        groups=[
            GroupSpecModel(
                name="controller", instance_type="ml.m5.12xlarge", count=1, node_type="Controller"
            ),
            GroupSpecModel(name="login", instance_type="ml.m5.4xlarge", count=2, node_type="Login"),
            GroupSpecModel(
                name=STORM_GROUP,
                instance_type=GPU,
                count=storm_group_size(nodes),
                node_type="Compute",
            ),
        ],
    )


def _infer_cluster() -> ClusterSpecModel:
    return ClusterSpecModel(
        name=INFER,
        groups=[
            GroupSpecModel(
                name="controller", instance_type="ml.m5.12xlarge", count=1, node_type="Controller"
            ),
            GroupSpecModel(name=INFER_GROUP, instance_type=GPU, count=INFER_NODES, node_type="Compute"),
        ],
    )


def _health(
    group: str,
    index: int,
    label: str,
    *,
    status: str = "Unhealthy",
    event_id: str | None = None,
    copies: int = 1,
) -> Step:
    return Step(
        health=HealthFaults.model_validate(
            {
                "cluster": INFER,
                "group": group,
                "nodes": [index],
                "status": status,
                "event_id": event_id,
                "copies": copies,
                "label": label,
            }
        )
    )


def _malformed_event() -> dict[str, object]:
    """A Node Health Event without its HealthSummary: intake must reject it (and count it)."""
    return {
        "version": "0",
        "id": "0b9f3c1e-5d7a-4e2b-9c8d-6f1a2b3c4d5e",
        "detail-type": "SageMaker HyperPod Cluster Node Health Event",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "{{now}}",
        "region": "us-east-1",
        "resources": [f"{{{{cluster_arn:{INFER}}}}}"],
        "detail": {
            "ClusterName": INFER,
            "ClusterArn": f"{{{{cluster_arn:{INFER}}}}}",
            "InstanceId": f"{{{{node:{INFER}:{INFER_GROUP}:{MALFORMED_INDEX}}}}}",
            "Tags": {},
        },
    }
