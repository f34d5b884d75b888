"""normalise() never raises: every mutation of every sample event ends as faults, ignored or rejected."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autoheal.intake import ROUTES, Intake, normalise
from autoheal.intake.logs import encode
from autoheal.intake.result import MALFORMED_ENVELOPE, MALFORMED_HMA_RECORD, MALFORMED_LOGS
from autoheal.intake.wiring import rule_config
from autoheal.settings import Settings

EVENTS = Path(__file__).resolve().parents[2] / "events"
SAMPLES = sorted(p.name for p in EVENTS.glob("*.json"))
RULES = rule_config(Settings())
KNOWN_REJECTIONS = {MALFORMED_ENVELOPE} | {f"malformed:{detail_type}" for _, detail_type in ROUTES}

HUGE = "x" * 300_000
REPLACEMENTS: dict[str, Any] = {
    "null": None,
    "int": 123,
    "float": -1.5,
    "bool": True,
    "list": [],
    "object": {},
    "empty": "",
    "unicode": "ノード💥 ñ\u200b\u202e",
    "huge": HUGE,
    "control": "\x00\x1f\x7f",
    "lone-surrogate": "\ud800",
}


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return event


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and list index in a JSON document."""
    if isinstance(node, dict):
        items: Any = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, child in items:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def mutated(
    event: dict[str, Any], path: tuple[Any, ...], value: Any, *, delete: bool = False
) -> dict[str, Any]:
    copy_ = copy.deepcopy(event)
    parent: Any = copy_
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy_


def assert_well_formed(intake: Intake) -> None:
    assert isinstance(intake, Intake)
    if intake.rejected is not None:
        assert intake.faults == [] and intake.ignored == []
        assert intake.rejected.reason in KNOWN_REJECTIONS
        assert 0 < len(intake.rejected.message) <= 400
        assert HUGE not in intake.rejected.message
    else:
        assert intake.faults or intake.ignored
    for fault in intake.faults:
        assert len(fault.reason) <= 2048 and len(fault.signal) <= 128
    for item in intake.ignored:
        assert len(item.subject) <= 200
    assert len(intake.event_id) <= 128 and len(intake.detail_type) <= 128


@pytest.mark.parametrize("name", SAMPLES)
def test_deleting_any_field_never_raises(name: str) -> None:
    event = load_event(name)
    for path in paths(event):
        assert_well_formed(normalise(mutated(event, path, None, delete=True), RULES))


@pytest.mark.parametrize("kind", sorted(REPLACEMENTS))
@pytest.mark.parametrize("name", SAMPLES)
def test_replacing_any_field_with_a_wrong_value_never_raises(name: str, kind: str) -> None:
    event = load_event(name)
    for path in paths(event):
        assert_well_formed(normalise(mutated(event, path, REPLACEMENTS[kind]), RULES))


@pytest.mark.parametrize(
    "raw", [None, [], "event", 42, b"{}", {}, {"detail": {}}, {"source": 1, "detail-type": 2}]
)
def test_anything_that_is_not_an_envelope_is_rejected_as_malformed_envelope(raw: Any) -> None:
    intake = normalise(raw, RULES)
    assert intake.rejected is not None and intake.rejected.reason == MALFORMED_ENVELOPE


def test_detail_that_is_not_an_object_is_rejected_for_its_detail_type() -> None:
    event = load_event("node-health-unhealthy.json")
    event["detail"] = "{}"
    intake = normalise(event, RULES)
    assert intake.rejected is not None
    assert intake.rejected.reason == "malformed:SageMaker HyperPod Cluster Node Health Event"


def test_unicode_and_huge_prose_still_make_a_fault_with_clipped_text() -> None:
    event = load_event("cluster-event-replacement-failed.json")
    event["detail"]["EventDetails"]["Description"] = "交換に失敗 💥 " + "reboot " * 50_000
    intake = normalise(event, RULES)
    assert len(intake.faults) == 1
    fault = intake.faults[0]
    assert fault.reason.startswith("交換に失敗 💥") and len(fault.reason) == 2048
    assert fault.signal == "ClusterEventError"


def test_huge_envelope_id_is_rejected_and_not_echoed() -> None:
    event = load_event("node-health-unhealthy.json")
    event["id"] = HUGE
    intake = normalise(event, RULES)
    assert intake.rejected is not None and HUGE[:200] not in intake.rejected.message
    assert len(intake.event_id) == 128


def test_rejection_message_summarises_only_the_first_errors() -> None:
    event = load_event("node-health-unhealthy.json")
    # (cluster ids are no longer among the errors: unusable ones are dropped, see test_intake_models)
    event.update(id="", time="never")
    event["detail"] = {"InstanceId": "bad", "ClusterArn": "bad", "ClusterName": "-", "HealthSummary": 1}
    intake = normalise(event, RULES)
    assert intake.rejected is not None
    assert intake.rejected.message.endswith("more)")
    assert intake.rejected.message.count(";") == 3


# ---------------------------------------------------------------- HMA log deliveries (events/hma/)

HMA_SAMPLES = sorted(p.name for p in (EVENTS / "hma").glob("*.json") if not p.name.endswith(".invoke.json"))
HMA_REJECTIONS = {MALFORMED_LOGS, MALFORMED_HMA_RECORD}


def assert_hma_well_formed(intake: Intake) -> None:
    assert isinstance(intake, Intake)
    if intake.rejected is not None:
        assert intake.faults == [] and intake.ignored == [] and intake.rejected_parts == []
    for rejection in ([intake.rejected] if intake.rejected else []) + intake.rejected_parts:
        assert rejection.reason in HMA_REJECTIONS
        assert 0 < len(rejection.message) <= 400 and HUGE[:100] not in rejection.message
    assert len(intake.faults) <= 1  # one delivery is one log stream, one node
    for fault in intake.faults:
        assert len(fault.reason) <= 2048 and len(fault.signal) <= 128
    for item in intake.ignored:
        assert len(item.subject) <= 200
    assert len(intake.event_id) <= 128 and len(intake.subject) <= 128


def load_hma(name: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads((EVENTS / "hma" / name).read_text(encoding="utf-8"))
    return decoded


@pytest.mark.parametrize("kind", sorted(REPLACEMENTS))
@pytest.mark.parametrize("name", HMA_SAMPLES)
def test_any_wrong_value_or_missing_field_in_a_delivery_never_raises(name: str, kind: str) -> None:
    decoded = load_hma(name)
    for path in paths(decoded):
        for variant in (
            mutated(decoded, path, REPLACEMENTS[kind]),
            mutated(decoded, path, None, delete=True),
        ):
            try:
                event = encode(variant)
            except UnicodeEncodeError:  # a lone surrogate cannot be UTF-8: CloudWatch never sends one
                continue
            assert_hma_well_formed(normalise(event, RULES))


@pytest.mark.parametrize("kind", sorted(REPLACEMENTS))
@pytest.mark.parametrize("name", HMA_SAMPLES)
def test_any_wrong_value_or_missing_field_in_an_hma_record_never_raises(name: str, kind: str) -> None:
    decoded = load_hma(name)
    for index, log_event in enumerate(decoded["logEvents"]):
        try:
            record = json.loads(log_event["message"])
        except ValueError:
            continue
        for path in paths(record):
            for variant in (
                mutated(record, path, REPLACEMENTS[kind]),
                mutated(record, path, None, delete=True),
            ):
                text = json.dumps(variant)
                changed = mutated(decoded, ("logEvents", index, "message"), text)
                assert_hma_well_formed(normalise(encode(changed), RULES))
