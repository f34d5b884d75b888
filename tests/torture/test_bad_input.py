"""Property-based fuzzing of all five event shapes through the real intake handler, then remediate on
whatever got enqueued: no crash, a logged reason and a metric for every dropped event or fault, and no
SageMaker request carrying a value that fails the API's own patterns."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoheal import clients
from autoheal.observability import logger as service_logger
from hyperpod_local.plane.clusters import ClusterFixture
from hyperpod_local.stack.world import LocalWorld
from tests.torture.support import (
    answered,
    make_storm,
    remediate_until_quiet,
    report,
    scaled,
    seed,
)

pytestmark = pytest.mark.torture

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdef012345"
INSTANCE_ID = re.compile(r"i-[0-9a-f]{17}")
#: The five shapes intake routes, by the sample files that show them.
SHAPES = {
    "node health": "node-health-",
    "cluster event": "cluster-event-",
    "cluster state change": "cluster-state-change",
    "aws health": "health-",
    "cloudwatch alarm": "alarm-",
}


class Records(logging.Handler):
    """Keeps the service logger's records (Powertools does not propagate to pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records() -> Iterator[Records]:
    handler = Records()
    service_logger.addHandler(handler)
    yield handler
    service_logger.removeHandler(handler)


def base_events(cluster: ClusterFixture, now: datetime) -> list[dict[str, Any]]:
    """Every sample event, pointed at a real local cluster and its nodes, fresh."""
    ids = itertools.cycle(cluster.instance_ids("gpu"))  # as many samples as there are
    out = []
    for path in sorted(EVENTS.glob("*.json")):
        text = path.read_text(encoding="utf-8")
        text = text.replace(SAMPLE_ARN, cluster.arn).replace('"ml-cluster"', json.dumps(cluster.name))
        text = INSTANCE_ID.sub(lambda _: next(ids), text)
        event = json.loads(text)
        if isinstance(event, dict) and "time" in event:
            event["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.append(event)
    return out


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    items: Any = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def values(cluster: ClusterFixture, now: datetime) -> st.SearchStrategy[Any]:
    real_ids = cluster.instance_ids("gpu")
    when = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC)
    )
    stale = st.integers(min_value=61, max_value=10**6).map(lambda m: now - timedelta(minutes=m))
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=50),  # unicode, control characters, surrogates excluded by JSON anyway
        st.sampled_from(["", " ", "\x00", "ノード💥", "\u202e", "x" * 300_000, "null", "{}", "Unhealthy"]),
        st.from_regex(r"i-[0-9a-zA-Z_-]{0,30}", fullmatch=True),  # invalid (and some valid-looking) ids
        st.sampled_from(real_ids),
        st.sampled_from(
            [
                cluster.arn,
                cluster.name,
                f"{cluster.arn}/extra",
                cluster.arn.replace("sagemaker", "eks"),
                f"arn:aws:ec2:us-east-1:123456789012:instance/{real_ids[0]}",
                "arn:aws:sagemaker:us-east-1:123456789012:cluster/../../etc",
                f"{cluster.name}-{real_ids[0]}",
            ]
        ),
        st.one_of(when, stale).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")),
        st.one_of(when, stale).map(lambda d: int(d.timestamp() * 1000)),
    )
    return st.one_of(
        scalar,
        st.lists(scalar, max_size=5),
        st.dictionaries(st.text(max_size=10), scalar, max_size=4),
        st.integers(min_value=100, max_value=5000).map(lambda k: [real_ids[0]] * k),  # huge lists
        st.just([{"entityValue": i} for i in real_ids] * 300),
    )


