"""Typed receipts for the Batch*ClusterNodes calls, and the classification of every failure.

Reboot, replace and add report failures with `ErrorCode`; delete reports them with `Code`. Both shapes
are read here, and every id we asked about gets exactly one receipt (an id the response does not
mention is a transient `NoResult`, never silently dropped; an id listed both as successful and as
failed is taken as accepted -- the node is busy with it, sending it again would act twice -- and marked
`contradictory` so the caller meters it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class IdKind(StrEnum):
    """Which request list an id travels in."""

    NODE_ID = "NodeIds"
    LOGICAL_ID = "NodeLogicalIds"


class EntryOutcome(StrEnum):
    ACCEPTED = "accepted"  # the platform accepted the action: in progress, not healed until reconcile sees it
    TRANSIENT = "transient"  # retry later, this entry alone
    GONE = "gone"  # the node no longer exists: close it
    CLUSTER_GONE = "cluster_gone"  # the cluster does not exist: close all its faults
    PERMANENT = "permanent"  # retrying will not help: hand to a human


#: Per-entry and whole-call error codes and what they mean for the node. Unknown codes are transient
#: (and logged by the caller): a new code must never make us drop a fault.
ERROR_OUTCOMES: Mapping[str, EntryOutcome] = {
    # reboot / replace (ErrorCode)
    "InstanceIdInUse": EntryOutcome.TRANSIENT,
    "InvalidInstanceStatus": EntryOutcome.TRANSIENT,
    "InternalServerError": EntryOutcome.TRANSIENT,
    "InstanceIdNotFound": EntryOutcome.GONE,
    # delete (Code)
    "NodeIdInUse": EntryOutcome.TRANSIENT,
    "InvalidNodeStatus": EntryOutcome.TRANSIENT,
    "InternalError": EntryOutcome.TRANSIENT,
    "NodeIdNotFound": EntryOutcome.GONE,
    "NodeLogicalIdNotFound": EntryOutcome.GONE,
    # whole-call errors
    "ThrottlingException": EntryOutcome.TRANSIENT,
    "Throttling": EntryOutcome.TRANSIENT,
    "TooManyRequestsException": EntryOutcome.TRANSIENT,
    "RequestLimitExceeded": EntryOutcome.TRANSIENT,
    "ServiceUnavailable": EntryOutcome.TRANSIENT,
    "InternalFailure": EntryOutcome.TRANSIENT,
    "ResourceNotFound": EntryOutcome.CLUSTER_GONE,
    "ValidationException": EntryOutcome.PERMANENT,
    "AccessDeniedException": EntryOutcome.PERMANENT,
    "ResourceLimitExceeded": EntryOutcome.PERMANENT,
    # no entry for an id we asked about; a call whose fate is unknown (connection lost)
    "NoResult": EntryOutcome.TRANSIENT,
    "ConnectionError": EntryOutcome.TRANSIENT,
}

NO_RESULT = "NoResult"


def outcome_for(code: str) -> tuple[EntryOutcome, bool]:
    """The outcome for an error code, and whether the code was known."""
    known = code in ERROR_OUTCOMES
    return ERROR_OUTCOMES.get(code, EntryOutcome.TRANSIENT), known


@dataclass(frozen=True)
class EntryResult:
    """One receipt per node named in a request."""

    node_id: str
    id_kind: IdKind
    outcome: EntryOutcome
    error_code: str | None = None
    message: str = ""
    contradictory: bool = False  # listed as successful and as failed in one response

    @property
    def failed(self) -> bool:
        return self.outcome is not EntryOutcome.ACCEPTED


_LISTS: Mapping[IdKind, tuple[str, str, str]] = {
    # id kind: (successful list, failed list, id field in a failed entry)
    IdKind.NODE_ID: ("Successful", "Failed", "NodeId"),
    IdKind.LOGICAL_ID: ("SuccessfulNodeLogicalIds", "FailedNodeLogicalIds", "NodeLogicalId"),
}


def classify_response(
    response: Mapping[str, Any], requested: Mapping[IdKind, Sequence[str]]
) -> list[EntryResult]:
    """Receipts for every requested id from a reboot/replace/delete response (either failure shape)."""
    results: list[EntryResult] = []
    for kind, ids in requested.items():
        ok_key, failed_key, id_field = _LISTS[kind]
        succeeded = set(response.get(ok_key) or ())
        failures: dict[str, Mapping[str, Any]] = {}
        for entry in response.get(failed_key) or ():
            node = entry.get(id_field)
            if isinstance(node, str):
                failures[node] = entry
        for node in ids:
            if node in failures and node in succeeded:
                entry = failures[node]
                code = str(entry.get("ErrorCode") or entry.get("Code") or "Unknown")
                message = f"listed as successful and as failed ({code}): taken as accepted"
                results.append(
                    EntryResult(node, kind, EntryOutcome.ACCEPTED, None, message, contradictory=True)
                )
            elif node in failures:
                entry = failures[node]
                code = str(entry.get("ErrorCode") or entry.get("Code") or "Unknown")
                outcome, _ = outcome_for(code)
                results.append(EntryResult(node, kind, outcome, code, str(entry.get("Message") or "")))
            elif node in succeeded:
                results.append(EntryResult(node, kind, EntryOutcome.ACCEPTED))
            else:
                results.append(
                    EntryResult(
                        node, kind, EntryOutcome.TRANSIENT, NO_RESULT, "the response did not mention it"
                    )
                )
    return results


def classify_call_error(
    code: str, message: str, requested: Mapping[IdKind, Sequence[str]]
) -> list[EntryResult]:
    """A whole call failed: every id in it gets the call's outcome."""
    outcome, _ = outcome_for(code)
    return [
        EntryResult(node, kind, outcome, code, message) for kind, ids in requested.items() for node in ids
    ]


def unknown_codes(results: Iterable[EntryResult]) -> set[str]:
    """Error codes in `results` that this module does not know (logged by callers)."""
    return {r.error_code for r in results if r.error_code and r.error_code not in ERROR_OUTCOMES}


@dataclass(frozen=True)
class AddGroupResult:
    """BatchAddClusterNodes receipt for one instance group."""

    instance_group: str
    node_logical_ids: tuple[str, ...]
    failed_count: int = 0
    error_code: str | None = None
    message: str = ""


def classify_add_response(response: Mapping[str, Any]) -> list[AddGroupResult]:
    """Per-group receipts from a BatchAddClusterNodes response."""
    by_group: dict[str, list[str]] = {}
    for entry in response.get("Successful") or ():
        by_group.setdefault(str(entry.get("InstanceGroupName")), []).append(str(entry.get("NodeLogicalId")))
    results = [AddGroupResult(group, tuple(ids)) for group, ids in by_group.items()]
    for entry in response.get("Failed") or ():
        results.append(
            AddGroupResult(
                instance_group=str(entry.get("InstanceGroupName")),
                node_logical_ids=(),
                failed_count=int(entry.get("FailedCount") or 0),
                error_code=str(entry.get("ErrorCode") or entry.get("Code") or "Unknown"),
                message=str(entry.get("Message") or ""),
            )
        )
    return results
