"""README sections for latency and memory (bench/run.py renders the rest)."""

from __future__ import annotations

from typing import Any

from bench.ratios import ratio

#: Lambda passes an SQS batch to the function in one invocation, up to the synchronous-invocation
#: payload limit of 6 MB; a standard queue's BatchSize is at most 10,000 records
#: (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html).
PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024
MAX_SQS_BATCH = 10_000
#: An SQS record's fields besides its body (messageId, receiptHandle, attributes, md5OfBody,
#: eventSource, eventSourceARN, awsRegion): ~600 bytes in the Lambda guide's sample event
#: (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html), rounded up.
SQS_RECORD_ENVELOPE_BYTES = 700
LAMBDA_MEMORY_MIB = 512
GOAL_P99 = 1.5  # storm p99 ÷ single-fault p99
GOAL_FIRST_CALL = 2.0  # storm time to first call ÷ single-fault


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ok(value: float, goal: float) -> str:
    return "ok" if value <= goal + 1e-9 else "OVER"


def latency_section(storms: list[dict[str, Any]], backend: str) -> list[str]:
    big = max(storms, key=lambda s: s["faults"])
    one = min(storms, key=lambda s: s["faults"])
    lat, ref = big["latency_seconds"], one["latency_seconds"]
    p99 = ratio(lat["p99"], ref["p99"])
    first = ratio(big["first_call_seconds"], one["first_call_seconds"])
    return [
        "",
        f"## Latency, fault event → SageMaker call ({big['faults']}-node storm; backend: {backend})",
        "",
        "Per node: its intake handler call (start to return) plus the time from the start of the remediate "
        "function (`handle_batch`, settling the batch excluded: the event source mapping does that) to the "
        "control plane's receipt (`BatchCall.monotonic`) of the call naming it. The batching window is "
        "excluded. Both runs warm (one untimed fault through intake and remediate first, in each world); "
        "the cold first intake call is shown apart.",
        "",
        "| | storm (s) | N=1 (s) | storm ÷ N=1 | goal |",
        "|---|---:|---:|---:|---|",
        f"| p50 | {_f(lat['p50'], 3)} | {_f(ref['p50'], 3)} | {_f(ratio(lat['p50'], ref['p50']))} | |",
        f"| p99 | {_f(lat['p99'], 3)} | {_f(ref['p99'], 3)} | {_f(p99)} | ≤ {GOAL_P99} {_ok(p99, GOAL_P99)} |",
        f"| time to first call | {_f(big['first_call_seconds'], 3)} | {_f(one['first_call_seconds'], 3)} "
        f"| {_f(first)} | ≤ {GOAL_FIRST_CALL} {_ok(first, GOAL_FIRST_CALL)} |",
        f"| remediate function wall time | {_f(big['remediate_wall_seconds'], 3)} "
        f"| {_f(one['remediate_wall_seconds'], 3)} | {_f(ratio(big['remediate_wall_seconds'], one['remediate_wall_seconds']))} | |",
        f"| cold first intake call (apart) | | {_f(one['cold_intake_seconds'], 3)} | | |",
        *_cpu_row(big, one),
        *_bound(big),
    ]


def _cpu_row(big: dict[str, Any], one: dict[str, Any]) -> list[str]:
    if "remediate_cpu_seconds" not in big:
        return []
    cpu, ref = big["remediate_cpu_seconds"], one["remediate_cpu_seconds"]
    return [
        f"| this process's CPU during remediate | {_f(cpu, 3)} | {_f(ref, 3)} | {_f(ratio(cpu, ref))} | |"
    ]


def _bound(big: dict[str, Any]) -> list[str]:
    """Why the storm's p99 cannot come near one fault's on this backend: the CPU its requests cost."""
    if "remediate_cpu_seconds" not in big:
        return []
    d = big["dynamodb"]
    requests = sum(d["requests"].values()) + big["calls"]
    per_request = ratio(big["remediate_cpu_seconds"], requests) * 1000
    claims = sum(d.get("by_purpose", {}).get("claims", {}).values())
    return [
        "",
        f"The storm's last call cannot leave before its nodes are claimed: {claims} conditional writes, one "
        f"per node (the ledger's rule: a node is claimed before any mutating call). Here the remediate run "
        f"made {requests} DynamoDB and SageMaker requests for {_f(big['remediate_cpu_seconds'], 2)} s of "
        f"this process's CPU, about {_f(per_request, 1)} ms a request -- botocore on the client side and, "
        "unless the section names DynamoDB Local, the local server in the same interpreter (one GIL, 2 "
        "cores) -- so the claims alone cost about "
        f"{_f(claims * per_request / 1000, 2)} s however they are ordered, against one fault's whole "
        "path of a few requests. The p99 ratio measures that CPU, not waiting; the time to the first call "
        "is what pipelining changes (the first call leaves after one call's claims).",
    ]


