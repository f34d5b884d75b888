"""Intake: EventBridge events and CloudWatch Logs deliveries of HMA log records -> `NodeFault`s.

The pure part: `models` (parser models of the EventBridge events), `logs` (decoding a
CloudWatch Logs delivery), `hma_records` (reading one HMA log record), `rules/` (one per trigger kind,
each given only the settings it reads), `result` (what a rule and `normalise` return) and `normalise`
(dispatch, never raises on bad input). Then `service.ingest` (logging, metrics, the queue) and
`wiring` (its dependencies from settings: the handler's one call). The package surface below is the
pure part.
"""

from autoheal.intake.normalise import ROUTES, normalise
from autoheal.intake.result import MALFORMED_ENVELOPE, Ignored, IgnoreReason, Intake, Rejected, malformed
from autoheal.intake.rules.config import RuleConfig

__all__ = [
    "MALFORMED_ENVELOPE",
    "ROUTES",
    "IgnoreReason",
    "Ignored",
    "Intake",
    "Rejected",
    "RuleConfig",
    "malformed",
    "normalise",
]
