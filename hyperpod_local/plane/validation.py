"""Server-side request validation for the four Batch* calls and CreateCluster, with AWS-shaped messages.

botocore validates only list *minimums* client-side; the maxima, the id patterns, the enums and the
cross-field rules below are the service's job, so the local control plane enforces them exactly as
documented in the boto3 docs of BatchReboot/Replace/Delete/AddClusterNodes:

===========================  =============================================================
BatchReboot / BatchReplace   NodeIds 1-25, NodeLogicalIds 1-25, at least one of the two
BatchDelete                  NodeIds 1-99 ("more than 99: contact Support"; the model says
                             3000), NodeLogicalIds 1-50, and NodeIds + NodeLogicalIds <= 50
                             when NodeLogicalIds is given ("combined maximum of 50")
BatchAdd                     NodesToAdd 1-5 groups, IncrementTargetCountBy 1-50, total <= 50,
                             ClientToken <= 64 printable ASCII characters
CreateCluster                every InstanceGroups[].InstanceType in the installed botocore
                             model's ClusterInstanceType enum (moto's own, shorter list is
                             switched off, see :mod:`~hyperpod_local.plane._moto`)
===========================  =============================================================

Faithful: the constraint wording (``1 validation error detected: Value '...' at 'nodeIds' failed to
satisfy constraint: Member must have length less than or equal to 25``), lower-camel member paths,
all constraint violations of one request reported together. Simplified: messages of the cross-field
rules (at least one list, combined delete maximum, add total) are our own wording, since AWS does not
document them. An enum violation reads as the real service's do (``Value 'ml.t2.medium' at
'resourceConfig.instanceType' failed to satisfy constraint: Member must satisfy enum value set: [...]``,
quoted from a CreateTrainingJob answer in
https://github.com/aws-samples/aws-sagemaker-heart-disease-prediction/issues/1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hyperpod_local.plane.errors import ValidationException
from hyperpod_local.service_model import cluster_instance_types

REBOOT_REPLACE_MAX_IDS = 25
DELETE_MAX_NODE_IDS = 99
DELETE_MAX_LOGICAL_IDS = 50
DELETE_MAX_COMBINED = 50
ADD_MAX_GROUPS = 5
ADD_MAX_PER_GROUP = 50
ADD_MAX_TOTAL = 50
CLIENT_TOKEN_MAX_LENGTH = 64

INSTANCE_ID_PATTERN = r"i-[a-f0-9]{8}(?:[a-f0-9]{9})?"
LOGICAL_ID_PATTERN = r"[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]"
CLUSTER_NAME_PATTERN = r"((arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:cluster/[a-z0-9]{12})|([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}))"
INSTANCE_GROUP_NAME_PATTERN = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"
CLIENT_TOKEN_PATTERN = r"[\x21-\x7E]+"

_INSTANCE_ID_MAX_LENGTH = 256
_LOGICAL_ID_MAX_LENGTH = 128
_CLUSTER_NAME_MAX_LENGTH = 256
_GROUP_NAME_MAX_LENGTH = 63


@dataclass(frozen=True)
class NodesToAddEntry:
    """One ``NodesToAdd`` member of a BatchAddClusterNodes request."""

    instance_group_name: str
    increment_target_count_by: int


class _Violations:
    """Collects constraint violations and raises them as one AWS-style ValidationException."""

    def __init__(self) -> None:
        self._items: list[str] = []

    def add(self, value: str, path: str, constraint: str) -> None:
        self._items.append(f"Value '{value}' at '{path}' failed to satisfy constraint: {constraint}")

    def add_null(self, path: str, note: str = "") -> None:
        self._items.append(
            f"Value null at '{path}' failed to satisfy constraint: Member must not be null{note}"
        )

    def list_length(self, values: Sequence[str], path: str, minimum: int, maximum: int) -> None:
        if len(values) < minimum:
            self.add(_render(values), path, f"Member must have length greater than or equal to {minimum}")
        elif len(values) > maximum:
            self.add(_render(values), path, f"Member must have length less than or equal to {maximum}")

    def string(self, value: str, path: str, pattern: str, max_length: int) -> None:
        if len(value) > max_length:
            self.add(value, path, f"Member must have length less than or equal to {max_length}")
        if not value:
            self.add(value, path, "Member must have length greater than or equal to 1")
        elif re.fullmatch(pattern, value) is None:
            self.add(value, path, f"Member must satisfy regular expression pattern: {pattern}")

    def integer(self, value: int, path: str, minimum: int, maximum: int) -> None:
        if value < minimum:
            self.add(str(value), path, f"Member must have value greater than or equal to {minimum}")
        elif value > maximum:
            self.add(str(value), path, f"Member must have value less than or equal to {maximum}")

    def enum(self, value: str, path: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            self.add(value, path, f"Member must satisfy enum value set: {_render(allowed)}")

    def raise_if_any(self) -> None:
        if self._items:
            count = len(self._items)
            noun = "error" if count == 1 else "errors"
            raise ValidationException(f"{count} validation {noun} detected: " + "; ".join(self._items))


def _render(values: Sequence[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _cluster_name(violations: _Violations, cluster_name: str) -> None:
    violations.string(cluster_name, "clusterName", CLUSTER_NAME_PATTERN, _CLUSTER_NAME_MAX_LENGTH)


def _id_lists(
    violations: _Violations,
    node_ids: Sequence[str] | None,
    logical_ids: Sequence[str] | None,
    max_node_ids: int,
    max_logical_ids: int,
) -> None:
    if node_ids is not None:
        violations.list_length(node_ids, "nodeIds", 1, max_node_ids)
        for index, node_id in enumerate(node_ids, start=1):
            violations.string(
                node_id, f"nodeIds.{index}.member", INSTANCE_ID_PATTERN, _INSTANCE_ID_MAX_LENGTH
            )
    if logical_ids is not None:
        violations.list_length(logical_ids, "nodeLogicalIds", 1, max_logical_ids)
        for index, logical_id in enumerate(logical_ids, start=1):
            violations.string(
                logical_id, f"nodeLogicalIds.{index}.member", LOGICAL_ID_PATTERN, _LOGICAL_ID_MAX_LENGTH
            )


def _require_some_ids(node_ids: Sequence[str] | None, logical_ids: Sequence[str] | None) -> None:
    if node_ids is None and logical_ids is None:
        raise ValidationException("Either NodeIds or NodeLogicalIds must be provided (or both).")


def validate_reboot_or_replace(
    cluster_name: str, node_ids: Sequence[str] | None, logical_ids: Sequence[str] | None
) -> None:
    """BatchRebootClusterNodes / BatchReplaceClusterNodes: 1-25 of each list, at least one list."""
    violations = _Violations()
    _cluster_name(violations, cluster_name)
    _id_lists(violations, node_ids, logical_ids, REBOOT_REPLACE_MAX_IDS, REBOOT_REPLACE_MAX_IDS)
    violations.raise_if_any()
    _require_some_ids(node_ids, logical_ids)


def validate_delete(
    cluster_name: str, node_ids: Sequence[str] | None, logical_ids: Sequence[str] | None
) -> None:
    """BatchDeleteClusterNodes: NodeIds <= 99, NodeLogicalIds <= 50, combined <= 50 with logical ids."""
    violations = _Violations()
    _cluster_name(violations, cluster_name)
    _id_lists(violations, node_ids, logical_ids, DELETE_MAX_NODE_IDS, DELETE_MAX_LOGICAL_IDS)
    violations.raise_if_any()
    _require_some_ids(node_ids, logical_ids)
    if logical_ids is not None:
        combined = len(logical_ids) + len(node_ids or ())
        if combined > DELETE_MAX_COMBINED:
            raise ValidationException(
                f"The combined number of NodeIds and NodeLogicalIds ({combined}) exceeds the maximum of "
                f"{DELETE_MAX_COMBINED}."
            )


def validate_add(
    cluster_name: str, client_token: str | None, nodes_to_add: Sequence[NodesToAddEntry]
) -> None:
    """BatchAddClusterNodes: 1-5 groups, 1-50 per group, at most 50 in total, token <= 64 chars."""
    violations = _Violations()
    _cluster_name(violations, cluster_name)
    if client_token is not None:
        violations.string(client_token, "clientToken", CLIENT_TOKEN_PATTERN, CLIENT_TOKEN_MAX_LENGTH)
    rendered = [f"{entry.instance_group_name}:{entry.increment_target_count_by}" for entry in nodes_to_add]
    violations.list_length(rendered, "nodesToAdd", 1, ADD_MAX_GROUPS)
    for index, entry in enumerate(nodes_to_add, start=1):
        path = f"nodesToAdd.{index}.member"
        violations.string(
            entry.instance_group_name,
            f"{path}.instanceGroupName",
            INSTANCE_GROUP_NAME_PATTERN,
            _GROUP_NAME_MAX_LENGTH,
        )
        violations.integer(
            entry.increment_target_count_by, f"{path}.incrementTargetCountBy", 1, ADD_MAX_PER_GROUP
        )
    violations.raise_if_any()
    total = sum(entry.increment_target_count_by for entry in nodes_to_add)
    if total > ADD_MAX_TOTAL:
        raise ValidationException(
            f"The total number of nodes to add across all instance groups ({total}) exceeds the maximum of "
            f"{ADD_MAX_TOTAL}."
        )


#: What an instance group must carry: the members the botocore model (and the API reference,
#: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterInstanceGroupSpecification.html)
#: marks required, as the lower-camel path the service names them by. ``ThreadsPerCore`` and
#: ``LifeCycleConfig`` are optional, with no documented default: the plane stores and reports only what
#: was given.
REQUIRED_GROUP_MEMBERS = {
    "InstanceCount": "instanceCount",
    "InstanceGroupName": "instanceGroupName",
    "ExecutionRole": "executionRole",
}


def validate_create_cluster(instance_groups: Sequence[Mapping[str, Any]] | None) -> None:
    """CreateCluster: at least one instance group; each carries the model's required members (a hand-made
    request can leave them out: ``Value null ... Member must not be null``, as the service words a
    missing required member) and an InstanceType the model's ClusterInstanceType enum lists (botocore
    does not check enums client-side). InstanceRequirements instead of an InstanceType is not modelled
    locally: it is refused, saying so."""
    if not instance_groups:
        raise ValidationException("CreateCluster needs at least one instance group in InstanceGroups.")
    violations = _Violations()
    allowed = cluster_instance_types()
    for index, group in enumerate(instance_groups, start=1):
        path = f"instanceGroups.{index}.member"
        for member, name in REQUIRED_GROUP_MEMBERS.items():
            if group.get(member) is None:
                violations.add_null(f"{path}.{name}")
        if group.get("InstanceType") is None:
            violations.add_null(f"{path}.instanceType", " (the local plane needs an InstanceType)")
        else:
            violations.enum(str(group["InstanceType"]), f"{path}.instanceType", allowed)
    violations.raise_if_any()
