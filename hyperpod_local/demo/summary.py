"""The demo's summary: one JSON-able document built from a :class:`~hyperpod_local.demo.record.RunRecord`.

``--json`` prints it as is; the text output renders the same document (:mod:`hyperpod_local.demo.render`).
Ids (instance ids, NodeLogicalIds) appear only under ``nodes`` and ``evidence``; everything else is counts, sizes and
reasons, identical from run to run for the same scenario.

Schema (``"schema": "hyperpod-autoheal.demo/1"``)::

    scenario, description, seed, simulated_seconds
    timings            {reboot_seconds, shutdown_seconds, replace_seconds}   control plane NodeTimings
    guards             {relaxed, settings: [{setting, demo, deployed}]}   guard settings the demo ran with
                        where they differ from the template's defaults (a deployed stack's values)
    switches           {changed, settings: [{setting, demo, deployed}]}   feature switches (true/false),
                        the demo's and the template's default (retire and restore)
    clusters           [{name, orchestrator, groups: [{name, instance_type, count, node_type}]}]
    events             {delivered (intake invocations: events and log deliveries), faults_received,
                        faults_enqueued, ignored: {reason: n}, rejected: {reason: n}}
    remediate          {invocations, invocations_died, messages, faults_dequeued, duplicates_collapsed, retries_scheduled,
                        escalations, needs_human, notifications, claim_conflicts, nodes_closed, faults_held,
                        batch_item_failures}
    reconcile          {rounds, faults_enqueued, verdicts: {verdict: n}}   every round's rows applied or waiting
    decisions          [{decision, reason, action, outcome, error_code, nodes}]    one row per kind, most first
    calls              [{at_seconds, operation, cluster, size, failed: {code: n}, error_code}]  control plane log
                       (an instant's calls largest first: their arrival order varies)
    calls_by_operation {operation: {calls, nodes, sizes: [..]}}
    failed_entries     {code: n}                                  per-entry failures the control plane answered
    evidence           [{at_seconds, action, cluster, logical_id, reason, partial, files: {name: bytes}}]
                        the bundles written before each replace and retire (issue 18); their s3:// URIs
                        (this run's bucket, wall-clock time) are in the progress output only
    nodes              [{label, cluster, group, logical_id, instance_ids: [..], status, history: [
                         {at_seconds, invocation, decision, reason, action, outcome, error_code}],
                         reconcile: [{at_seconds, round, verdict}]}]   status null: no longer in the
                        cluster (retired); label "added by a restore": a node the run added
    metrics            [{metric, dimensions, value}]     MetricCounts of every intake, remediate and
                        reconcile invocation
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from autoheal.observability import Metric, MetricCounts
from autoheal.remediate.service import NodeRow
from hyperpod_local.demo.record import NodeKey, RunRecord
from hyperpod_local.plane.model import NodeTimings

SCHEMA = "hyperpod-autoheal.demo/1"
MAX_NODES_LISTED = 25
#: feature switches (off as deployed) the summary reports: the retire rung
SWITCHES = ("AUTOHEAL_RETIRE_AND_RESTORE",)


def switches_summary(applied: Mapping[str, str], deployed: Mapping[str, str]) -> dict[str, Any]:
    """Each switch's value in the demo (``applied``, else as deployed) and in the template (``deployed``)."""
    settings = [
        {
            "setting": key,
            "demo": applied.get(key, deployed.get(key, "false")) == "true",
            "deployed": deployed.get(key, "false") == "true",
        }
        for key in SWITCHES
    ]
    return {"changed": any(s["demo"] != s["deployed"] for s in settings), "settings": settings}


def guards_summary(applied: Mapping[str, str], deployed: Mapping[str, str]) -> dict[str, Any]:
    """The guard settings the demo ran with (``applied``) that differ from the template's defaults
    (``deployed``), in ``applied``'s order; numbers as numbers."""
    settings = [
        {"setting": key, "demo": _number(value), "deployed": _number(deployed.get(key))}
        for key, value in applied.items()
        if deployed.get(key) != value
    ]
    return {"relaxed": bool(settings), "settings": settings}


def _number(value: str | None) -> int | float | str | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


#: what the summary says of each approval the demo's operator decided
_APPROVAL_FIELDS = (
    "id",
    "cluster",
    "node",
    "action",
    "reason",
    "status",
    "decided_by",
    "decision_reason",
    "at_seconds",
)


