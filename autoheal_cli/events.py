"""Reading events from a file (or `-` for stdin): one event object, or a JSON list of them; and what
intake made of each (`intake_json`, `result_text`: shared by `replay` and `plan`).

An event is an EventBridge event or a CloudWatch Logs delivery (`{"awslogs": ...}`, HMA records).
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from autoheal.faults import NodeFault
from autoheal.intake import logs
from autoheal.intake.result import Intake
from autoheal_cli.errors import CliError
from autoheal_cli.jsonfile import JsonFileError, read_json


def load_events(path: str) -> list[Any]:
    """The events in the file. Items are not checked here: intake's `normalise` judges each one."""
    try:
        loaded = read_json(path)
    except JsonFileError as exc:
        raise CliError(str(exc)) from exc
    if isinstance(loaded, dict):
        return [loaded]
    if isinstance(loaded, list) and loaded:
        return loaded
    raise CliError(f"{path} must hold an event (a JSON object) or a non-empty JSON list of events")


def refreshed(event: Any, now: datetime) -> Any:
    """The event with a new id and `time` (so remediate sees a new fault, not a duplicate or an old one).

    For a CloudWatch Logs delivery that is every log event's id and timestamp; one that cannot be
    decoded is returned as it is (intake rejects it, and says why)."""
    if not isinstance(event, dict):
        return event
    if logs.is_logs_payload(event):
        return _refreshed_delivery(event, now)
    return {**event, "id": str(uuid.uuid4()), "time": now.strftime("%Y-%m-%dT%H:%M:%SZ")}


def _refreshed_delivery(event: dict[str, Any], now: datetime) -> dict[str, Any]:
    try:
        decoded = logs.decode(event)
    except (logs.LogsPayloadError, ValidationError):
        return event
    stamp = int(now.timestamp() * 1000)
    body = decoded.model_dump(exclude_none=True)
    body["logEvents"] = [
        {"id": f"{stamp}{uuid.uuid4().int:043d}", "timestamp": stamp, "message": e.message}
        for e in decoded.logEvents
    ]
    return logs.encode(body)


def intake_json(intake: Intake, enqueued: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "event_id": intake.event_id,
        "source": intake.source,
        "detail_type": intake.detail_type,
        "faults": [fault_json(f) for f in intake.faults],
        "ignored": [{"reason": i.reason, "subject": i.subject} for i in intake.ignored],
        "rejected": {"reason": intake.rejected.reason, "message": intake.rejected.message}
        if intake.rejected
        else None,
    }
    if enqueued is not None:
        data["enqueued"] = enqueued
    return data


def fault_json(f: NodeFault) -> dict[str, Any]:
    return {
        "cluster": f.cluster_ref,
        "instance_id": f.instance_id,
        "node_logical_id": f.node_logical_id,
        "signal": f.signal,
        "source": f.source,
        "source_event_id": f.source_event_id,
        "observed_at": f.observed_at,
    }


def result_text(intake: Intake, enqueued: int | None = None) -> str:
    if intake.rejected:
        return f"rejected {intake.rejected.reason}: {intake.rejected.message}"
    parts = []
    if intake.faults:
        parts.append(f"enqueued {enqueued}" if enqueued is not None else f"{len(intake.faults)} fault(s)")
    if intake.ignored:
        reasons = Counter(str(i.reason) for i in intake.ignored)
        parts.append("ignored " + ", ".join(f"{r}" + (f" x{n}" if n > 1 else "") for r, n in reasons.items()))
    return "; ".join(parts) or "nothing"


def nodes_text(faults: list[NodeFault]) -> str:
    refs = [f.node_ref for f in faults]
    return ", ".join(refs[:3]) + (f" (+{len(refs) - 3})" if len(refs) > 3 else "")
