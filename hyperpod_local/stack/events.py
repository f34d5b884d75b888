"""What a function of the local stack is invoked with: EventBridge's events and a Lambda context.

The events are shaped as EventBridge delivers them: Node Health Events (to the intake) and Cluster
Events built from the control plane's cluster events (to the intake and to reconcile). HMA log
deliveries are in :mod:`hyperpod_local.stack.hma_logs`. :class:`FakeContext` is the Lambda context
every local invocation gets, in the tests too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: this module loads no moto (the in-memory benchmark uses it)
    from hyperpod_local.plane.model import ClusterEvent

ACCOUNT = "123456789012"
REGION = "us-east-1"


@dataclass
class FakeContext:
    """The LambdaContext fields Powertools reads."""

    function_name: str = "autoheal-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:autoheal-local"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def node_health_event(
    cluster: str,
    cluster_arn: str,
    instance_id: str,
    at: datetime,
    *,
    event_id: str | None = None,
    fault_type: str = "NvidiaErrorTerminate",
    status: str = "Unhealthy",
    repair_action: str = "None",
) -> dict[str, Any]:
    """A `SageMaker HyperPod Cluster Node Health Event` as EventBridge delivers it."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "SageMaker HyperPod Cluster Node Health Event",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [cluster_arn],
        "detail": {
            "ClusterName": cluster,
            "ClusterArn": cluster_arn,
            "InstanceId": instance_id,
            "Tags": {},
            "HealthSummary": {
                "HealthStatus": status,
                "HealthStatusReason": (
                    f"HyperPod Health Monitoring Agent (HMA) has detected fault type {fault_type} "
                    "on this node and is unhealthy."
                ),
                "RepairAction": repair_action,
                "Recommendation": "Please Replace the Faulty Node.",
            },
        },
    }


def cluster_event(event: ClusterEvent) -> dict[str, Any]:
    """A control-plane cluster event as EventBridge delivers a `SageMaker HyperPod Cluster Event`
    (nested under `detail.EventDetails`, EventTime in epoch milliseconds)."""
    details = event.to_api()  # the API's ClusterEventDetail; EventBridge flattens EventMetadata into it
    details["EventTime"] = int(event.event_time.timestamp() * 1000)
    metadata = details.pop("EventDetails", {}).get("EventMetadata")
    if metadata:
        details["EventMetadata"] = metadata
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "SageMaker HyperPod Cluster Event",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": event.event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [event.cluster_arn],
        "detail": {"EventDetails": details},
    }