def claims_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        f"## Claiming a storm's nodes: three ways side by side ({rows[0]['nodes'] if rows else 0} nodes, calls of 25)",
        "",
        "`bench/claims.py`: each node's claim is a conditional put of its state item. sequential = one "
        "PutItem after another (before issue 20); transaction = one TransactWriteItems per call; pool = the "
        "call's PutItems side by side, 25 threads (what remediate does now: `remediate/pipeline.py`). Write "
        "units: 1 per KB for a standard write, 2 for a transactional one (DynamoDB pricing). The backend "
        "is named per row; moto's TransactWriteItems copies the whole table per item (and restores the copy "
        "on a cancel, losing concurrent writers' claims), so judge transactions by DynamoDB Local.",
        "",
        "| backend | way | first call's claims (s) | all claims (s) | requests/node | write units/node |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['way']} | {_f(r['first_call_seconds'], 3)} | {_f(r['all_seconds'], 3)} "
            f"| {_f(r['requests_per_node'], 2)} | {_f(r['write_units_per_node'], 1)} |"
        )
    lines += [
        "",
        "Kept: **pool**. Its first call leaves after one round of writes, like a transaction's, at half the "
        "write units per node, and it is correct on every backend the tests run on; a transaction is "
        "fewer requests and, on DynamoDB Local, the fastest to claim all nodes, but costs twice the write "
        "units and on moto is O(items x table) and unsafe with concurrent invocations.",
    ]
    return lines


def memory_section(mem: dict[str, Any]) -> list[str]:
    growth_kib = mem["rss_peak_kib"] - mem["rss_before_kib"]
    per_fault = growth_kib / mem["faults"]
    fits_512 = int((LAMBDA_MEMORY_MIB * 1024 - mem["rss_before_kib"]) / per_fault) if per_fault > 0 else 0
    record = mem.get("body_bytes_mean", 0.0) + SQS_RECORD_ENVELOPE_BYTES
    fits_payload = min(MAX_SQS_BATCH, int(PAYLOAD_LIMIT_BYTES / record)) if record else MAX_SQS_BATCH
    return [
        "",
        f"## Memory ({mem['faults']}-node storm, in-memory fakes, fresh process)",
        "",
        "Peak RSS = the kernel's high-water mark (`VmHWM` in /proc/self/status; `ru_maxrss` is not used "
        "because Linux carries it over from the forking parent), read just before and just after one "
        "remediate run (imports, the queue records and one warm-up run already in the 'before' figure).",
        "",
        "| before (MiB) | peak (MiB) | peak ÷ before | growth (MiB) | per fault (KiB) |",
        "|---:|---:|---:|---:|---:|",
        f"| {mem['rss_before_kib'] / 1024:.1f} | {mem['rss_peak_kib'] / 1024:.1f} "
        f"| {_f(ratio(mem['rss_peak_kib'], mem['rss_before_kib']))} | {growth_kib / 1024:.1f} | {per_fault:.1f} |",
        "",
        f"Growth is linear in the batch: a {LAMBDA_MEMORY_MIB} MB function would run out at about "
        f"**{fits_512:,} faults** in one batch. The batch cannot get that big: Lambda hands an SQS batch to "
        f"the function in one payload of at most 6 MB, which at {record:.0f} bytes per record "
        f"(mean body {mem.get('body_bytes_mean', 0.0):.0f} B + ~{SQS_RECORD_ENVELOPE_BYTES} B of record "
        f"fields) is at most **{fits_payload:,} records** (BatchSize is at most {MAX_SQS_BATCH:,}).",
        "",
        "Run it: `make bench` (a few minutes on 2 cores; not part of `make test`).",
        "",
    ]
