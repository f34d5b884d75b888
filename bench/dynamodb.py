"""The DynamoDB section of bench/README.md: a remediate invocation's requests, split by what they were
for (`bench.purposes`), against the issue's goals, with what the trust, ladder and operator issues
added to them."""

from __future__ import annotations

from typing import Any

from bench.ratios import ratio, verdict

#: Read requests a batch of one fault may make: its node state and the control records, plus one pause
#: re-check per mutating call. Write requests per node, at most.
READS_AT_N1 = 2
WRITES_PER_NODE = 1.1


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _count(d: dict[str, Any], purpose: str) -> int:
    return sum(d.get("by_purpose", {}).get(purpose, {}).values())


def section(storms: list[dict[str, Any]], production: list[dict[str, Any]]) -> list[str]:
    rows = [("relaxed", s) for s in storms] + [("template defaults", s) for s in production]
    lines = [
        "",
        "## DynamoDB requests per remediated node (botocore `before-call.dynamodb` hooks; backend: moto server)",
        "",
        "Requests the remediate invocation made through `autoheal.clients`, each tagged with what it was "
        "for by the ledger method that made it (`bench/purposes.py`). Goals: at N = 1, at most "
        f"{READS_AT_N1} read requests (the node state and the control records) plus one pause re-check per "
        f"mutating call; at most {WRITES_PER_NODE} write requests per node. Per node: its claim (a "
        "conditional PutItem) and its share of the outcome BatchWriteItems (state and attempt items, 25 a "
        "request); per mutating call: one BatchWriteItem marking its nodes `sending` and one BatchGetItem "
        "re-reading the pause. Relaxed guards as in the storms above; the template-defaults row runs the "
        "deployed stack's guards (breakers, cool-downs, fleet breaker, canary waves) on groups of 31 nodes.",
        "",
        "| N | guards | calls | reads | allowed at N = 1 (2 + calls) | node states | switches | pause re-checks | other reads | writes | claims/node | sending marks/node | outcomes/node | other writes | writes/node | without the sending marks | write items/node |",
        "|---:|---|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for guards, s in rows:
        lines.append(_row(guards, s))
    lines += ["", *_added(storms, production)]
    return lines


def _row(guards: str, s: dict[str, Any]) -> str:
    d, nodes, calls = s["dynamodb"], s["nodes_remediated"], s["calls"]
    allowed = READS_AT_N1 + calls
    reads = d["reads"]
    at_n1 = f"{allowed} {verdict(reads, allowed)}" if s["faults"] == 1 else "-"
    other_reads = _others(d, reads=True)
    other_writes = _others(d, reads=False)
    sending = _count(d, "sending marks")
    per_node = ratio(d["writes"], nodes)
    without = ratio(d["writes"] - sending, nodes)
    return (
        f"| {s['faults']} | {guards} | {calls} | {reads} | {at_n1} | {_count(d, 'node states')} "
        f"| {_count(d, 'switches')} | {_count(d, 'pause re-checks')} | {_fmt(other_reads)} | {d['writes']} "
        f"| {_f(ratio(_count(d, 'claims'), nodes))} | {_f(ratio(sending, nodes))} "
        f"| {_f(ratio(_count(d, 'outcomes'), nodes))} | {_fmt(other_writes)} "
        f"| {_f(per_node)} {verdict(per_node, WRITES_PER_NODE)} | {_f(without)} {verdict(without, WRITES_PER_NODE)} "
        f"| {_f(ratio(d['write_items'], nodes))} |"
    )


_READ_OPS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
_COLUMNS = frozenset({"node states", "switches", "pause re-checks", "claims", "sending marks", "outcomes"})


def _others(d: dict[str, Any], *, reads: bool) -> dict[str, int]:
    """Requests outside the table's own columns, as "purpose: operation" -> count."""
    return {
        f"{purpose}: {op}": n
        for purpose, ops in d.get("by_purpose", {}).items()
        if purpose not in _COLUMNS
        for op, n in ops.items()
        if (op in _READ_OPS) is reads
    }


def _fmt(ops: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(ops.items())) or "-"


def _added(storms: list[dict[str, Any]], production: list[dict[str, Any]]) -> list[str]:
    big = max(storms, key=lambda s: s["faults"])
    d = big["dynamodb"]
    nodes = big["nodes_remediated"]
    core = ratio(_count(d, "claims") + _count(d, "outcomes"), nodes)
    return [
        "What the issues before this one added to these counts:",
        "",
        f"- **Trust** (crash safety, pause): the `sending` mark, one BatchWriteItem per mutating call "
        f"({_f(ratio(_count(d, 'sending marks'), nodes))} per node at N = {big['faults']}), and the pause "
        "re-check, one BatchGetItem per call. Without the mark a storm writes "
        f"{_f(core)} requests per node (claims and outcomes). It is kept: a process that dies after it is "
        "known to have sent the call (never sent again), one that dies before it is known not to have "
        "(the claim is released, the fault re-driven); writing the claim itself as `sending` would save "
        "the request but widen that window from nothing to the claims' round trips (a reboot never sent "
        "would be recorded as sent).",
        "- **Ladder** (adaptive first rung, retire + restore): nothing in a reboot storm; the adaptive "
        "ladder's counters are read only when it is on (`AdaptiveLadder`), and a retire writes its add "
        "call's token into its members' records before the call (bench: retire section).",
        "- **Operator** (issue 18), on at the template's defaults (the last rows): canary waves, one "
        "BatchGetItem of the batch's episodes; the fleet breaker, one Scan of the open-node index (which "
        "also answers the cluster breaker's count) and its records from the switches' one control Query; "
        "approvals, one BatchGetItem when `ApprovalRequiredFor` names an action (off by default). Writes: "
        "the fleet size, re-counted once per `FleetSizeTtlMinutes`, and the cool-down of the group acted "
        "on.",
    ]
