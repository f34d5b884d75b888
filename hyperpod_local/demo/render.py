"""Plain-text output for a person: progress lines while the demo runs, then the summary as tables.

No terminal control codes: the output reads the same in a terminal, a pipe or a CI log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from autoheal.intake.service import IntakeReport
from autoheal.observability import Metric
from hyperpod_local.demo.record import Invocation, ReconcileRound
from hyperpod_local.demo.scenario_file import ClusterSpecModel

OPERATION_SHORT = {
    "BatchRebootClusterNodes": "reboot",
    "BatchReplaceClusterNodes": "replace",
    "BatchDeleteClusterNodes": "delete",
    "BatchAddClusterNodes": "add",
}


# ------------------------------------------------------------------------------------------- progress


def duration(seconds: float) -> str:
    """1020 -> '17m', 90 -> '1m30s', 45.5 -> '45.5s'."""
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    return text + (f"{rest}s" if rest else "")


def progress_line(at_seconds: float, text: str) -> str:
    return f"  [t+{duration(at_seconds):>6}] {text}"


def phase_line(phase: str) -> str:
    return f"-- {phase}"


def cluster_line(spec: ClusterSpecModel) -> str:
    groups = ", ".join(
        f"{g.name} {g.count}x {g.instance_type}" + (f" ({g.node_type})" if g.node_type else "")
        for g in spec.groups
    )
    return f"created cluster {spec.name} ({spec.orchestrator}): {groups}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items()))


def delivery_line(
    events: int, reports: Sequence[IntakeReport], label: str | None, *, logs: int = 0, records: int = 0
) -> str:
    """``events`` EventBridge events and ``logs`` CloudWatch Logs deliveries (``records`` HMA records)."""
    received = sum(r.received for r in reports)
    enqueued = sum(r.enqueued for r in reports)
    ignored: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for report in reports:
        ignored.update(report.ignored)
        rejected.update(report.rejected)
    sent = []
    if logs:
        sent.append(f"{logs} HMA log deliver{'y' if logs == 1 else 'ies'} ({_plural(records, 'record')})")
    if events or not logs:
        sent.append(_plural(events, "event"))
    text = f"intake: {' + '.join(sent)} -> {_plural(received, 'fault')}, {enqueued} enqueued"
    if ignored:
        text += f"; ignored: {_counts(ignored)}"
    if rejected:
        text += f"; rejected (dropped): {_counts(rejected)}"
    return text + (f"  [{label}]" if label else "")


#: row outcomes that are no failure: an entry accepted, a restore's add answered with its nodes
DONE = ("accepted", "added")


def invocation_line(invocation: Invocation, cluster_names: Mapping[str, str]) -> str:
    report = invocation.report
    sizes: dict[tuple[str, str], list[int]] = {}
    for call in report.calls:
        key = (
            OPERATION_SHORT.get(call.operation, call.operation),
            cluster_names.get(call.cluster, call.cluster),
        )
        sizes.setdefault(key, []).append(call.size)
    calls = sum(len(s) for s in sizes.values())
    text = f"remediate #{invocation.number}: {_plural(invocation.messages, 'message')} -> {_plural(calls, 'call')}"
    if sizes:
        text += (
            " ("
            + ", ".join(f"{op} {cluster} {'+'.join(map(str, s))}" for (op, cluster), s in sizes.items())
            + ")"
        )
    failed = Counter(row.error_code for row in report.nodes if row.outcome not in (None, *DONE))
    metrics = report.metrics
    duplicates = metrics.total(Metric.DUPLICATE_FAULTS)
    # one row per node decided (or fault not located): other faults of a node joined its decision
    merged = max(0, metrics.total(Metric.FAULTS_DEQUEUED) - len(report.nodes) - duplicates)
    extras = [
        f"failed entries: {_counts({str(k): v for k, v in failed.items()})}" if failed else "",
        _metric_phrase(duplicates, "duplicate collapsed", "duplicates collapsed"),
        _metric_phrase(merged, "same-node fault merged", "same-node faults merged"),
        _metric_phrase(metrics.total(Metric.FAULTS_IGNORED), "fault ignored", "faults ignored"),
        _metric_phrase(metrics.total(Metric.RETRIES_SCHEDULED), "retry scheduled", "retries scheduled"),
        _metric_phrase(metrics.total(Metric.ESCALATIONS), "escalation", "escalations"),
        _metric_phrase(metrics.total(Metric.NEEDS_HUMAN), "node needs a human", "nodes need a human"),
        _metric_phrase(metrics.total(Metric.EVENTS_REJECTED), "message rejected", "messages rejected"),
        _metric_phrase(
            sum(1 for row in report.nodes if row.reason == "restore_resumed"),
            "restore resumed under its stored ClientToken",
            "restores resumed under their stored ClientTokens",
        ),
    ]
    if invocation.died:
        extras.append(DIED[invocation.died])
    return "; ".join([text, *(e for e in extras if e)])


#: what a dead remediate invocation's line says, by when it died
DIED = {
    "after_the_call": "DIED after its calls, before writing their outcome (a Lambda timeout, say): "
    "its messages go back to the queue",
    "before_the_call": "DIED after its claims, before any call: its messages go back to the queue",
}


def token_line(at_seconds: float, added: Sequence[str]) -> str:
    """What a re-sent add learned: the first call's nodes, none added again."""
    return (
        f"restore: BatchAddClusterNodes re-sent with the ClientToken of the call at t+{duration(at_seconds)} "
        f"-> HyperPod answers with that call's NodeLogicalId(s); nodes added in all: {len(added)} "
        f"({', '.join(added)}): no second node"
    )


