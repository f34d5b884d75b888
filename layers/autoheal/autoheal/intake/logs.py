"""CloudWatch Logs subscription payloads: `{"awslogs": {"data": <base64 of gzip of JSON>}}`.

Decoded here with bounds (Powertools' own `CloudWatchLogsData` decoder inflates without a limit), then
validated with `CloudWatchLogsDecode`: the same fields and types as Powertools' model of that name (a
test keeps them equal), declared here because importing Powertools' parser models loads every model it
ships (dozens of event sources) at cold start. The shape is CloudWatch Logs' subscription filter
payload (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html). Every way a
payload can be wrong raises `LogsPayloadError` with a short reason; the payload itself is never echoed.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel

AWSLOGS = "awslogs"
DATA_MESSAGE = "DATA_MESSAGE"
CONTROL_MESSAGE = "CONTROL_MESSAGE"

#: Lambda's asynchronous payload limit is 1 MiB of base64; log text gzips 10-20x. Anything that
#: inflates past this is not a CloudWatch Logs delivery (a gzip bomb, or a mistake) and is rejected.
MAX_DECODED_BYTES = 32 * 1024 * 1024


class CloudWatchLogsLogEvent(BaseModel):
    """One log event of a delivery; `timestamp` is epoch milliseconds, read as UTC."""

    id: str
    timestamp: datetime
    message: str | type[BaseModel]


class CloudWatchLogsDecode(BaseModel):
    """A decoded delivery (the fields are CloudWatch's own camelCase names)."""

    messageType: str
    owner: str
    logGroup: str
    logStream: str
    subscriptionFilters: list[str]
    logEvents: list[CloudWatchLogsLogEvent]
    policyLevel: str | None = None


class LogsPayloadError(ValueError):
    """The event looks like a CloudWatch Logs delivery but cannot be read as one."""


def is_logs_payload(raw: Mapping[str, Any]) -> bool:
    return AWSLOGS in raw


def decode(raw: Mapping[str, Any]) -> CloudWatchLogsDecode:
    """The subscription payload inside a Lambda event, decoded and validated."""
    awslogs = raw.get(AWSLOGS)
    data = awslogs.get("data") if isinstance(awslogs, Mapping) else None
    if not isinstance(data, str) or not data:
        raise LogsPayloadError("awslogs.data must be a non-empty string")
    try:
        compressed = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise LogsPayloadError("awslogs.data is not base64") from None
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip (or zlib) header, auto-detected
    try:
        text = inflater.decompress(compressed, MAX_DECODED_BYTES)
    except zlib.error:
        raise LogsPayloadError("awslogs.data is not gzip") from None
    if inflater.unconsumed_tail:
        raise LogsPayloadError(f"awslogs.data inflates past {MAX_DECODED_BYTES} bytes")
    if not inflater.eof:
        raise LogsPayloadError("awslogs.data is truncated gzip")
    return CloudWatchLogsDecode.model_validate_json(text)  # ValidationError: the caller summarises


def encode(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda event CloudWatch Logs would deliver for `payload` (tests, samples, the local world)."""
    import gzip
    import json

    blob = gzip.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), mtime=0)
    return {AWSLOGS: {"data": base64.b64encode(blob).decode("ascii")}}
