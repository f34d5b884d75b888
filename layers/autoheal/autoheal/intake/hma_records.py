"""HyperPod health monitoring agent (HMA) log records: where they come from and what they say.

HMA logs each detection to the cluster's log group `/aws/sagemaker/Clusters/<name>/<id>`, in the
node's stream `SagemakerHealthMonitoringAgent/<instance-group>/<instance-id>`, as one JSON record.
Three record shapes are known (docs/hyperpod-facts.md, "The health monitoring agent"):

- Slurm DCGM: `{"msg": "DCGM Policy Violation found ", "condition: ": "XID Error",
  "data: ": {"ErrNum": 79}, "HealthMonitoringAgentDetectionEvent": "HealthEvent"}`
- node-problem-detector, as documented: `{"msg": "NPD caught event: %v", "details": {"reason":
  "XidHardwareFailure", "message": "Node condition NvidiaErrorReboot is now: True, ... Xid (...): 71,
  ..."}, "HealthMonitoringAgentDetectionEvent": "HealthEvent"}`
- EKS node-problem-detector event: `{"Event detail": {"Action": "replace", "Type":
  "NvidiaGPUUnhealthy", "Reason": "NvidiaGpuXidErrorPendingReplacement", "Message": "NVRM: Xid
  (...): 74 ..."}}`

Keys are read the way HMA writes them and the way people retype them: surrounding blanks and a
trailing colon are dropped (`"condition: "` is `condition`). HMA's own action (reboot/replace) is
kept as `repair_action`: the ladder starts on HMA's Replace or Reboot (`autoheal.signals`), the
guards still decide whether we act.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from autoheal.faults import RepairAction
from autoheal.intake.rules.common import MATCH_WINDOW, SIGNAL_MAX, clip, reason_text
from autoheal.validation import summarise

DETECTION_MARKER = "HealthMonitoringAgentDetectionEvent"

#: The metric dimension the optional alarm section (template.yaml) names the node stream with.
HMA_STREAM_DIMENSION = "HmaLogStream"

_STREAM_RE = re.compile(
    r"SagemakerHealthMonitoringAgent/(?P<group>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<instance>i-[a-f0-9]{8}(?:[a-f0-9]{9})?)"
)
_LOG_GROUP_RE = re.compile(
    r"/aws/sagemaker/Clusters/(?P<name>[a-zA-Z0-9](?:-*[a-zA-Z0-9]){0,62})/(?P<id>[a-z0-9]{12})"
)
_CONDITION_RE = re.compile(
    r"\bNode condition (?P<name>[A-Za-z][A-Za-z0-9]*) is now:\s*(?P<status>True|False)"
)
_XID_RE = re.compile(r"\bXid\b(?:\s*\([^)]{0,64}\))?\s*:\s*(?P<xid>\d{1,3})\b", re.IGNORECASE)

#: HMA's own verdict that an Xid was the application's doing (observed, not documented: see
#: docs/hyperpod-facts.md).
APPLICATION_REASONS = frozenset({"XidUserAppError", "NvidiaGpuXidRestartApp"})

_MAX_RECORD_CHARS = 256 * 1024  # CloudWatch's own limit for one log event
_KEY_DEPTH = 4


@dataclass(frozen=True)
class StreamNode:
    """The node an HMA log stream belongs to."""

    instance_group: str
    instance_id: str


@dataclass(frozen=True)
class ClusterLogGroup:
    """The cluster an HMA log group belongs to."""

    name: str
    cluster_id: str


def parse_stream(stream: str) -> StreamNode | None:
    match = _STREAM_RE.fullmatch(stream)
    return StreamNode(match["group"], match["instance"]) if match else None


def parse_log_group(group: str) -> ClusterLogGroup | None:
    match = _LOG_GROUP_RE.fullmatch(group)
    return ClusterLogGroup(match["name"], match["id"]) if match else None


class NotADetection(ValueError):
    """The record is not an HMA detection (an ordinary log line a widened filter let through)."""


class RecordError(ValueError):
    """The record is marked as an HMA detection but cannot be read as one."""


@dataclass(frozen=True)
class Detection:
    """One HMA detection, whatever shape it was written in."""

    shape: str  # "dcgm" | "npd" | "npd_event"
    signal: str
    reason: str
    repair_action: RepairAction  # HMA's own intent: Reboot, Replace, None, or Unknown
    xid: int | None = None
    application_reason: bool = False  # HMA classified it as the application's fault
    recovered: bool = False  # a node condition going back to False


# --- the three shapes ------------------------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _DcgmData(_Lenient):
    err_num: int | None = Field(default=None, alias="ErrNum")


class _DcgmRecord(_Lenient):
    msg: str = ""
    condition: str = Field(min_length=1, max_length=256)
    data: _DcgmData | None = None


class _NpdDetails(_Lenient):
    severity: str = ""
    reason: str = Field(default="", max_length=256)
    message: str = ""


class _NpdRecord(_Lenient):
    msg: str = ""
    details: _NpdDetails


class _NpdEventDetail(_Lenient):
    action: str = Field(default="", alias="Action", max_length=64)
    type: str = Field(default="", alias="Type", max_length=256)
    reason: str = Field(default="", alias="Reason", max_length=256)
    message: str = Field(default="", alias="Message")


class _NpdEventRecord(_Lenient):
    event_detail: _NpdEventDetail = Field(alias="Event detail")


def parse_record(message: str) -> Detection:
    """One log event's message as a `Detection`; `NotADetection` or `RecordError` otherwise."""
    marked = DETECTION_MARKER in message[:MATCH_WINDOW] or "Event detail" in message[:MATCH_WINDOW]
    if len(message) > _MAX_RECORD_CHARS:
        raise RecordError(f"record longer than {_MAX_RECORD_CHARS} characters")
    try:
        record = json.loads(message)
    except ValueError:
        if marked:
            raise RecordError("record is not JSON") from None
        raise NotADetection("not JSON") from None
    if not isinstance(record, dict):
        if marked:
            raise RecordError("record is not a JSON object")
        raise NotADetection("not a JSON object")
    record = _clean_keys(record, _KEY_DEPTH)
    try:
        if "Event detail" in record:
            return _npd_event(_NpdEventRecord.model_validate(record))
        if "details" in record:
            return _npd(_NpdRecord.model_validate(record))
        if "condition" in record:
            return _dcgm(_DcgmRecord.model_validate(record))
    except ValidationError as exc:
        raise RecordError(summarise(exc, 1, top_level="record", limit=200)) from None
    if record.get(DETECTION_MARKER) is not None:
        keys = ", ".join(sorted(record)[:6])
        raise RecordError(f"unknown HMA detection shape (keys: {keys})")
    raise NotADetection("no HMA detection fields")