def reconcile_line(done: ReconcileRound) -> str:
    """'reconcile #1: 63 open nodes -> healed 62, restore_resumed 1; 1 fault enqueued'."""
    summary = done.report.summary()
    text = f"reconcile #{done.number}: {_plural(summary['open_nodes'], 'open node')}"
    if summary["verdicts"]:
        text += f" -> {_counts(summary['verdicts'])}"
    return text + (f"; {_plural(done.report.enqueued, 'fault')} enqueued" if done.report.enqueued else "")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _metric_phrase(value: int, one: str, many: str) -> str:
    return "" if not value else f"{value} {one if value == 1 else many}"


def advance_line(seconds: float, statuses: Mapping[str, int]) -> str:
    return f"time +{duration(seconds)} (simulated) -> nodes: {_counts(statuses)}"


# -------------------------------------------------------------------------------------------- summary


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> list[str]:
    """Left-aligned columns; numbers right-aligned; None shown as '-'."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    numeric = [bool(rows) and all(isinstance(r[i], int | float) for r in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return (indent + "  ".join(parts)).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)]


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def render_summary(summary: Mapping[str, Any]) -> str:
    sections = (
        _header_section,
        _intake_section,
        _remediate_section,
        _reconcile_section,
        _decisions_section,
        _calls_section,
        _failed_entries_section,
        _evidence_section,
        _nodes_section,
        _metrics_section,
    )
    out = [line for section in sections for line in section(summary)]
    return "\n".join(out) + "\n"


def guards_line(guards: Mapping[str, Any]) -> str:
    """'guards: relaxed for the demo: node cooldown minutes 0 (deployed: 30), ...' from the summary's
    ``guards``."""
    if not guards["relaxed"]:
        return "guards: the template's defaults (as deployed)"
    settings = ", ".join(
        f"{s['setting'].removeprefix('AUTOHEAL_').lower().replace('_', ' ')} {s['demo']} (deployed: {_cell(s['deployed'])})"
        for s in guards["settings"]
    )
    return f"guards: relaxed for the demo: {settings}"


def switches_line(switches: Mapping[str, Any]) -> str:
    """'switches: retire and restore ON for the demo (deployed: off)' from the summary's ``switches``."""
    parts = []
    for s in switches["settings"]:
        name = s["setting"].removeprefix("AUTOHEAL_").lower().replace("_", " ")
        if s["demo"] == s["deployed"]:
            parts.append(f"{name} {'on' if s['demo'] else 'off'} (as deployed)")
        else:
            parts.append(
                f"{name} {'ON' if s['demo'] else 'OFF'} for the demo (deployed: {'on' if s['deployed'] else 'off'})"
            )
    return f"switches: {', '.join(parts)}"


def _header_section(summary: Mapping[str, Any]) -> list[str]:
    timings = summary["timings"]
    out = [
        "",
        "== hyperpod-autoheal demo: summary ==",
        f"scenario: {summary['scenario']} (seed {summary['seed']})",
        f"simulated time: {duration(summary['simulated_seconds'])} on a frozen clock advanced by the script "
        f"(node timings: reboot {duration(timings['reboot_seconds'])}, replace {duration(timings['replace_seconds'])} "
        f"incl. {duration(timings['shutdown_seconds'])} shutdown)",
        guards_line(summary["guards"]),
        switches_line(summary["switches"]),
    ]
    for cluster in summary["clusters"]:
        groups = ", ".join(f"{g['name']} {g['count']}x {g['instance_type']}" for g in cluster["groups"])
        out.append(f"cluster {cluster['name']} ({cluster['orchestrator']}): {groups}")
    return out


def _intake_section(summary: Mapping[str, Any]) -> list[str]:
    events = summary["events"]
    rows: list[list[object]] = [
        ["deliveries (intake invocations)", events["delivered"]],
        ["faults received", events["faults_received"]],
        ["faults enqueued", events["faults_enqueued"]],
        *([f"ignored: {reason}", n] for reason, n in events["ignored"].items()),
        *([f"rejected (dropped): {reason}", n] for reason, n in events["rejected"].items()),
    ]
    return ["", "Intake", *table(["", "count"], rows)]


def _remediate_section(summary: Mapping[str, Any]) -> list[str]:
    rows = [[key.replace("_", " "), value] for key, value in summary["remediate"].items()]
    return ["", "Remediate", *table(["", "count"], rows)]


