"""Request handlers of the local control plane: one method per SageMaker cluster action.

Each handler takes the request parameters as botocore parsed them (AWS names, e.g. ``NodeIds``) and
returns the response dict, or raises :class:`~hyperpod_local.plane.errors.ApiError`.

Per-entry results (``Failed[]``) of BatchReboot/BatchReplace, checked in this order:

1. an injected error for the node (``ControlPlane.inject_entry_error``), code as injected;
2. unknown id (including ids of instances already replaced or deleted), or a node listed as
   ``NotFound`` (it left the cluster) -> ``InstanceIdNotFound``;
3. replace of a Slurm controller node -> ``InvalidInstanceStatus`` (see below);
4. an operation in progress, or a ``ControlPlane.set_busy`` window -> ``InstanceIdInUse``;
5. a status that does not allow the action -> ``InvalidInstanceStatus`` (reboot needs ``Running``;
   replace needs ``Running`` or ``Failure``).

BatchDelete is the same with its own vocabulary in ``Code``: ``NodeIdNotFound`` (NodeIds) or
``NodeLogicalIdNotFound`` (NodeLogicalIds, as that list's documentation says), ``InvalidNodeStatus``
(deletable from ``Running``/``Failure``; Slurm controller), ``NodeIdInUse``; empty lists are omitted
from its response (the model gives them a minimum length of 1). Naming one node twice in a request
(twice, or by instance id and by logical id) makes the second entry ``...InUse``: the first one
started an operation.

Slurm controller nodes: the docs say they "cannot be replaced"/"cannot be removed" but not how the
refusal surfaces. We answer a per-entry ``InvalidInstanceStatus`` (delete: ``InvalidNodeStatus``): of
the documented codes it is the only one meaning "this node does not allow this action";
``...NotFound`` would be false and ``...InUse`` invites a retry. Callers should not rely on the code:
read ``SlurmConfig.NodeType`` from DescribeCluster and never ask. Rebooting a controller is allowed.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod_local.plane.calls import CallDraft, CallLog
from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.errors import ResourceNotFound, ValidationException
from hyperpod_local.plane.faults import FaultInjector
from hyperpod_local.plane.lifecycle import DELETABLE, REBOOTABLE, REPLACEABLE, Lifecycle
from hyperpod_local.plane.model import (
    AddedNode,
    AddRequest,
    ClusterState,
    InstanceStatus,
    LocalNode,
    OperationKind,
)
from hyperpod_local.plane.pagination import MAX_RESULTS, creation_key, name_key, page
from hyperpod_local.plane.ports import Scope
from hyperpod_local.plane.registry import ClusterRegistry
from hyperpod_local.plane.validation import (
    NodesToAddEntry,
    validate_add,
    validate_create_cluster,
    validate_delete,
    validate_reboot_or_replace,
)

CLIENT_TOKEN_TTL = timedelta(hours=8)

Params = Mapping[str, Any]


@dataclass(frozen=True)
class _Vocabulary:
    """How one node action names its failures (delete uses ``Code`` and its own names)."""

    action: str
    kind: OperationKind
    field: str
    not_found: str
    not_found_logical: str
    invalid_status: str
    in_use: str
    allowed: frozenset[InstanceStatus]


_REBOOT = _Vocabulary(
    action="BatchRebootClusterNodes",
    kind=OperationKind.REBOOT,
    field="ErrorCode",
    not_found="InstanceIdNotFound",
    not_found_logical="InstanceIdNotFound",
    invalid_status="InvalidInstanceStatus",
    in_use="InstanceIdInUse",
    allowed=REBOOTABLE,
)
_REPLACE = _Vocabulary(
    action="BatchReplaceClusterNodes",
    kind=OperationKind.REPLACE,
    field="ErrorCode",
    not_found="InstanceIdNotFound",
    not_found_logical="InstanceIdNotFound",
    invalid_status="InvalidInstanceStatus",
    in_use="InstanceIdInUse",
    allowed=REPLACEABLE,
)
_DELETE = _Vocabulary(
    action="BatchDeleteClusterNodes",
    kind=OperationKind.DELETE,
    field="Code",
    not_found="NodeIdNotFound",
    not_found_logical="NodeLogicalIdNotFound",
    invalid_status="InvalidNodeStatus",
    in_use="NodeIdInUse",
    allowed=DELETABLE,
)


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
        self._clock = clock
        self._registry = registry
        self._lifecycle = lifecycle
        self._faults = faults
        self._calls = calls
        self._handlers: dict[str, Callable[[Scope, Params], dict[str, Any]]] = {
            "DeleteCluster": self.delete_cluster,
            "DescribeCluster": self.describe_cluster,
            "DescribeClusterNode": self.describe_cluster_node,
            "ListClusterNodes": self.list_cluster_nodes,
            "BatchRebootClusterNodes": self.batch_reboot,
            "BatchReplaceClusterNodes": self.batch_replace,
            "BatchDeleteClusterNodes": self.batch_delete,
            "BatchAddClusterNodes": self.batch_add,
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
        """We validate the instance types (against the botocore model, not moto's list); moto validates
        the rest and creates the cluster; we adopt it and keep what moto drops."""
        validate_create_cluster(params.get("InstanceGroups") or [])
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

    # ----------------------------------------------------------------------------- node batches

    def batch_reboot(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_REBOOT, scope, params)

    def batch_replace(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_REPLACE, scope, params)

    def batch_delete(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_DELETE, scope, params)

    def batch_add(self, scope: Scope, params: Params) -> dict[str, Any]:
        """New nodes are Pending with a NodeLogicalId and no instance id, Running later.

        The same ClientToken with the same NodesToAdd within 8 hours returns the same NodeLogicalIds
        with their latest status (``NotFound`` once deleted). A token reused with different
        parameters is a ValidationException (AWS does not document this case). Unknown group ->
        ``Failed[]`` ``InstanceGroupNotFound``; group not ``InService`` -> ``InvalidInstanceGroupStatus``;
        both with ``FailedCount`` = the increment asked for.
        """
        cluster_name = str(params["ClusterName"])
        client_token: str | None = params.get("ClientToken")
        entries = [
            NodesToAddEntry(
                str(item.get("InstanceGroupName", "")), int(item.get("IncrementTargetCountBy", 0))
            )
            for item in params.get("NodesToAdd") or []
        ]
        fingerprint = tuple((e.instance_group_name, e.increment_target_count_by) for e in entries)
        draft = CallDraft(
            "BatchAddClusterNodes", cluster_name, nodes_to_add=fingerprint, client_token=client_token
        )
        with self._calls.recording(draft):
            self._faults.check_throttle()
            validate_add(cluster_name, client_token, entries)
            state = self._registry.for_request(scope, cluster_name)
            if not state.is_continuous:
                raise ValidationException(
                    "BatchAddClusterNodes is only supported for clusters with NodeProvisioningMode Continuous."
                )
            now = self._clock.now()
            _expire_add_requests(state, now)
            if client_token is not None and client_token in state.add_requests:
                previous = state.add_requests[client_token]
                if previous.fingerprint != fingerprint:
                    raise ValidationException(
                        f"ClientToken {client_token} was already used with different parameters."
                    )
                return _add_response(state, previous.added, previous.failed)
            added: list[AddedNode] = []
            failed: list[dict[str, Any]] = []
            for entry in entries:
                group = state.groups.get(entry.instance_group_name)
                if group is None or group.status != "InService":
                    failed.append(_add_failure(state, entry, None if group is None else group.status))
                    continue
                for _ in range(entry.increment_target_count_by):
                    added.append(AddedNode(self._lifecycle.add(state, group, now).logical_id, group.name))
            draft.failed_codes = [item["ErrorCode"] for item in failed]
            if client_token is not None:
                state.add_requests[client_token] = AddRequest(fingerprint, now, tuple(added), tuple(failed))
            return _add_response(state, tuple(added), tuple(failed))

    def _node_batch(self, vocabulary: _Vocabulary, scope: Scope, params: Params) -> dict[str, Any]:
        cluster_name = str(params["ClusterName"])
        node_ids: Sequence[str] | None = params.get("NodeIds")
        logical_ids: Sequence[str] | None = params.get("NodeLogicalIds")
        draft = CallDraft(vocabulary.action, cluster_name, tuple(node_ids or ()), tuple(logical_ids or ()))
        with self._calls.recording(draft):
            self._faults.check_throttle()
            if vocabulary is _DELETE:
                validate_delete(cluster_name, node_ids, logical_ids)
            else:
                validate_reboot_or_replace(cluster_name, node_ids, logical_ids)
            state = self._registry.for_request(scope, cluster_name)
            if logical_ids is not None and not state.is_continuous:
                raise ValidationException(
                    "NodeLogicalIds is only supported for clusters with NodeProvisioningMode Continuous."
                )
            now = self._clock.now()
            response: dict[str, Any] = {"Successful": [], "Failed": []}
            for node_id in node_ids or ():
                error = self._start(
                    vocabulary, state, node_id, state.node_by_instance_id(node_id), now, False
                )
                if error is None:
                    response["Successful"].append(node_id)
                else:
                    response["Failed"].append(
                        {"NodeId": node_id, vocabulary.field: error[0], "Message": error[1]}
                    )
            if logical_ids is not None:
                response["SuccessfulNodeLogicalIds"] = []
                response["FailedNodeLogicalIds"] = []
            for logical_id in logical_ids or ():
                error = self._start(vocabulary, state, logical_id, state.nodes.get(logical_id), now, True)
                if error is None:
                    response["SuccessfulNodeLogicalIds"].append(logical_id)
                else:
                    response["FailedNodeLogicalIds"].append(
                        {"NodeLogicalId": logical_id, vocabulary.field: error[0], "Message": error[1]}
                    )
            failures = response["Failed"] + response.get("FailedNodeLogicalIds", [])
            draft.failed_codes = [failure[vocabulary.field] for failure in failures]
            if vocabulary is _DELETE:
                response = {name: value for name, value in response.items() if value}
            return response

    def _start(
        self,
        vocabulary: _Vocabulary,
        state: ClusterState,
        ref: str,
        node: LocalNode | None,
        now: datetime,
        by_logical_id: bool,
    ) -> tuple[str, str] | None:
        """Start the action on one node, or return its per-entry ``(code, message)``."""
        injected = self._faults.take_entry_error(ref, node)
        if injected is not None:
            return injected
        if node is None or node.status is InstanceStatus.NOT_FOUND:
            code = vocabulary.not_found_logical if by_logical_id else vocabulary.not_found
            return code, f"Node {ref} not found in cluster {state.name}."
        group = state.groups[node.instance_group_name]
        if group.is_slurm_controller and vocabulary is not _REBOOT:
            verb = "replaced" if vocabulary is _REPLACE else "removed"
            return vocabulary.invalid_status, (
                f"Node {ref} belongs to Slurm controller instance group {group.name}; "
                f"Slurm controller nodes cannot be {verb}."
            )
        if node.is_busy(now):
            operation = node.operation
            kind = operation.kind.value if operation is not None else node.busy_reason
            started = operation.started_at if operation is not None else node.busy_since or now
            return vocabulary.in_use, (
                f"Node has active {kind} operation (started: {started.isoformat()}). "
                "Wait for completion or retry if operation is stale."
            )
        if node.status not in vocabulary.allowed:
            allowed = " or ".join(sorted(status.value for status in vocabulary.allowed))
            return vocabulary.invalid_status, (
                f"Node {ref} is in status {node.status.value}; {vocabulary.kind.value} requires {allowed}. "
                "Wait for the node to finish any ongoing changes before retrying."
            )
        if vocabulary is _REBOOT:
            self._lifecycle.reboot(state, node, now)
        elif vocabulary is _REPLACE:
            self._lifecycle.replace(state, group, node, now)
        else:
            self._lifecycle.delete(state, node, now)
        return None

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


def _add_failure(state: ClusterState, entry: NodesToAddEntry, group_status: str | None) -> dict[str, Any]:
    name = entry.instance_group_name
    if group_status is None:
        code, message = "InstanceGroupNotFound", f"Instance group {name} not found in cluster {state.name}."
    else:
        code, message = "InvalidInstanceGroupStatus", f"Instance group {name} is in status {group_status}."
    return {
        "InstanceGroupName": name,
        "ErrorCode": code,
        "FailedCount": entry.increment_target_count_by,
        "Message": message,
    }


def _add_response(
    state: ClusterState, added: tuple[AddedNode, ...], failed: tuple[dict[str, Any], ...]
) -> dict[str, Any]:
    successful = []
    for item in added:
        node = state.nodes.get(item.logical_id)
        status = node.status if node is not None else InstanceStatus.NOT_FOUND
        successful.append(
            {
                "NodeLogicalId": item.logical_id,
                "InstanceGroupName": item.instance_group_name,
                "Status": status.value,
            }
        )
    return {"Successful": successful, "Failed": list(failed)}


def _expire_add_requests(state: ClusterState, now: datetime) -> None:
    for token in [t for t, request in state.add_requests.items() if request.expired(now, CLIENT_TOKEN_TTL)]:
        del state.add_requests[token]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
