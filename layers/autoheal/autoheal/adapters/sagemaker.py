"""SageMaker HyperPod node calls behind a small adapter with an injected boto3 client.

Limits are enforced here before anything is sent (botocore checks list minimums only). Every call
returns typed receipts, one per node named; `ClientError`s become receipts by error code, so nothing
upstream matches on message text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from autoheal.core.batching import (
    MAX_GROUPS_PER_ADD,
    MAX_NODES_PER_ADD,
    MAX_NODES_PER_DELETE,
    MAX_NODES_PER_REBOOT_OR_REPLACE,
)
from autoheal.core.planner import BatchRequest
from autoheal.core.results import (
    AddGroupResult,
    EntryResult,
    IdKind,
    classify_add_response,
    classify_call_error,
    classify_response,
)
from autoheal.policy import Action


class RequestTooLarge(ValueError):
    """A request would exceed a documented API maximum; it was not sent."""


class SageMakerClient(Protocol):
    def batch_reboot_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_replace_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_delete_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]: ...
    def batch_add_cluster_nodes(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class CallReceipt:
    """What one mutating call did: the request, one receipt per node, and the call's own error."""

    operation: str
    cluster: str
    requested: Mapping[IdKind, tuple[str, ...]]
    results: tuple[EntryResult, ...]
    request_id: str | None = None
    call_error: str | None = None

    @property
    def size(self) -> int:
        return sum(len(ids) for ids in self.requested.values())


#: The API operation behind each ladder action.
OPERATIONS: Mapping[Action, str] = {
    Action.REBOOT: "BatchRebootClusterNodes",
    Action.REPLACE: "BatchReplaceClusterNodes",
    Action.RETIRE: "BatchDeleteClusterNodes",
}

CONNECTION_ERROR = "ConnectionError"

#: The IAM actions behind each public method of `HyperPodNodes` (c7n style: the adapter says what it
#: calls; tests/integration/test_iam.py holds each function's role in template.yaml to the methods it uses).
IAM_ACTIONS: Mapping[str, frozenset[str]] = {
    "HyperPodNodes.execute": frozenset(
        {
            "sagemaker:BatchRebootClusterNodes",
            "sagemaker:BatchReplaceClusterNodes",
            "sagemaker:BatchDeleteClusterNodes",
        }
    ),
    "HyperPodNodes.reboot": frozenset({"sagemaker:BatchRebootClusterNodes"}),
    "HyperPodNodes.replace": frozenset({"sagemaker:BatchReplaceClusterNodes"}),
    "HyperPodNodes.delete": frozenset({"sagemaker:BatchDeleteClusterNodes"}),
    "HyperPodNodes.add": frozenset({"sagemaker:BatchAddClusterNodes"}),
}


def _call_kwargs(cluster: str, requested: Mapping[IdKind, Sequence[str]]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"ClusterName": cluster}
    for kind, ids in requested.items():
        if ids:
            kwargs[kind.value] = list(ids)
    return kwargs