def _dcgm(record: _DcgmRecord) -> Detection:
    xid = record.data.err_num if record.data else None
    signal = _camel(record.condition) or "DcgmPolicyViolation"
    if xid is not None:
        signal = f"{signal}:{xid}"
    detail = f"{record.condition.strip()} (ErrNum {xid})" if xid is not None else record.condition.strip()
    return Detection(
        shape="dcgm",
        signal=clip(signal, SIGNAL_MAX),
        reason=reason_text(record.msg, detail),
        repair_action=RepairAction.UNKNOWN,  # HMA names no action; HyperPod may still act on it
        xid=xid,
    )


def _npd(record: _NpdRecord) -> Detection:
    details = record.details
    head = details.message[:MATCH_WINDOW]
    condition = _CONDITION_RE.search(head)
    name = condition["name"] if condition else ""
    return Detection(
        shape="npd",
        signal=clip(name or details.reason or "HmaDetection", SIGNAL_MAX),
        reason=reason_text(details.reason, details.message),
        repair_action=_condition_action(name),
        xid=_xid(head),
        application_reason=details.reason in APPLICATION_REASONS,
        recovered=condition is not None and condition["status"] == "False",
    )


def _npd_event(record: _NpdEventRecord) -> Detection:
    detail = record.event_detail
    action = _ACTIONS.get(detail.action.strip().lower())
    if action is None:
        action = _reason_action(detail.reason)
    return Detection(
        shape="npd_event",
        signal=clip(detail.type or detail.reason or "HmaDetection", SIGNAL_MAX),
        reason=reason_text(detail.reason, detail.message),
        repair_action=action,
        xid=_xid(detail.message[:MATCH_WINDOW]),
        application_reason=detail.reason in APPLICATION_REASONS,
    )


_ACTIONS = {
    "reboot": RepairAction.REBOOT,
    "replace": RepairAction.REPLACE,
    "terminate": RepairAction.REPLACE,
    "none": RepairAction.NONE,
}


def _reason_action(reason: str) -> RepairAction:
    if reason.endswith("PendingReplacement"):
        return RepairAction.REPLACE
    if reason.endswith("PendingReboot"):
        return RepairAction.REBOOT
    return RepairAction.UNKNOWN


def _condition_action(condition: str) -> RepairAction:
    """HyperPod's condition names carry the intent: NvidiaErrorReboot, NvidiaErrorTerminate."""
    if condition.endswith("Reboot"):
        return RepairAction.REBOOT
    if condition.endswith(("Terminate", "Replace", "Replacement")):
        return RepairAction.REPLACE
    return RepairAction.UNKNOWN


def _xid(text: str) -> int | None:
    match = _XID_RE.search(text)
    return int(match["xid"]) if match else None


def _camel(text: str) -> str:
    """`XID Error` -> `XidError`: a condition name as a machine-readable signal."""
    return "".join(word[:1].upper() + word[1:].lower() for word in re.findall(r"[A-Za-z0-9]+", text))


def _clean_keys(value: Any, depth: int) -> Any:
    """`{"condition: ": ...}` -> `{"condition": ...}`, a few levels deep (HMA's own spelling)."""
    if depth <= 0 or not isinstance(value, dict):
        return value
    return {str(k).strip().rstrip(":").strip(): _clean_keys(v, depth - 1) for k, v in value.items()}