def _reconcile_section(summary: Mapping[str, Any]) -> list[str]:
    reconcile = summary["reconcile"]
    if not reconcile["rounds"]:
        return []
    rows: list[list[object]] = [
        ["rounds", reconcile["rounds"]],
        ["faults enqueued", reconcile["faults_enqueued"]],
        *([f"verdict: {verdict}", n] for verdict, n in reconcile["verdicts"].items()),
    ]
    return ["", "Reconcile", *table(["", "count"], rows)]


def _decisions_section(summary: Mapping[str, Any]) -> list[str]:
    rows = [
        [d["nodes"], d["decision"], d["reason"], d["action"], d["outcome"], d["error_code"]]
        for d in summary["decisions"]
    ]
    return [
        "",
        "Decisions (node decisions across all invocations)",
        *table(["nodes", "decision", "reason", "action", "outcome", "error"], rows),
    ]


def _calls_section(summary: Mapping[str, Any]) -> list[str]:
    rows = [
        [
            c["at_seconds"],
            c["operation"],
            c["cluster"],
            c["size"],
            _counts(c["failed"]) or None,
            c["error_code"],
        ]
        for c in summary["calls"]
    ]
    out = [
        "",
        "SageMaker mutating calls (as the local control plane received them)",
        *table(["t+s", "operation", "cluster", "nodes", "failed entries", "call error"], rows),
    ]
    for operation, entry in summary["calls_by_operation"].items():
        sizes = "+".join(str(s) for s in entry["sizes"])
        out.append(
            f"  {operation}: {_plural(entry['calls'], 'call')}, {sizes} = {_plural(entry['nodes'], 'node')}"
        )
    return out


def _failed_entries_section(summary: Mapping[str, Any]) -> list[str]:
    failed = summary["failed_entries"]
    return [
        "",
        "Failed entries by error code",
        *table(["code", "entries"], list(failed.items()) or [["none", 0]]),
    ]


def _evidence_section(summary: Mapping[str, Any]) -> list[str]:
    out = ["", "Evidence bundles written before a replace or retire (docs/evidence.md)"]
    for b in summary["evidence"]:
        files = ", ".join(f"{name} {size} B" for name, size in b["files"].items())
        state = "partial" if b["partial"] else "complete"
        where = f"{b['cluster']}/{b['logical_id']}"
        out += [
            f"  t+{duration(b['at_seconds'])} {b['action']} ({b['reason']}) of {where}",
            f"    {state}: {files}",
        ]
    if not summary["evidence"]:
        out.append("  none")
    return out


def bundle_line(uri: str, manifest: Mapping[str, Any]) -> str:
    """'evidence before the replace of train-p5/<node>: s3://... (4 files, 3,183 B, complete)'."""
    size = sum(f["bytes"] for f in manifest["files"])
    state = "partial: " + "; ".join(manifest["why"]) if manifest["partial"] else "complete"
    where = f"{manifest['cluster']}/{manifest['node_key']}"
    return f"evidence before the {manifest['action']} of {where}: {uri} ({len(manifest['files'])} files, {size:,} B, {state})"


def _nodes_section(summary: Mapping[str, Any]) -> list[str]:
    out = ["", "Nodes worth a look (labelled in the scenario, or more than a single accepted first action)"]
    nodes = summary["nodes"]
    width = max([len(str(n["label"] or "-")) for n in nodes] or [0])
    for node in nodes:
        where = f"{node['cluster']}/{node['group']}"
        ids = " -> ".join(node["instance_ids"])
        label = str(node["label"] or "-")
        now = node["status"] or "not in the cluster"
        out.append(f"  {label:<{width}}  {where}  {ids}  now {now}")
        steps = [
            *(_step(h) for h in node["history"]),
            *(f"reconcile #{r['round']}: {r['verdict']}" for r in node["reconcile"]),
        ]
        out.append(f"  {'':<{width}}    {'; '.join(steps) or 'no remediation'}")
    if not nodes:
        out.append("  none")
    return out


def _metrics_section(summary: Mapping[str, Any]) -> list[str]:
    rows = [[m["metric"], _dims(m["dimensions"]), m["value"]] for m in summary["metrics"]]
    return [
        "",
        "Metrics emitted (EMF, namespace HyperPodAutoheal; intake + remediate + reconcile)",
        *table(["metric", "dimensions", "value"], rows),
    ]


def _step(h: Mapping[str, Any]) -> str:
    """'#4 replace (fault_recurred): accepted', '#2 reboot (retry_scheduled): InstanceIdInUse'."""
    text = f"#{h['invocation']} {h['action'] or h['decision']} ({h['reason']})"
    if h["outcome"] == "accepted":
        return text + ": accepted"
    return text + (f": {h['error_code'] or h['outcome']}" if h["outcome"] else "")


def _dims(dimensions: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in dimensions.items()) or "-"
