"""HMA log records as HyperPod writes them, and the CloudWatch Logs deliveries that carry them.

Used by the tests and the demo to feed the intake the way a subscription filter would, and
as a command that rewrites the Lambda-event form of the samples in `events/hma/`:

    python -m hyperpod_local.stack.hma_logs      # events/hma/X.json -> events/hma/X.invoke.json
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import count
from pathlib import Path
from typing import Any

from autoheal.intake.logs import encode
from hyperpod_local.stack.template import REPO_ROOT

SAMPLES = REPO_ROOT / "events" / "hma"
DETECTION = {"HealthMonitoringAgentDetectionEvent": "HealthEvent"}
FILTER_NAME = "hyperpod-autoheal-hma"

_ids = count(1)


def log_group(cluster_name: str, cluster_id: str = "abcdef012345") -> str:
    return f"/aws/sagemaker/Clusters/{cluster_name}/{cluster_id}"


def log_stream(instance_group: str, instance_id: str) -> str:
    return f"SagemakerHealthMonitoringAgent/{instance_group}/{instance_id}"


def dcgm_record(xid: int, condition: str = "XID Error") -> str:
    """The Slurm record: a DCGM policy violation (HMA's own odd key spelling included)."""
    return json.dumps(
        {
            "msg": "DCGM Policy Violation found ",
            "condition: ": condition,
            "data: ": {"ErrNum": xid},
            **DETECTION,
        }
    )


def npd_event_record(action: str, fault_type: str, reason: str, xid: int) -> str:
    """The EKS node-problem-detector record with HMA's action."""
    message = f"NVRM: Xid (PCI:0000:53:00): {xid}, pid=<unknown>, name=<unknown>"
    return json.dumps(
        {
            "Event detail": {"Action": action, "Type": fault_type, "Reason": reason, "Message": message},
            **DETECTION,
        }
    )


def payload(
    group: str, stream: str, records: Sequence[tuple[datetime, str]], message_type: str = "DATA_MESSAGE"
) -> dict[str, Any]:
    """The decoded subscription payload: one log stream, its records in order."""
    events = [
        {
            "id": f"{int(at.timestamp() * 1000):d}{next(_ids):08d}".ljust(56, "0"),
            "timestamp": int(at.timestamp() * 1000),
            "message": text,
        }
        for at, text in records
    ]
    return {
        "messageType": message_type,
        "owner": "123456789012",
        "logGroup": group,
        "logStream": stream,
        "subscriptionFilters": [FILTER_NAME],
        "logEvents": events,
    }


def delivery(decoded: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda event CloudWatch Logs invokes the intake with."""
    return encode(decoded)


def node_delivery(
    cluster_name: str,
    cluster_arn: str,
    instance_group: str,
    instance_id: str,
    records: Sequence[tuple[datetime, str]],
) -> dict[str, Any]:
    """One node's HMA records as CloudWatch Logs delivers them from the cluster's log group."""
    group = log_group(cluster_name, cluster_arn.rsplit("/", 1)[-1])
    return delivery(payload(group, log_stream(instance_group, instance_id), records))


def write_node_logs(
    logs: Any,
    cluster_name: str,
    cluster_arn: str,
    instance_group: str,
    instance_id: str,
    records: Sequence[tuple[datetime, str]],
    agent: str = "SagemakerHealthMonitoringAgent",
) -> str:
    """Write a node's records into its stream of the cluster's log group, as the agent on the node
    would (`<agent>/<group>/<instance>`), so that an evidence bundle has something to read; returns the
    stream's name."""
    group = log_group(cluster_name, cluster_arn.rsplit("/", 1)[-1])
    stream = f"{agent}/{instance_group}/{instance_id}"
    for create, kwargs in (
        (logs.create_log_group, {"logGroupName": group}),
        (logs.create_log_stream, {"logGroupName": group, "logStreamName": stream}),
    ):
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            create(**kwargs)
    events = [{"timestamp": int(at.timestamp() * 1000), "message": text} for at, text in sorted(records)]
    if events:
        logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    return stream


def main(argv: Sequence[str] | None = None) -> int:
    directory = Path(argv[0]) if argv else SAMPLES
    for path in sorted(directory.glob("*.json")):
        if path.name.endswith(".invoke.json"):
            continue
        target = path.with_name(path.name.removesuffix(".json") + ".invoke.json")
        target.write_text(json.dumps(delivery(json.loads(path.read_text("utf-8"))), indent=2) + "\n", "utf-8")
        print(f"{path.name} -> {target.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
