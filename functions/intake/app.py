"""Intake: one EventBridge event (HyperPod, AWS Health, CloudWatch alarm) -> NodeFaults on SQS.

Thin by design: settings, the Powertools decorators in the project's fixed order, one logic call.
The SQS client comes from `autoheal.clients` (built on first use, never at import, then reused).
Malformed or irrelevant events return normally (logged, counted); a queue failure raises so the
invocation fails and the event is retried (then lands in the intake DLQ).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from autoheal import clients
from autoheal.adapters.queue import FaultQueue
from autoheal.intake.service import handle_event
from autoheal.observability import flush_counts, logger, metrics, tracer
from autoheal.settings import load_settings


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings().require("queue_url")
    report = handle_event(event, settings, FaultQueue(clients.client("sqs"), settings.queue_url))
    flush_counts(report.counts)
    return report.summary()
