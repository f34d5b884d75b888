"""What an evidence bundle is read from and written to: CloudWatch Logs (the cluster's log group),
SageMaker (DescribeClusterNode) and S3 (the evidence bucket), behind one adapter with injected clients.

`ClientError`s become domain errors by code: `Throttled` (the caller retries a few times with backoff,
then marks its bundle partial), `EvidenceUnavailable` (anything else: recorded in the manifest's
`why`); a log group or stream that does not exist is simply empty. Nothing upstream matches on message
text.

The cluster's log group is `/aws/sagemaker/Clusters/<cluster name>/<cluster id>` (the id is the last
segment of the cluster ARN), with one stream per node and agent named `<agent>/<instance group>/<instance
id>`: the health-monitoring agent's `SagemakerHealthMonitoringAgent`
(https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-resiliency-health-monitoring-agent.html)
and the lifecycle scripts' `LifecycleConfig` (docs/evidence.md has the sources and what is not
captured).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

#: The IAM actions behind each public method of `EvidenceStore` (c7n style; see tests/integration/test_iam.py).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "EvidenceStore.log_streams": frozenset({"logs:DescribeLogStreams"}),
    "EvidenceStore.log_events": frozenset({"logs:GetLogEvents"}),
    "EvidenceStore.describe_node": frozenset({"sagemaker:DescribeClusterNode"}),
    "EvidenceStore.cluster_arn": frozenset({"sagemaker:DescribeCluster"}),
    "EvidenceStore.put": frozenset({"s3:PutObject"}),
}

#: Error codes CloudWatch Logs, SageMaker and S3 throttle with.
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
)
#: At most this many streams per agent and node are read (a node has one per agent; a few spare).
MAX_STREAMS = 5
#: GetLogEvents pages read per stream at most (each up to 1 MB / 10,000 events).
MAX_PAGES = 10


class Throttled(RuntimeError):
    """The service throttled the call (the caller retries with backoff, a bounded number of times)."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"{operation}: {code}")
        self.operation = operation
        self.code = code


class EvidenceUnavailable(RuntimeError):
    """The call failed for another reason (access denied, a missing bucket, a network error)."""

    def __init__(self, operation: str, code: str) -> None:
        super().__init__(f"{operation}: {code}")
        self.operation = operation
        self.code = code


def log_group(cluster_name: str, cluster_arn: str) -> str:
    return f"/aws/sagemaker/Clusters/{cluster_name}/{cluster_arn.rsplit('/', 1)[-1]}"


@dataclass(frozen=True)
class LogPage:
    """Some of a stream's events: their lines, and whether the byte limit cut the stream short."""

    lines: tuple[str, ...]
    truncated: bool


class EvidenceStore:
    def __init__(self, logs_client: Any, s3_client: Any, sagemaker_client: Any, bucket: str) -> None:
        self._logs = logs_client
        self._s3 = s3_client
        self._sagemaker = sagemaker_client
        self.bucket = bucket
        self._arns: dict[str, str] = {}  # cluster name -> ARN, for this invocation's captures
        self._lock = threading.Lock()

    def cluster_arn(self, cluster: str) -> str:
        """The cluster's ARN (its log group is named after the id it ends with); read once per cluster."""
        with self._lock:
            known = self._arns.get(cluster)
        if known is not None:
            return known
        try:
            arn = str(self._sagemaker.describe_cluster(ClusterName=cluster)["ClusterArn"])
        except ClientError as exc:
            raise _translated("DescribeCluster", exc) from exc
        except BotoCoreError as exc:
            raise EvidenceUnavailable("DescribeCluster", type(exc).__name__) from exc
        with self._lock:
            self._arns[cluster] = arn
        return arn

    def log_streams(self, group: str, prefix: str) -> list[str]:
        """The streams of `group` whose name starts with `prefix` (none if the group does not exist)."""
        try:
            response = self._logs.describe_log_streams(
                logGroupName=group, logStreamNamePrefix=prefix, limit=MAX_STREAMS
            )
        except ClientError as exc:
            if _code(exc) == "ResourceNotFoundException":
                return []
            raise _translated("DescribeLogStreams", exc) from exc
        except BotoCoreError as exc:
            raise EvidenceUnavailable("DescribeLogStreams", type(exc).__name__) from exc
        return [str(s["logStreamName"]) for s in response.get("logStreams", [])]

    def log_events(self, group: str, stream: str, start_ms: int, end_ms: int, max_bytes: int) -> LogPage:
        """The stream's events between `start_ms` and `end_ms`, oldest first, up to `max_bytes` of text;
        read newest first, so a cut leaves out the oldest."""
        newest_first: list[str] = []
        size = 0
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startTime": start_ms,
            "endTime": end_ms,
            "startFromHead": False,
        }
        for _ in range(MAX_PAGES):
            try:
                response = self._logs.get_log_events(**request)
            except ClientError as exc:
                if _code(exc) == "ResourceNotFoundException":
                    break
                raise _translated("GetLogEvents", exc) from exc
            except BotoCoreError as exc:
                raise EvidenceUnavailable("GetLogEvents", type(exc).__name__) from exc
            events = response.get("events", [])
            for event in reversed(events):  # a page is in time order
                line = json.dumps({"timestamp": event.get("timestamp"), "message": event.get("message")})
                if size + len(line) + 1 > max_bytes:
                    return LogPage(tuple(reversed(newest_first)), truncated=True)
                newest_first.append(line)
                size += len(line) + 1
            token = response.get("nextBackwardToken")
            if not events or not token or token == request.get("nextToken"):
                break
            request["nextToken"] = token
        return LogPage(tuple(reversed(newest_first)), truncated=False)

    def describe_node(self, cluster: str, instance_id: str) -> dict[str, Any]:
        """DescribeClusterNode's NodeDetails, as JSON-ready values."""
        try:
            response = self._sagemaker.describe_cluster_node(ClusterName=cluster, NodeId=instance_id)
        except ClientError as exc:
            raise _translated("DescribeClusterNode", exc) from exc
        except BotoCoreError as exc:
            raise EvidenceUnavailable("DescribeClusterNode", type(exc).__name__) from exc
        details: dict[str, Any] = json.loads(json.dumps(response.get("NodeDetails", {}), default=str))
        return details

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> str:
        """Store one file of a bundle (SSE-S3 asked for explicitly); returns its s3:// URI."""
        try:
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                ServerSideEncryption="AES256",
            )
        except ClientError as exc:
            raise _translated("PutObject", exc) from exc
        except BotoCoreError as exc:
            raise EvidenceUnavailable("PutObject", type(exc).__name__) from exc
        return f"s3://{self.bucket}/{key}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def _translated(operation: str, exc: ClientError) -> Throttled | EvidenceUnavailable:
    code = _code(exc)
    if code in THROTTLING_CODES:
        return Throttled(operation, code)
    return EvidenceUnavailable(operation, code)
