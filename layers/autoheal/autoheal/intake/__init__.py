"""Intake: EventBridge events -> `NodeFault`s.

`models` (Powertools parser models), `rules/` (one per trigger kind), `normalise` (pure dispatch,
never raises on bad input) and `service.handle_event` (logging, metrics, the queue). The package
surface below is the pure part; import `autoheal.intake.service` for the rest.
"""

from autoheal.intake.normalise import ROUTES, normalise
from autoheal.intake.result import MALFORMED_ENVELOPE, Ignored, IgnoreReason, Intake, Rejected, malformed

__all__ = [
    "MALFORMED_ENVELOPE",
    "ROUTES",
    "IgnoreReason",
    "Ignored",
    "Intake",
    "Rejected",
    "malformed",
    "normalise",
]