def build_summary(
    record: RunRecord,
    *,
    name: str,
    seed: int,
    timings: NodeTimings,
    guards: Mapping[str, Any],
    switches: Mapping[str, Any],
) -> dict[str, Any]:
    metrics = MetricCounts().merge(
        [r.counts for r in record.intake] + [i.report.metrics for i in record.invocations]
    )
    emitted = MetricCounts().merge([metrics, *(r.report.metrics for r in record.reconciles)])
    calls = _calls(record)
    return {
        "schema": SCHEMA,
        "scenario": name,
        "description": record.scenario.description,
        "seed": seed,
        "simulated_seconds": record.simulated_seconds,
        "timings": {
            "reboot_seconds": timings.reboot_seconds,
            "shutdown_seconds": timings.shutdown_seconds,
            "replace_seconds": timings.replace_seconds,
        },
        "guards": dict(guards),
        "switches": dict(switches),
        "clusters": [
            {
                "name": c.name,
                "orchestrator": c.orchestrator,
                "groups": [
                    {
                        "name": g.name,
                        "instance_type": g.instance_type,
                        "count": g.count,
                        "node_type": g.node_type,
                    }
                    for g in c.groups
                ],
            }
            for c in record.scenario.clusters
        ],
        "events": _events(record),
        "remediate": _remediate(record, metrics),
        "reconcile": _reconcile(record),
        "approvals": [{k: a[k] for k in _APPROVAL_FIELDS} for a in record.approvals],
        "decisions": _decisions(row for i in record.invocations for row in i.report.nodes),
        "calls": calls,
        "calls_by_operation": _by_operation(calls),
        "failed_entries": dict(
            sorted(Counter(code for call in record.calls for code in call.failed_codes).items())
        ),
        "evidence": _evidence(record),
        "nodes": _nodes(record),
        "metrics": emitted.as_rows(),
    }


def _evidence(record: RunRecord) -> list[dict[str, Any]]:
    """One row per bundle written before a replace or retire (docs/evidence.md)."""
    return [
        {
            "at_seconds": (datetime.fromisoformat(b["manifest"]["time"]) - record.started).total_seconds(),
            "action": b["manifest"]["action"],
            "cluster": b["manifest"]["cluster"],
            "logical_id": b["manifest"]["node_key"],
            "reason": b["manifest"]["reason"],
            "partial": b["manifest"]["partial"],
            "files": {f["name"]: f["bytes"] for f in b["manifest"]["files"]},
        }
        for b in record.evidence
    ]


def _events(record: RunRecord) -> dict[str, Any]:
    ignored: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for report in record.intake:
        ignored.update(report.ignored)
        rejected.update(report.rejected)
    return {
        "delivered": len(record.intake),
        "faults_received": sum(r.received for r in record.intake),
        "faults_enqueued": sum(r.enqueued for r in record.intake),
        "ignored": dict(sorted(ignored.items())),
        "rejected": dict(sorted(rejected.items())),
    }


def _remediate(record: RunRecord, metrics: MetricCounts) -> dict[str, Any]:
    return {
        "invocations": len(record.invocations),
        "invocations_died": sum(1 for i in record.invocations if i.died),
        "messages": sum(i.messages for i in record.invocations),
        "faults_dequeued": metrics.total(Metric.FAULTS_DEQUEUED),
        "duplicates_collapsed": metrics.total(Metric.DUPLICATE_FAULTS),
        "retries_scheduled": metrics.total(Metric.RETRIES_SCHEDULED),
        "escalations": metrics.total(Metric.ESCALATIONS),
        "needs_human": metrics.total(Metric.NEEDS_HUMAN),
        "notifications": len(record.notifications),
        "claim_conflicts": metrics.total(Metric.CLAIM_CONFLICTS),
        "nodes_closed": metrics.total(Metric.NODES_CLOSED),
        "faults_held": metrics.total(Metric.FAULTS_HELD),
        "batch_item_failures": sum(len(i.report.batch_item_failures) for i in record.invocations),
    }


def _reconcile(record: RunRecord) -> dict[str, Any]:
    verdicts: Counter[str] = Counter()
    for r in record.reconciles:
        verdicts.update(r.report.summary()["verdicts"])
    return {
        "rounds": len(record.reconciles),
        "faults_enqueued": sum(r.report.enqueued for r in record.reconciles),
        "verdicts": dict(sorted(verdicts.items())),
    }


