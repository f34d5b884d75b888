"""`make bench`: every figure measured in this run against its reference, as a ratio.

Writes bench/results.json and bench/README.md (generated: edit this file, not the README).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import claims, coldstart, concurrent, cost, dynamodb, inmemory, local, retire
from bench.inject import AWS_LIKE
from bench.ratios import ratio, verdict
from bench.sections import claims_section, latency_section, memory_section
from hyperpod_local.stack.guards import PRODUCTION_GUARDS

HERE = Path(__file__).resolve().parent
STORMS = (1, 25, 26, 60, 1000)
SCALE = (1_000, 10_000)
LEMONS = (1, 60, 120)  # retire + restore runs; and one whose invocation dies after its calls:
LEMONS_REDELIVERED = (3,)
GOALS = {"calls": 1.00, "writes": 1.1, "reads_at_n1": 2, "cold_start": 1.15, "scaling": 10.5}
#: Storms re-run with AWS-like request latencies injected (`bench.inject.AWS_LIKE`).
INJECTED = (1, 1000)
#: The deployed stack's guards (the template's defaults), canary waves on.
TEMPLATE_GUARDS = {**PRODUCTION_GUARDS, "AUTOHEAL_CANARY_WAVES": "true"}


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def scaling(repeats: int = 3) -> dict[str, Any]:
    """CPU time (time.process_time) of remediate over in-memory fakes: best of `repeats`."""
    inmemory.quiet_logs()
    inmemory.run(*inmemory.storm(1))  # warm
    cpu: dict[int, float] = {}
    calls: dict[int, int] = {}
    for n in SCALE:
        sagemaker, records = inmemory.storm(n)
        runs = [inmemory.run(sagemaker, records) for _ in range(repeats)]
        cpu[n] = min(t for t, _, _ in runs)
        calls[n] = len(runs[0][1].calls)
    small, big = SCALE
    return {
        "cpu_seconds": {str(n): cpu[n] for n in SCALE},
        "calls": {str(n): calls[n] for n in SCALE},
        "ratio": ratio(cpu[big], cpu[small]),
        "repeats": repeats,
    }


def memory(n: int = 1000) -> dict[str, Any]:
    """Peak RSS (/proc VmHWM, the kernel's high-water mark) of a fresh process running remediate over the n-fault storm
    with in-memory fakes, against the same process's peak just before the run."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.inmemory", str(n)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "POWERTOOLS_LOG_LEVEL": "WARNING"},
    )
    probe: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    probe["ratio"] = ratio(probe["rss_peak_kib"], probe["rss_before_kib"])
    return probe


