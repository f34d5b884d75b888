"""remediate over in-memory fakes: the CPU-scaling benchmark, and (as `python -m bench.inmemory`) the
peak-RSS probe run in a fresh process.

Fault messages are made by the real intake logic (`ingest` onto a fake SQS), so their bodies are
exactly what remediate receives from the queue.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench.fakes import FakeDynamoDB, FakeSageMaker, FakeSns, FakeSqs, fake_clusters
from bench.ratios import group_sizes, storm_layout
from hyperpod_local.stack.events import node_health_event
from hyperpod_local.stack.guards import RELAXED

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/fault-queue"
#: The local stack's relaxed guards (a module of plain data: importing it loads no moto).
ENV = {
    "AUTOHEAL_TABLE_NAME": "ledger",
    "AUTOHEAL_QUEUE_URL": QUEUE_URL,
    "AUTOHEAL_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:needs-human",
    **RELAXED,
}


def _settings() -> Any:
    from autoheal.settings import load_settings

    return load_settings(ENV)


def storm(n: int) -> tuple[FakeSageMaker, list[dict[str, Any]]]:
    """Fake clusters holding an n-fault storm, and its SQS records (via the real intake logic)."""
    from autoheal.intake.service import ingest
    from autoheal.intake.wiring import build_deps

    layout = storm_layout(n)
    clusters = fake_clusters(group_sizes(layout))
    sqs = FakeSqs()
    deps = build_deps(_settings(), {"sqs": sqs}.__getitem__, clock=lambda: NOW)  # received as it happens
    for k, (cluster, group, index) in enumerate(layout):
        c = clusters[cluster]
        event = node_health_event(c.name, c.arn, c.groups[group][index][0], NOW, event_id=f"bench-{k:08d}")
        ingest(event, deps)
    records = [{"messageId": f"m-{k:08d}", "body": body} for k, body in enumerate(sqs.bodies)]
    return FakeSageMaker(clusters), records


def run(sagemaker: FakeSageMaker, records: list[dict[str, Any]]) -> tuple[float, Any, FakeDynamoDB]:
    """remediate once over fresh fakes; returns (CPU seconds, report, the fake table)."""
    from autoheal.remediate.service import remediate
    from autoheal.remediate.wiring import build_deps

    sagemaker.calls.clear()
    dynamodb = FakeDynamoDB()
    fakes = {"sagemaker": sagemaker, "dynamodb": dynamodb, "sns": FakeSns(), "sqs": FakeSqs()}
    deps = build_deps(_settings(), fakes.__getitem__, clock=lambda: NOW)
    gc.collect()
    start = time.process_time()
    report = remediate(records, deps)
    elapsed = time.process_time() - start
    if records and not report.calls:  # a storm that calls nothing measures nothing
        raise RuntimeError(f"the {len(records)}-fault storm made no call: {report.metrics.counts}")
    return elapsed, report, dynamodb


def quiet_logs() -> None:
    """The service logs at INFO per dropped fault and per batch; keep benchmark output clean."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "hyperpod-autoheal")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HyperPodAutoheal")


def peak_rss_kib() -> int:
    """This process's peak RSS: VmHWM from /proc (Linux; reset by exec), else getrusage's ru_maxrss
    (which Linux carries over from a forking parent, so it can overstate a child's peak)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _rss_probe(n: int) -> dict[str, Any]:
    """Peak RSS (KiB) before and after one remediate run, in this process."""
    quiet_logs()
    sagemaker, records = storm(n)
    run(*storm(1))  # warm: every lazy import and cache the first invocation pays
    before = peak_rss_kib()
    _, report, _ = run(sagemaker, records)
    after = peak_rss_kib()
    return {
        "faults": n,
        "calls": len(report.calls),
        "rss_before_kib": before,
        "rss_peak_kib": after,
        "body_bytes_mean": sum(len(r["body"].encode()) for r in records) / max(1, len(records)),
    }


if __name__ == "__main__":
    print(json.dumps(_rss_probe(int(sys.argv[1]))))
