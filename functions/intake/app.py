"""Intake: one EventBridge event (HyperPod, AWS Health, CloudWatch alarm) or one CloudWatch Logs
delivery of HMA log records (the HMA intake function runs this same handler) -> NodeFaults on SQS.

Thin by design: settings, the Powertools decorators in the project's fixed order, one logic call
(`autoheal.intake.wiring`, which builds the queue adapter; the SQS client comes from `autoheal.clients`,
built on first use, never at import, then reused). Malformed or irrelevant events return normally
(logged, counted); a queue failure raises so the invocation fails and the event is retried (then
lands in the intake DLQ).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from autoheal.intake.wiring import handle_event
from autoheal.observability import logger, metrics, tracer
from autoheal.settings import load_settings


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings().require("queue_url")
    return handle_event(event, settings).summary()