def _decisions(rows: Iterable[NodeRow]) -> list[dict[str, Any]]:
    counts = Counter((r.decision, r.reason, r.action, r.outcome, r.error_code) for r in rows)
    ordered = sorted(counts.items(), key=lambda item: (-item[1], [str(part) for part in item[0]]))
    return [
        {"decision": d, "reason": reason, "action": a, "outcome": o, "error_code": e, "nodes": n}
        for (d, reason, a, o, e), n in ordered
    ]


def _calls(record: RunRecord) -> list[dict[str, Any]]:
    """The control plane's log, each simulated instant's calls largest first, then by cluster (else in
    the order received): remediate sends one batch's calls side by side (`remediate/lanes.py`), so
    the order they arrive in varies from run to run; a delete and the add that restores it keep theirs."""
    names = {fixture.arn: name for name, fixture in record.clusters.items()}
    ordered = sorted(record.calls, key=lambda c: (c.at, -c.size, names.get(c.cluster, c.cluster)))
    return [
        {
            "at_seconds": (call.at - record.started).total_seconds(),
            "operation": call.action,
            "cluster": names.get(call.cluster, call.cluster),
            "size": call.size,
            "failed": dict(sorted(Counter(call.failed_codes).items())),
            "error_code": call.error_code,
        }
        for call in ordered
    ]


def _by_operation(calls: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for call in calls:
        entry = out.setdefault(call["operation"], {"calls": 0, "nodes": 0, "sizes": []})
        entry["calls"] += 1
        entry["nodes"] += call["size"]
        entry["sizes"].append(call["size"])
    return dict(sorted(out.items()))


def _nodes(record: RunRecord) -> list[dict[str, Any]]:
    """The labelled nodes, then any other node whose story is more than one accepted first action."""
    history: dict[NodeKey, list[dict[str, Any]]] = {}
    seen_ids: dict[NodeKey, list[str]] = {}
    aliases = _aliases(record)
    for invocation in record.invocations:
        for row in invocation.report.nodes:
            key = aliases.get((row.cluster, row.node_key), (row.cluster, row.node_key))
            history.setdefault(key, []).append(
                {
                    "at_seconds": invocation.at_seconds,
                    "invocation": invocation.number,
                    "decision": row.decision,
                    "reason": row.reason,
                    "action": row.action,
                    "outcome": row.outcome,
                    "error_code": row.error_code,
                }
            )
            if row.instance_id:
                seen_ids.setdefault(key, []).append(row.instance_id)
    keys = list(record.labels)
    keys += [key for key, steps in history.items() if key not in record.labels and _notable(steps)]
    views = {(v.cluster_name, v.logical_id): v for v in record.final_nodes}
    groups = {(name, n.logical_id): n.group for name, f in record.clusters.items() for n in f.nodes}
    reconciled = _reconciled(record)
    out: list[dict[str, Any]] = []
    for key in keys[:MAX_NODES_LISTED]:
        view = views.get(key)
        ids = [*seen_ids.get(key, []), *([view.instance_id] if view and view.instance_id else [])]
        out.append(
            {
                "label": record.labels.get(key),
                "cluster": key[0],
                "group": view.instance_group_name if view else groups.get(key),
                "logical_id": key[1],
                "instance_ids": list(dict.fromkeys(ids)),
                "status": view.status if view else None,
                "history": history.get(key, []),
                "reconcile": reconciled.get(key, []),
            }
        )
    return out


def _aliases(record: RunRecord) -> dict[NodeKey, NodeKey]:
    """A row keyed by an instance id (a node no longer listed) -> its node's NodeLogicalId key."""
    return {
        (row.cluster, row.instance_id): (row.cluster, row.node_key)
        for i in record.invocations
        for row in i.report.nodes
        if row.instance_id and row.node_key != row.instance_id
    }


def _reconciled(record: RunRecord) -> dict[NodeKey, list[dict[str, Any]]]:
    """Each node's reconcile verdicts (rows applied, or waiting), round by round."""
    out: dict[NodeKey, list[dict[str, Any]]] = {}
    for r in record.reconciles:
        for row in r.report.rows:
            if row.applied or row.verdict == "wait":
                out.setdefault((row.cluster, row.node_key), []).append(
                    {"at_seconds": r.at_seconds, "round": r.number, "verdict": row.verdict}
                )
    return out


def _notable(steps: list[dict[str, Any]]) -> bool:
    only = steps[0] if len(steps) == 1 else None
    return not (only and only["reason"] == "first_fault" and only["outcome"] == "accepted")
