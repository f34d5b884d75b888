"""The HMA subscription path on the local endpoint: log records put in a cluster's log group reach intake.

Nothing local can invoke a function from a CloudWatch Logs subscription, so `HmaTap.receive` reads the
subscribed log groups (template.yaml's ``HmaLogs*`` subscriptions, `rules.log_subscriptions`), keeps
the records new since the last read that the subscription's filter pattern selects, and returns them
as CloudWatch Logs would deliver them: one delivery per log stream, gzip+base64 (`hma_logs.delivery`).
A record put with ``aws logs put-log-events`` reaches intake as HyperPod's agent's would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from hyperpod_local.stack.hma_logs import delivery, payload
from hyperpod_local.stack.rules import LogSubscription


class HmaTap:
    def __init__(self, logs: Any, subscriptions: Sequence[LogSubscription]) -> None:
        self._logs = logs
        self.subscriptions = tuple(subscriptions)
        self._seen: set[str] = set()  # event ids already delivered

    def receive(self) -> list[dict[str, Any]]:
        """The deliveries waiting: (subscription order, then log stream order)."""
        out: list[dict[str, Any]] = []
        for subscription in self.subscriptions:
            streams: dict[str, list[tuple[datetime, str]]] = {}
            for record in self._new_records(subscription.log_group):
                if subscription.matches(subscription.log_group, record["message"]):
                    at = datetime.fromtimestamp(record["timestamp"] / 1000, UTC)
                    streams.setdefault(record["logStreamName"], []).append((at, record["message"]))
            out.extend(delivery(payload(subscription.log_group, s, r)) for s, r in streams.items())
        return out

    def _new_records(self, log_group: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for page in self._logs.get_paginator("filter_log_events").paginate(logGroupName=log_group):
            for event in page.get("events", []):
                if event["eventId"] not in self._seen:
                    self._seen.add(event["eventId"])
                    records.append(event)
        return records
