"""The node-batch actions of the local control plane: BatchReboot/BatchReplace/BatchDelete and BatchAdd.

:class:`NodeBatches` answers them for :class:`~hyperpod_local.plane.api.ClusterApi`, which routes the
requests here after its own whole-request checks (see :mod:`hyperpod_local.plane.api` for the order
of whole-request errors).

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

BatchAdd: see :meth:`NodeBatches.add` (ClientToken idempotency for :data:`CLIENT_TOKEN_TTL`,
per-group failures).

Target counts (``InstanceGroups[].TargetCount`` in DescribeCluster): a group's target is its nodes
that are not being deleted, so BatchAdd raises it by each node added ("Adds nodes ... by incrementing
the target count", https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchAddClusterNodes.html)
and an accepted BatchDelete lowers it by each node deleted, at once, and nothing refills the slot.
AWS does not say the latter in so many words; the documentation treats the delete as the scale-in
counterpart of the add ("Scale down at the instance level", billing stops after scale-down:
https://docs.aws.amazon.com/sagemaker/latest/dg/smcluster-scale-down.html; the autoscaling cluster
role needs exactly ``BatchAddClusterNodes`` and ``BatchDeleteClusterNodes``:
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-eks-autoscaling-iam.html), and a
Continuous-mode group that kept its target would launch a node back at once (HyperPod "Begins
launching instances to meet the target count":
https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-hyperpod-scaling-eks.html). AWS's own
node-deletion script for HyperPod (awslabs/awsome-distributed-ai, ``delete-hyperpod-nodes.sh``,
https://github.com/awslabs/awsome-distributed-ai/pull/1011) waits for ``CurrentCount`` to settle at the old count minus the deletions and
then lowers its Terraform instance count so nothing re-provisions them. ``CurrentCount`` counts the
``Running`` nodes only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hyperpod_local.plane.calls import CallDraft, CallLog
from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.errors import ValidationException
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
from hyperpod_local.plane.ports import Scope
from hyperpod_local.plane.registry import ClusterRegistry
from hyperpod_local.plane.validation import (
    NodesToAddEntry,
    validate_add,
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


class NodeBatches:
    """Answers the Batch*ClusterNodes actions from control-plane state. Callers hold the lock."""

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

    def reboot(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_REBOOT, scope, params)

    def replace(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_REPLACE, scope, params)

    def delete(self, scope: Scope, params: Params) -> dict[str, Any]:
        return self._node_batch(_DELETE, scope, params)

    def add(self, scope: Scope, params: Params) -> dict[str, Any]:
        """New nodes are Pending with a NodeLogicalId and no instance id, Running later.

        The same ClientToken with the same NodesToAdd within 8 hours returns the same NodeLogicalIds
        with their latest status (``NotFound`` once deleted). A token reused with different
        parameters is a ``ValidationException`` (HTTP 400): AWS does not document this case and the
        SageMaker model has no ``IdempotentParameterMismatch`` for this operation, so we answer the
        common client error callers must already handle. Unknown group ->
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