def main() -> None:
    started = time.monotonic()
    info = machine()
    print(f"machine: {info['cores']} cores, Python {info['python']} ({info['platform']})", flush=True)
    print("peak RSS (fresh process)...", flush=True)
    mem = memory()
    print("cold start (fresh interpreters, median of 7)...", flush=True)
    cold = coldstart.measure(7)
    print("storms against the local server (relaxed guards)...", flush=True)
    storms = local.run_storms(STORMS)
    print(
        "storms with injected AWS-like latency (DynamoDB 5 ms, SageMaker 100 ms per request)...", flush=True
    )
    injected = local.run_storms(INJECTED, AWS_LIKE)
    print("the same with the ledger on DynamoDB Local (its own process)...", flush=True)
    ddb_local = local.run_storms(INJECTED, AWS_LIKE, dynamodb_local=True)
    print("one fault at the template's guards (DynamoDB requests)...", flush=True)
    production = local.run_storms((1,), guards=TEMPLATE_GUARDS, spare=30)
    print("claims three ways, on the moto server and on DynamoDB Local...", flush=True)
    claim_ways = claims.run()
    print("retire + restore against the local server (RetireAndRestore on)...", flush=True)
    retires = retire.run(LEMONS, LEMONS_REDELIVERED)
    print("a storm split between two concurrent remediate invocations...", flush=True)
    two = concurrent.run()
    print("cost model: an idle reconcile run and one fault, counted...", flush=True)
    costs = cost.run()
    print("scaling with in-memory fakes...", flush=True)
    scale = scaling()
    results = {
        "machine": info,
        "goals": GOALS,
        "cold_start": cold,
        "api_calls": storms,
        "injected_latency": injected,
        "dynamodb_local": ddb_local,
        "production_guards": production,
        "claims": claim_ways,
        "retire_restore": retires,
        "concurrent": two,
        "cost": costs,
        "scaling": scale,
        "memory": mem,
        "bench_seconds": time.monotonic() - started,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    readme = render(results)
    (HERE / "README.md").write_text(readme)
    print(readme)


def _f(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def render(r: dict[str, Any]) -> str:
    storms = r["api_calls"]["storms"]
    lines = [
        *_intro(r),
        *_api_calls_section(storms),
        *_retire_section(r["retire_restore"]["runs"]),
        *dynamodb.section(storms, r.get("production_guards", {}).get("storms", [])),
        *_cold_start_section(r["cold_start"]),
        *_scaling_section(r["scaling"]),
        *latency_section(storms, r["api_calls"]["backend"]),
        *latency_section(r["injected_latency"]["storms"], r["injected_latency"]["backend"]),
        *(
            latency_section(r["dynamodb_local"]["storms"], r["dynamodb_local"]["backend"])
            if "dynamodb_local" in r
            else []
        ),
        *claims_section(r["claims"]),
        *(concurrent.section(r["concurrent"]) if "concurrent" in r else []),
        *(cost.section(r["cost"]) if "cost" in r else []),
        *memory_section(r["memory"]),
    ]
    return "\n".join(lines)


def _intro(r: dict[str, Any]) -> list[str]:
    m = r["machine"]
    return [
        "# Benchmarks (generated by `make bench`: do not edit)",
        "",
        f"Machine: {m['cores']} cores, {m['implementation']} {m['python']}, {m['platform']}. "
        f"Whole run: {r['bench_seconds']:.0f} s, on a CPU shared with other work (absolute times are for "
        "orientation only). Every figure is a ratio to a reference measured in the same run, on the "
        "backend its section names.",
    ]


def _api_calls_section(storms: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## API-call efficiency (local server, relaxed guards: `hyperpod_local.stack.guards.RELAXED`)",
        "",
        "Each storm: N node faults over 2 clusters (60 % / 40 %) and 5 GPU groups, delivered as N separate "
        "EventBridge events through the real intake handler, then one remediate invocation over the queue. "
        "Minimum = Σ ceil(n/25) per (cluster, action); naive = one call per event.",
        "",
        "| N | calls | minimum | calls ÷ minimum (goal 1.00) | naive | calls ÷ naive | call sizes |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in storms:
        sizes = ", ".join(f"{size} x{count}" for size, count in Counter(s["call_sizes"]).items())
        lines.append(
            f"| {s['faults']} | {s['calls']} | {s['min_calls']} | {_f(s['ratio_to_min'])} "
            f"{verdict(s['ratio_to_min'], GOALS['calls'])} | {s['naive_calls']} | {_f(s['ratio_to_naive'], 3)} | {sizes} |"
        )
    return lines


def _retire_section(runs: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## Retire + restore (local server, relaxed guards, `RetireAndRestore` on)",
        "",
        "N lemons over the same 2 clusters and 5 GPU groups, each rebooted, replaced, then faulting once "
        "more: one remediate invocation retires them all (BatchDeleteClusterNodes, at most 50 ids per call: "
        "minimum Σ ceil(n/50) per cluster) and restores each group (BatchAddClusterNodes, at most 5 groups "
        "and 50 nodes per call: minimum Σ ceil(n/50) per cluster, its groups fitting in 5). Each add call's "
        "ClientToken and exact parameters are written in its members' records before it is made. "
        "Redelivered: the invocation dies after its calls, before writing their outcome; SQS redelivers, "
        "reconcile queues a `RestorePending` per node, remediate re-sends each call under its stored token "
        "and HyperPod answers with the first call's NodeLogicalIds. Goal: nodes added = N, never twice.",
        "",
        "| N | redelivered | delete calls | minimum | delete ÷ minimum (goal 1.00) | delete sizes "
        "| add calls | minimum | add ÷ minimum (goal 1.00) | add sizes | tokens | add calls per token "
        "| nodes added | added twice |",
        "|---:|---|---:|---:|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        to_min = ratio(run["delete_calls"], run["min_delete_calls"])
        sizes = ", ".join(f"{size} x{count}" for size, count in Counter(run["delete_sizes"]).items())
        add_min = ratio(len(run["add_sizes"]), run["min_add_calls"])  # re-sent calls counted once
        add_sizes = ", ".join(f"{size} x{count}" for size, count in Counter(run["add_sizes"]).items())
        lines.append(
            f"| {run['lemons']} | {'yes' if run['crash_after_the_call'] else 'no'} | {run['delete_calls']} "
            f"| {run['min_delete_calls']} | {_f(to_min)} {verdict(to_min, GOALS['calls'])} | {sizes} "
            f"| {run['add_calls']} | {run['min_add_calls']} | {_f(add_min)} {verdict(add_min, GOALS['calls'])} "
            f"| {add_sizes} | {run['add_tokens']} | {run['add_calls_per_token']} | {run['nodes_added']} "
            f"| {run['nodes_added_twice']} {verdict(run['nodes_added_twice'], 0)} |"
        )
    return lines


def _cold_start_section(c: dict[str, Any]) -> list[str]:
    lines = [
        "",
        f"## Cold start (fresh interpreters, median of {c['repeats']}, Lambda-like env: tracer enabled)",
        "",
        f"Reference: bare `import boto3` = {c['boto3_ms']:.0f} ms. Goal: handler import ÷ boto3 ≤ {GOALS['cold_start']}.",
        "",
        "| handler | import ms | ÷ import boto3 | top import costs (self time per package, `-X importtime`) |",
        "|---|---:|---:|---|",
    ]
    for h, v in c["handlers"].items():
        top = ", ".join(f"{t['package']} {t['self_ms']:.0f} ms" for t in v["top_imports"][:6])
        lines.append(
            f"| {h} | {v['import_ms']:.0f} | {_f(v['ratio'])} {verdict(v['ratio'], GOALS['cold_start'])} | {top} |"
        )
    return lines


def _scaling_section(s: dict[str, Any]) -> list[str]:
    cpu = s["cpu_seconds"]
    return [
        "",
        "## Scaling (in-memory fakes, `bench/fakes.py`; CPU time, best of 3)",
        "",
        "| faults | CPU s (`time.process_time`) | calls |",
        "|---:|---:|---:|",
        *(f"| {n} | {_f(cpu[n], 3)} | {s['calls'][n]} |" for n in cpu),
        "",
        f"10,000 ÷ 1,000 = **{_f(s['ratio'])}** {verdict(s['ratio'], GOALS['scaling'])} (goal ≤ 10.5).",
    ]


#: Sections that can be measured alone (`python -m bench.run --only NAME`): how to measure, how to render.
FOCUSED = {"concurrent": (concurrent.run, concurrent.section), "cost": (cost.run, cost.section)}


def focused(names: list[str]) -> None:
    """Re-measure only the named sections: their figures replace theirs in bench/results.json and
    their sections replace (or are appended to) theirs in bench/README.md; every other figure stays."""
    results = json.loads((HERE / "results.json").read_text())
    readme = (HERE / "README.md").read_text()
    for name in names:
        print(f"{name}...", flush=True)
        measure, section = FOCUSED[name]
        results[name] = measure()
        readme = splice(readme, "\n".join(section(results[name])))
    (HERE / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (HERE / "README.md").write_text(readme)


def splice(readme: str, section: str) -> str:
    """`readme` with the section of the same `## ` heading (its first words) replaced, or appended."""
    body = section.strip("\n")
    key = body.splitlines()[0].split("(")[0]
    start = readme.find("\n" + key)
    if start < 0:
        return readme.rstrip("\n") + "\n\n" + body + "\n"
    end = readme.find("\n## ", start + 1)
    rest = readme[end:] if end >= 0 else "\n"
    return readme[: start + 1] + body + "\n" + rest


if __name__ == "__main__":
    if sys.argv[1:2] == ["--only"]:
        focused(sys.argv[2:])
    else:
        main()
