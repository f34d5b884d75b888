"""Request handlers of the local control plane: one method per SageMaker cluster action.

Each handler takes the request parameters as botocore parsed them (AWS names, e.g. ``NodeIds``) and
returns the response dict, or raises :class:`~hyperpod_local.plane.errors.ApiError`. The cluster
actions and node reads are answered here; the node-batch actions (BatchReboot/BatchReplace/BatchDelete,
BatchAdd) by :class:`~hyperpod_local.plane.batches.NodeBatches`, where their per-entry results are
documented.

Whole-request errors, in order: an error injected for the cluster a request names
(``ControlPlane.fail_calls``: ``AccessDeniedException``, ``ThrottlingException`` past retries, ...,
any action naming the cluster by name or ARN), ``ThrottlingException`` (injected; the front door), then
``ValidationException`` (limits and patterns, see :mod:`hyperpod_local.plane.validation`; NodeLogicalIds
or BatchAdd on a cluster without ``NodeProvisioningMode=Continuous``; a ClientToken reused with
other parameters), then ``ResourceNotFound`` for an unknown cluster (name or ARN). Unlike moto,
DescribeCluster/ListClusterNodes/DescribeClusterNode also answer ``ResourceNotFound`` (moto:
``ValidationException``), as their API reference models.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hyperpod_local.plane.batches import NodeBatches, Params
from hyperpod_local.plane.calls import CallLog
from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.errors import ResourceNotFound, ValidationException
from hyperpod_local.plane.faults import FaultInjector
from hyperpod_local.plane.lifecycle import Lifecycle
from hyperpod_local.plane.model import ClusterState, InstanceStatus, OperationKind
from hyperpod_local.plane.pagination import MAX_RESULTS, creation_key, name_key, page
from hyperpod_local.plane.ports import Scope
from hyperpod_local.plane.registry import ClusterRegistry
from hyperpod_local.plane.validation import validate_create_cluster


class ClusterApi:
    """Answers SageMaker cluster actions from control-plane state. Callers hold the lock."""

    def __init__(
        self,
        *,
        clock: ControlPlaneClock,
        registry: ClusterRegistry,
        lifecycle: Lifecycle,
        faults: FaultInjector,
        calls: CallLog,
    ) -> None:
        self._registry = registry
        self._faults = faults
        self._batches = NodeBatches(
            clock=clock, registry=registry, lifecycle=lifecycle, faults=faults, calls=calls
        )
        self._handlers: dict[str, Callable[[Scope, Params], dict[str, Any]]] = {
            "DeleteCluster": self.delete_cluster,
            "DescribeCluster": self.describe_cluster,
            "DescribeClusterNode": self.describe_cluster_node,
            "ListClusterNodes": self.list_cluster_nodes,
            "BatchRebootClusterNodes": self._batches.reboot,
            "BatchReplaceClusterNodes": self._batches.replace,
            "BatchDeleteClusterNodes": self._batches.delete,
            "BatchAddClusterNodes": self._batches.add,
            "ListTags": self.list_tags,
        }

    def serve(
        self,
        action: str,
        scope: Scope,
        params: Params,
        create_in_backend: Callable[[], object] | None = None,
    ) -> dict[str, Any]:
        """Answer ``action`` (an operation name such as ``BatchRebootClusterNodes``)."""
        if action == "CreateCluster":
            if create_in_backend is None:
                raise ValueError("CreateCluster needs the backend's create function")
            return self.create_cluster(scope, params, create_in_backend)
        self._check_injected(action, scope, params)
        return self._handlers[action](scope, params)

    def _check_injected(self, action: str, scope: Scope, params: Params) -> None:
        """Raise the error a test injected for the cluster this request names (by name or ARN)."""
        ref = params.get("ClusterName") or params.get("ResourceArn")
        if not self._faults.has_call_errors or not isinstance(ref, str):
            return
        names = {ref}
        with contextlib.suppress(ResourceNotFound):  # an unknown cluster: matched literally
            raw = self._registry.raw(scope, ref)
            names |= {raw.cluster_name, raw.arn}
        self._faults.check_call_error(action, frozenset(names))

    # -------------------------------------------------------------------------------- clusters

    def create_cluster(
        self, scope: Scope, params: Params, create_in_backend: Callable[[], object]
    ) -> dict[str, Any]:
        """We validate the required members and the instance types (against the botocore model, not
        moto's list); moto validates the rest and creates the cluster (its own
        optional members filled in for it, see ``hyperpod_local.plane._moto``); we adopt it and keep what moto
        drops."""
        validate_create_cluster(params.get("InstanceGroups"))
        create_in_backend()
        state = self._registry.adopt(
            scope,
            self._registry.raw(scope, str(params["ClusterName"])),
            node_recovery=params.get("NodeRecovery"),
            provisioning_mode=params.get("NodeProvisioningMode"),
            orchestrator=params.get("Orchestrator"),
        )
        return {"ClusterArn": state.arn}

    def delete_cluster(self, scope: Scope, params: Params) -> dict[str, Any]:
        state = self._registry.for_request(scope, str(params["ClusterName"]))
        self._registry.delete(state)
        return {"ClusterArn": state.arn}

    def describe_cluster(self, scope: Scope, params: Params) -> dict[str, Any]:
        """moto's description plus NodeRecovery, NodeProvisioningMode, Orchestrator, SlurmConfig, counts."""
        state = self._registry.for_request(scope, str(params["ClusterName"]))
        raw = state.backend_cluster
        description = dict(raw.describe())
        description["ClusterArn"] = state.arn
        description["InstanceGroups"] = [self._describe_group(state, group) for group in raw.instance_groups]
        description["NodeRecovery"] = state.node_recovery
        if state.provisioning_mode is not None:
            description["NodeProvisioningMode"] = state.provisioning_mode
        if state.orchestrator is not None:
            description["Orchestrator"] = state.orchestrator
        if not description.get("FailureMessage"):
            description.pop("FailureMessage", None)
        return description

    def list_tags(self, scope: Scope, params: Params) -> dict[str, Any]:
        """A cluster's tags (moto cannot find a cluster by our ARNs, which end in a cluster id)."""
        state = self._registry.for_request(scope, str(params["ResourceArn"]))
        return {"Tags": list(state.backend_cluster.tags or [])}

    # ----------------------------------------------------------------------------- node reads

    def describe_cluster_node(self, scope: Scope, params: Params) -> dict[str, Any]:
        """By NodeId or NodeLogicalId (exactly one); unknown node -> ``ResourceNotFound``."""
        node_id, logical_id = params.get("NodeId"), params.get("NodeLogicalId")
        if (node_id is None) == (logical_id is None):
            raise ValidationException("Exactly one of NodeId or NodeLogicalId must be provided.")
        state = self._registry.for_request(scope, str(params["ClusterName"]))
        node = state.node_by_instance_id(node_id) if node_id is not None else state.nodes.get(str(logical_id))
        if node is None:
            raise ResourceNotFound(f"Node {node_id or logical_id} not found in cluster {state.name}.")
        return {"NodeDetails": node.describe()}

    def list_cluster_nodes(self, scope: Scope, params: Params) -> dict[str, Any]:
        """Filters, sorting, MaxResults 1-100 (default 100), NextToken, IncludeNodeLogicalIds.

        Without ``IncludeNodeLogicalIds`` only nodes that have an instance id are listed and no
        NodeLogicalId is returned, as in the real API.
        """
        limit = params.get("MaxResults") or MAX_RESULTS
        if not 1 <= limit <= MAX_RESULTS:
            raise ValidationException(
                f"1 validation error detected: Value '{limit}' at 'maxResults' failed to satisfy constraint: "
                f"Member must have value less than or equal to {MAX_RESULTS}"
            )
        include_logical = bool(params.get("IncludeNodeLogicalIds", False))
        state = self._registry.for_request(scope, str(params["ClusterName"]))
        nodes = [n for n in state.nodes.values() if include_logical or n.instance_id is not None]
        if contains := params.get("InstanceGroupNameContains"):
            nodes = [n for n in nodes if contains in n.instance_group_name]
        if (after := params.get("CreationTimeAfter")) is not None:
            nodes = [n for n in nodes if n.launch_time > _aware(after)]
        if (before := params.get("CreationTimeBefore")) is not None:
            nodes = [n for n in nodes if n.launch_time < _aware(before)]
        selected, next_token = page(
            nodes,
            key=name_key if params.get("SortBy") == "NAME" else creation_key,
            descending=params.get("SortOrder") == "Descending",
            limit=limit,
            token=params.get("NextToken"),
        )
        response: dict[str, Any] = {
            "ClusterNodeSummaries": [n.summary(include_logical_id=include_logical) for n in selected]
        }
        if next_token is not None:
            response["NextToken"] = next_token
        return response

    @staticmethod
    def _describe_group(state: ClusterState, raw_group: dict[str, Any]) -> dict[str, Any]:
        group = state.groups[raw_group["InstanceGroupName"]]
        members = [n for n in state.nodes.values() if n.instance_group_name == group.name]
        described = dict(raw_group)
        described["CurrentCount"] = sum(1 for n in members if n.status is InstanceStatus.RUNNING)
        described["TargetCount"] = sum(
            1 for n in members if n.operation is None or n.operation.kind is not OperationKind.DELETE
        )
        described["Status"] = group.status
        if group.node_type is not None:
            described["SlurmConfig"] = {**raw_group.get("SlurmConfig", {}), "NodeType": group.node_type}
        return described


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
