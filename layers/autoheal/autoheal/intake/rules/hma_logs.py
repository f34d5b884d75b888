"""Rule for HMA log records delivered by a CloudWatch Logs subscription (Slurm's fault path).

One delivery holds records of one log stream, i.e. of one node; it becomes at most one `NodeFault`:

- the node comes from the stream name (`SagemakerHealthMonitoringAgent/<group>/<instance-id>`),
  the cluster from the log group name (`/aws/sagemaker/Clusters/<name>/<id>`; another name leaves
  the cluster unknown and remediate finds the node in the account's clusters);
- each record is parsed (`autoheal.intake.hma_records`); unreadable detections are rejected one by one
  (the rest of the delivery still counts), ordinary log lines are ignored;
- a condition going back to False, HMA's own "application fault" verdicts and Xids listed in
  `HmaRuleConfig.ignored_xids` (`AUTOHEAL_HMA_IGNORED_XIDS`) without a reboot/replace from HMA are
  not node faults;
- the remaining detections collapse into one fault: the one with the strongest HMA intent
  (replace > reboot > unknown > none), the earliest of those; the others are counted as
  `duplicate_in_event`. Its time is the log event's, its id the log event's id (stable across
  redeliveries), its `repair_action` HMA's intent (the ladder starts on it when it is Replace or
  Reboot: `autoheal.signals`; the guards still apply), its `xid` the record's Xid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from autoheal.faults import FaultSource, NodeFault, RepairAction, Severity
from autoheal.intake import hma_records
from autoheal.intake.logs import CONTROL_MESSAGE, DATA_MESSAGE, CloudWatchLogsDecode, CloudWatchLogsLogEvent
from autoheal.intake.result import (
    MALFORMED_HMA_RECORD,
    Disposition,
    Ignored,
    IgnoreReason,
    Rejected,
    ignore,
)
from autoheal.intake.rules.common import clip
from autoheal.intake.rules.config import HmaRuleConfig

_EVENT_ID_MAX = 256
_INTENT_RANK = {
    RepairAction.REPLACE: 3,
    RepairAction.REBOOT: 2,
    RepairAction.UNKNOWN: 1,
    RepairAction.NONE: 0,
}


@dataclass(frozen=True)
class _Candidate:
    event_id: str
    observed_at: datetime
    detection: hma_records.Detection


def log_delivery(payload: CloudWatchLogsDecode, config: HmaRuleConfig) -> Disposition:
    if payload.messageType == CONTROL_MESSAGE:
        return ignore(IgnoreReason.LOGS_CONTROL_MESSAGE, payload.logGroup)
    if payload.messageType != DATA_MESSAGE:
        return ignore(IgnoreReason.UNSUPPORTED_DETAIL_TYPE, payload.messageType)
    node = hma_records.parse_stream(payload.logStream)
    if node is None:
        subject = clip(payload.logStream, 200)
        return Disposition(ignored=[Ignored(IgnoreReason.NO_NODE, subject) for _ in payload.logEvents])

    ignored: list[Ignored] = []
    rejected: list[Rejected] = []
    candidates: list[_Candidate] = []
    for event in payload.logEvents:
        read = _read(event, config)
        if isinstance(read, Ignored):
            ignored.append(read)
        elif isinstance(read, Rejected):
            rejected.append(read)
        else:
            candidates.append(read)
    if not candidates:
        return Disposition(ignored=ignored, rejected=rejected)

    chosen = min(candidates, key=lambda c: (-_INTENT_RANK[c.detection.repair_action], c.observed_at))
    ignored.extend(
        Ignored(IgnoreReason.DUPLICATE_IN_EVENT, f"{node.instance_id} {c.event_id}")
        for c in candidates
        if c is not chosen
    )
    cluster = hma_records.parse_log_group(payload.logGroup)
    more = f" (+{len(candidates) - 1} more HMA records)" if len(candidates) > 1 else ""
    fault = NodeFault(
        cluster_name=cluster.name if cluster else None,
        instance_id=node.instance_id,
        instance_group=node.instance_group,
        signal=chosen.detection.signal,
        reason=clip(chosen.detection.reason + more, 2048),
        severity=Severity.ERROR,
        repair_action=chosen.detection.repair_action,
        xid=chosen.detection.xid,
        source=FaultSource.HMA_LOG,
        source_event_id=chosen.event_id,
        observed_at=chosen.observed_at,
    )
    return Disposition(faults=[fault], ignored=ignored, rejected=rejected)


def _read(event: CloudWatchLogsLogEvent, config: HmaRuleConfig) -> _Candidate | Ignored | Rejected:
    event_id = event.id
    if not event_id or len(event_id) > _EVENT_ID_MAX:
        return Rejected(MALFORMED_HMA_RECORD, f"log event id must be 1-{_EVENT_ID_MAX} characters")
    message = event.message if isinstance(event.message, str) else ""
    try:
        detection = hma_records.parse_record(message)
    except hma_records.NotADetection:
        return Ignored(IgnoreReason.NOT_HMA_DETECTION, event_id)
    except hma_records.RecordError as exc:
        return Rejected(MALFORMED_HMA_RECORD, f"log event {event_id[:64]}: {exc}")
    if detection.recovered:
        return Ignored(IgnoreReason.HEALTHY_TRANSITION, f"{detection.signal} {event_id}")
    if _application_fault(detection, config):
        return Ignored(IgnoreReason.HMA_APPLICATION_FAULT, f"{detection.signal} {event_id}")
    return _Candidate(event_id, event.timestamp, detection)


def _application_fault(detection: hma_records.Detection, config: HmaRuleConfig) -> bool:
    """HMA said so, or an Xid that is the application's and HMA asked for no node action."""
    if detection.application_reason:
        return True
    node_action = detection.repair_action in (RepairAction.REBOOT, RepairAction.REPLACE)
    return detection.xid is not None and detection.xid in config.ignored_xids and not node_action
