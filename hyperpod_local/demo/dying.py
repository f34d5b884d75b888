"""A remediate invocation that dies at a chosen step, with what its report would have said kept for
the demo's tables.

The dead invocation's own report is lost (as a Lambda timeout loses it); the demo rebuilds it from
what the run can see: its calls from the control plane's log, its decisions from the service's own
read-only `plan` over the same messages (made just before, on the same ledger), and -- when it dies
after its calls -- each call entry's outcome as it was about to be written (the attempts handed to
the ledger's `commit`, where it dies). So the Decisions and calls tables show what it did (e.g. the
lemon's retire and its restore's add), and its messages go back to the queue as SQS makes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from autoheal.adapters.ledger import AttemptRecord
from autoheal.core.guards import GuardKind
from autoheal.core.state import NodeState
from autoheal.remediate.service import BatchPlan, CallRow, Deps, NodeRow, RemediationReport, plan
from hyperpod_local.stack.crash import DIES_BEFORE_THE_CALL, Crash
from hyperpod_local.stack.world import LocalWorld

AFTER_THE_CALL = "after_the_call"


def remediate_dies(
    world: LocalWorld, records: list[dict[str, Any]], when: str
) -> tuple[RemediationReport, str | None]:
    """Run one remediate invocation that dies at `when`; its rebuilt report, and `when` (None: it
    never reached that step, and its real report is returned)."""
    before = len(world.control.calls)
    seen: dict[str, Any] = {}

    def hook(deps: Deps) -> Deps:
        seen["plan"] = plan(records, deps)  # reads only: the decisions this invocation is about to make
        if when != AFTER_THE_CALL:
            dying: Deps = DIES_BEFORE_THE_CALL(deps)
            return dying
        deps.states = _DiesAtCommit(deps.states, seen)
        return deps

    try:
        report = world.remediate(records, deps_hook=hook)
    except Crash:
        world.settle(records, [r["messageId"] for r in records])
    else:
        return report, None
    calls = [
        CallRow(c.action, c.cluster, c.size, len(c.failed_codes), c.error_code)
        for c in world.control.calls[before:]
    ]
    return RemediationReport(nodes=_rows(seen["plan"], seen.get("attempts", ())), calls=calls), when


class _DiesAtCommit:
    """The node-state store, dying when the outcome is written (after the calls), having seen it."""

    def __init__(self, real: Any, seen: dict[str, Any]) -> None:
        self._real = real
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def commit(self, states: Sequence[NodeState], attempts: Sequence[AttemptRecord], now: datetime) -> None:
        self._seen["attempts"] = tuple(attempts)
        raise Crash("died after calling SageMaker, before writing the outcome")


def _rows(batch: BatchPlan, attempts: Sequence[AttemptRecord]) -> list[NodeRow]:
    """The plan's rows (resolve's, then one per node decided) with each call entry's outcome."""
    outcomes: Mapping[tuple[str, str], AttemptRecord] = {(a.cluster, a.node_key): a for a in attempts}
    rows = list(batch.report.nodes)
    for p in batch.nodes:
        if p.hold is not None:
            rows.append(p.node.row("held", p.hold.detail))
            continue
        kind, reason = p.decision.kind.value, p.decision.reason.value
        if p.guard is not None:
            kind = "ignore" if p.guard.kind is GuardKind.IGNORE else "needs_human"
            reason = p.guard.reason
        row = p.node.row(kind, reason)
        a = outcomes.get(p.node.ref)
        if a is not None:
            row = NodeRow(
                row.cluster,
                row.node_key,
                row.instance_id,
                kind,
                reason,
                a.action.value,
                a.step,
                a.outcome,
                a.error_code,
            )
        rows.append(row)
    return rows