class HyperPodNodes:
    """Reboot, replace, delete and add cluster nodes, within the documented limits."""

    def __init__(self, client: SageMakerClient) -> None:
        self._client = client

    def execute(self, request: BatchRequest) -> CallReceipt:
        """Run a planned reboot/replace/retire request (a retire is a delete)."""
        if request.action is Action.REBOOT:
            return self.reboot(request.cluster, request.requested)
        if request.action is Action.RETIRE:
            return self.delete(request.cluster, request.requested)
        return self.replace(request.cluster, request.requested)

    def reboot(self, cluster: str, requested: Mapping[IdKind, Sequence[str]]) -> CallReceipt:
        self._check_each(requested, MAX_NODES_PER_REBOOT_OR_REPLACE, "BatchRebootClusterNodes")
        return self._node_call(
            "BatchRebootClusterNodes", self._client.batch_reboot_cluster_nodes, cluster, requested
        )

    def replace(self, cluster: str, requested: Mapping[IdKind, Sequence[str]]) -> CallReceipt:
        self._check_each(requested, MAX_NODES_PER_REBOOT_OR_REPLACE, "BatchReplaceClusterNodes")
        return self._node_call(
            "BatchReplaceClusterNodes", self._client.batch_replace_cluster_nodes, cluster, requested
        )

    def delete(self, cluster: str, requested: Mapping[IdKind, Sequence[str]]) -> CallReceipt:
        """Delete nodes; its failures carry `Code`, which `classify_response` reads too."""
        total = sum(len(ids) for ids in requested.values())
        if total > MAX_NODES_PER_DELETE:
            raise RequestTooLarge(
                f"BatchDeleteClusterNodes takes at most {MAX_NODES_PER_DELETE} nodes, got {total}"
            )
        self._check_each(requested, MAX_NODES_PER_DELETE, "BatchDeleteClusterNodes")
        return self._node_call(
            "BatchDeleteClusterNodes", self._client.batch_delete_cluster_nodes, cluster, requested
        )

    def add(self, cluster: str, increments: Mapping[str, int], client_token: str) -> list[AddGroupResult]:
        """Grow instance groups by the given counts. `client_token` makes a retry idempotent for 8 h."""
        if not 1 <= len(increments) <= MAX_GROUPS_PER_ADD:
            raise RequestTooLarge(
                f"BatchAddClusterNodes takes 1-{MAX_GROUPS_PER_ADD} groups, got {len(increments)}"
            )
        if any(not 1 <= n <= MAX_NODES_PER_ADD for n in increments.values()):
            raise RequestTooLarge(f"each group grows by 1-{MAX_NODES_PER_ADD} nodes")
        if sum(increments.values()) > MAX_NODES_PER_ADD:
            raise RequestTooLarge(f"BatchAddClusterNodes adds at most {MAX_NODES_PER_ADD} nodes in one call")
        if not 1 <= len(client_token) <= 64 or not client_token.isprintable():
            raise ValueError("ClientToken must be 1-64 printable characters")
        try:
            response = self._client.batch_add_cluster_nodes(
                ClusterName=cluster,
                ClientToken=client_token,
                NodesToAdd=[
                    {"InstanceGroupName": g, "IncrementTargetCountBy": n} for g, n in increments.items()
                ],
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            message = str(exc.response.get("Error", {}).get("Message", ""))
            return [AddGroupResult(g, (), n, code, message) for g, n in increments.items()]
        except BotoCoreError as exc:  # the call's fate is unknown: the same token retried tells
            return [
                AddGroupResult(g, (), n, CONNECTION_ERROR, type(exc).__name__) for g, n in increments.items()
            ]
        return classify_add_response(response)

    @staticmethod
    def _check_each(requested: Mapping[IdKind, Sequence[str]], limit: int, operation: str) -> None:
        if not any(requested.values()):
            raise ValueError(f"{operation} needs at least one id")
        for kind, ids in requested.items():
            if len(ids) > limit:
                raise RequestTooLarge(f"{operation} takes at most {limit} {kind.value}, got {len(ids)}")
            if len(set(ids)) != len(ids):
                raise ValueError(f"{operation} names a node twice in {kind.value}")

    @staticmethod
    def _node_call(
        operation: str, method: Any, cluster: str, requested: Mapping[IdKind, Sequence[str]]
    ) -> CallReceipt:
        frozen = {kind: tuple(ids) for kind, ids in requested.items() if ids}
        try:
            response = method(**_call_kwargs(cluster, frozen))
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "Unknown"))
            results = classify_call_error(code, str(error.get("Message", "")), frozen)
            request_id = exc.response.get("ResponseMetadata", {}).get("RequestId")
            return CallReceipt(operation, cluster, frozen, tuple(results), request_id, call_error=code)
        except BotoCoreError as exc:  # connection reset, read timeout: the call's fate is unknown
            results = classify_call_error(CONNECTION_ERROR, type(exc).__name__, frozen)
            return CallReceipt(operation, cluster, frozen, tuple(results), None, call_error=CONNECTION_ERROR)
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        return CallReceipt(operation, cluster, frozen, tuple(classify_response(response, frozen)), request_id)
