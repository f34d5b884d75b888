"""Reconcile: on a schedule (and on HyperPod Cluster Events), verify every open remediation.

Thin by design: settings, Powertools decorators in the project's fixed order, one logic call.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from autoheal.observability import logger, metrics, tracer
from autoheal.reconcile.wiring import handle_event
from autoheal.settings import load_settings


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = load_settings().require("table_name", "queue_url")
    return handle_event(event, settings).summary()
