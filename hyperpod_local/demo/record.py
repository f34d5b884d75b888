"""What a demo run leaves behind: its remediate invocations and the :class:`RunRecord` the summary reads.

Plain data shared by :mod:`~hyperpod_local.demo.script` (which fills it), :mod:`~.render` and
:mod:`~.summary` (which read it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autoheal.intake.service import IntakeReport
from autoheal.reconcile.service import ReconcileReport
from autoheal.remediate.service import RemediationReport
from hyperpod_local.demo.scenario_file import Scenario
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.plane.model import BatchCall, NodeView

NodeKey = tuple[str, str]  # (cluster name, NodeLogicalId)


@dataclass(frozen=True)
class Invocation:
    """One remediate invocation: when, in which phase, over how many messages, and its report."""

    number: int
    at_seconds: float
    phase: str
    messages: int
    report: RemediationReport  # empty when it died
    died: str | None = None  # "after_the_call" / "before_the_call": its report was never written


@dataclass(frozen=True)
class ReconcileRound:
    """One reconcile round: when, in which phase, and its report."""

    number: int
    at_seconds: float
    phase: str
    report: ReconcileReport


@dataclass
class RunRecord:
    """Everything the summary needs, captured when the run ends."""

    scenario: Scenario
    started: datetime
    finished: datetime
    clusters: dict[str, ClusterFixture]
    labels: dict[NodeKey, str]
    intake: list[IntakeReport]
    invocations: list[Invocation]
    calls: list[BatchCall]
    final_nodes: list[NodeView]
    notifications: list[dict[str, Any]] = field(default_factory=list)
    reconciles: list[ReconcileRound] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)  # decided by the demo's operator
    evidence: list[dict[str, Any]] = field(default_factory=list)  # each bundle's URI and manifest

    @property
    def simulated_seconds(self) -> float:
        return (self.finished - self.started).total_seconds()
