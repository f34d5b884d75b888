"""What a living local stack starts with: its clusters, their HMA log groups, and events to inject.

Clusters come from a scenario file's ``clusters`` (the demo's format, ``hyperpod_local/demo``) or
:data:`DEFAULT_SCENARIO_CLUSTERS`: a small Slurm cluster and a small EKS one. Each gets its HyperPod log
group, ``/aws/sagemaker/Clusters/<name>/<cluster id>``, which the HMA subscription path watches.
:func:`write_sample_events` writes ready-to-inject events naming a real node of the first cluster, for
``autoheal replay FILE`` or ``aws events put-events --entries file://FILE`` (refreshed every second).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperpod_local.demo.scenario_file import ClusterSpecModel
from hyperpod_local.plane.clusters import ClusterFixture, GroupSpec, create_cluster
from hyperpod_local.plane.control import ControlPlane
from hyperpod_local.stack.hma_logs import log_group

#: The clusters a local stack starts with when no scenario names any (the demo's cluster format).
DEFAULT_SCENARIO_CLUSTERS: list[dict[str, Any]] = [
    {
        "name": "ml-cluster",
        "groups": [
            {"name": "controller", "instance_type": "ml.m5.12xlarge", "count": 1, "node_type": "Controller"},
            {"name": "gpu", "instance_type": "ml.p5.48xlarge", "count": 4, "node_type": "Compute"},
        ],
    },
    {
        "name": "eks-cluster",
        "orchestrator": "Eks",
        "groups": [{"name": "workers", "instance_type": "ml.g5.8xlarge", "count": 2}],
    },
]

HEALTH_DETAIL_TYPE = "SageMaker HyperPod Cluster Node Health Event"
#: The files `write_sample_events` writes: an autoheal replay input and a PutEvents entries list.
UNHEALTHY_EVENT_FILE = "node-health-unhealthy.json"
PUT_EVENTS_FILE = "put-events-unhealthy.json"


def default_clusters() -> list[ClusterSpecModel]:
    return [ClusterSpecModel.model_validate(spec) for spec in DEFAULT_SCENARIO_CLUSTERS]


def seed_clusters(
    sagemaker: Any, control: ControlPlane, specs: Sequence[ClusterSpecModel]
) -> list[ClusterFixture]:
    """Create each cluster through the local SageMaker API, as the demo does."""
    return [
        create_cluster(
            sagemaker,
            control,
            spec.name,
            [
                GroupSpec(g.name, g.instance_type, g.count, node_type=g.node_type, capacity=g.capacity)
                for g in spec.groups
            ],
            node_recovery=spec.node_recovery,
            orchestrator=spec.orchestrator,
        )
        for spec in specs
    ]


def cluster_log_groups(logs: Any, clusters: Sequence[ClusterFixture]) -> list[str]:
    """Each cluster's HyperPod log group, created (where HMA writes its detection records)."""
    names = [log_group(c.name, c.arn.rsplit("/", 1)[-1]) for c in clusters]
    for name in names:
        logs.create_log_group(logGroupName=name)
    return names


def unhealthy_event(cluster: ClusterFixture, instance_id: str, now: datetime) -> dict[str, Any]:
    """A Node Health Event as HyperPod sends it for a node HMA found faulty (events/node-health-unhealthy.json)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": HEALTH_DETAIL_TYPE,
        "source": "aws.sagemaker",
        "account": cluster.arn.split(":")[4],
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": cluster.arn.split(":")[3],
        "resources": [cluster.arn],
        "detail": {
            "ClusterName": cluster.name,
            "ClusterArn": cluster.arn,
            "InstanceId": instance_id,
            "Tags": {},
            "HealthSummary": {
                "HealthStatus": "Unhealthy",
                "HealthStatusReason": "HyperPod Health Monitoring Agent (HMA) has detected fault type "
                "NvidiaErrorTerminate on this node and is unhealthy.",
                "RepairAction": "None",
                "Recommendation": "Please Replace the Faulty Node.",
            },
        },
    }


def put_events_entry(event: dict[str, Any]) -> dict[str, Any]:
    """The PutEvents entry that publishes `event` (what `aws events put-events --entries` takes).

    Local only: EventBridge refuses a custom PutEvents with an ``aws.*`` source (the template's intake rule
    explains why `autoheal selftest` has its own); the local bus takes it, so HyperPod's own event can
    be played through the template's rule."""
    return {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Resources": event["resources"],
        "Detail": json.dumps(event["detail"]),
    }


def write_sample_events(
    directory: Path, clusters: Sequence[ClusterFixture], now: Callable[[], datetime]
) -> dict[str, Path]:
    """Events naming the last node of the first cluster's last group (a compute node, by default), with a
    new id and the stack's `now`: the local stack rewrites them every second, so that the file is always
    a fresh fault (``autoheal replay --fresh`` would stamp the wall clock's time, which a scaled stack's
    clock has left behind)."""
    cluster = clusters[0]
    node = cluster.in_group(cluster.groups[-1].name)[-1]
    event = unhealthy_event(cluster, node.instance_id, now())
    paths = {
        UNHEALTHY_EVENT_FILE: directory / UNHEALTHY_EVENT_FILE,
        PUT_EVENTS_FILE: directory / PUT_EVENTS_FILE,
    }
    _write(paths[UNHEALTHY_EVENT_FILE], event)
    _write(paths[PUT_EVENTS_FILE], [put_events_entry(event)])
    return paths


def _write(path: Path, value: Any) -> None:
    """Whole or not at all (a reader never sees half a file): write aside, then rename."""
    aside = path.with_name(f".{path.name}.tmp")
    aside.write_text(json.dumps(value, indent=2) + "\n", "utf-8")
    aside.replace(path)