def test_fuzzed_events_never_crash_are_always_accounted_for_and_never_reach_sagemaker_malformed(
    moto_world: LocalWorld, log_records: Records
) -> None:
    started = time.monotonic()
    world = moto_world
    cluster = make_storm(world, 8, prefix="fuzz").clusters[0]
    now = world.now()
    bases = base_events(cluster, now)
    by_shape = {
        shape: [
            e for e, p in zip(bases, sorted(EVENTS.glob("*.json")), strict=True) if p.name.startswith(prefix)
        ]
        for shape, prefix in SHAPES.items()
    }
    assert all(by_shape.values()), by_shape
    seen_shapes: Counter[str] = Counter()
    outcome: Counter[str] = Counter()

    @settings(
        max_examples=scaled(150, 1500),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def one_event(data: st.DataObject) -> None:
        shape = data.draw(st.sampled_from(sorted(by_shape)), label="shape")
        event = copy.deepcopy(data.draw(st.sampled_from(by_shape[shape]), label="sample"))
        for _ in range(data.draw(st.integers(min_value=0, max_value=4), label="mutations")):
            spots = list(paths(event))
            if not spots:
                break
            spot = data.draw(st.sampled_from(spots), label="path")
            parent: Any = event
            for key in spot[:-1]:
                parent = parent[key]
            if data.draw(st.booleans(), label="delete"):
                del parent[spot[-1]]
            else:
                parent[spot[-1]] = data.draw(values(cluster, now), label="value")
        seen_shapes[shape] += 1
        mark = len(log_records.records)
        world.deliver([event])  # raises if the handler crashes
        intake = world.intake_reports[-1]
        logged = log_records.records[mark:]
        for reason, count in intake.rejected.items():
            outcome["rejected"] += count
            assert intake.counts.total("EventsRejected", Reason=reason) == count
            assert any(getattr(r, "reason", None) == reason and r.levelno >= logging.WARNING for r in logged)
        for reason, count in intake.ignored.items():
            outcome["ignored"] += count
            assert intake.counts.total("FaultsIgnored", Reason=reason) == count
            assert sum(1 for r in logged if getattr(r, "reason", None) == reason) == count
        outcome["enqueued"] += intake.enqueued
        assert intake.received == intake.enqueued
        if not intake.rejected and not intake.ignored:
            assert intake.received > 0  # an event is always accounted for: faults, ignored or rejected

    one_event()

    # remediate whatever got through; every SageMaker request is checked against the API's patterns
    sagemaker = clients.client("sagemaker")
    violations: list[str] = []
    checked: Counter[str] = Counter()

    def check(params: dict[str, Any], model: Any, **_: Any) -> None:
        checked[model.name] += 1
        violations.extend(f"{model.name}: {v}" for v in _pattern_violations(model.input_shape, params))

    sagemaker.meta.events.register("provide-client-params.sagemaker.*", check)
    try:
        reports = remediate_until_quiet(world, random.Random(seed()))
    finally:
        sagemaker.meta.events.unregister("provide-client-params.sagemaker.*", check)
    malformed = sum(r.metrics.total("EventsRejected", Reason="malformed_message") for r in reports)
    actions = sum(c.size for c in answered(world.control.calls))
    report(
        "bad input",
        events=sum(seen_shapes.values()),
        shapes=dict(seen_shapes),
        faults=outcome["enqueued"],
        rejected=outcome["rejected"],
        ignored=outcome["ignored"],
        remediate_dropped=malformed,
        sagemaker_requests=dict(checked),
        actions=actions,
        pattern_violations=len(violations),
        seconds=round(time.monotonic() - started, 1),
    )
    assert violations == []
    assert set(seen_shapes) == set(SHAPES)
    assert outcome["rejected"] > 0 and outcome["ignored"] > 0 and outcome["enqueued"] > 0


def _pattern_violations(shape: Any, value: Any, where: str = "") -> Iterator[str]:
    """Strings that fail their shape's `pattern` (or length limits) anywhere in a request."""
    if shape is None or value is None:
        return
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            yield from _pattern_violations(member, value.get(name), f"{where}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from _pattern_violations(shape.member, item, f"{where}[{i}]")
    elif shape.type_name == "string" and isinstance(value, str):
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            yield f"{where}={value[:80]!r} fails {pattern}"
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if (low is not None and len(value) < low) or (high is not None and len(value) > high):
            yield f"{where} has length {len(value)} outside [{low}, {high}]"
