"""Remediate: SQS batch of NodeFaults -> decisions -> <=25-node Batch* calls -> ledger.

Thin by design: settings, Powertools decorators in the project's fixed order, one logic call.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from autoheal.observability import logger, metrics, tracer
from autoheal.remediate.wiring import handle_batch
from autoheal.settings import load_settings


@logger.inject_lambda_context(correlation_id_path="Records[0].messageId")
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings().require("table_name")
    return handle_batch(event, settings).as_lambda_response()
