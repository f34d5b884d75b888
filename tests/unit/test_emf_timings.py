"""Duration samples are emitted whole, at most 100 values a blob, with no empty blob and no warning."""

from __future__ import annotations

import json
import warnings

import pytest

from autoheal.observability import Metric, MetricCounts, flush_counts


@pytest.mark.parametrize("samples", [1, 99, 100, 101, 250])
def test_every_duration_sample_is_emitted_once(samples: int, capsys: pytest.CaptureFixture[str]) -> None:
    counts = MetricCounts()
    for i in range(samples):
        counts.observe(Metric.TIME_TO_ACTION, float(i), Action="reboot")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "No application metrics to publish" would fail here
        flush_counts(counts)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    values = [v for b in blobs for v in b["TimeToAction"]]
    assert sorted(values) == [float(i) for i in range(samples)]
    assert all(len(b["TimeToAction"]) <= 100 for b in blobs)
