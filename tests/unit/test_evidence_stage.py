"""The evidence stage's invocation budget (pure: a stand-in store and a stand-in clock). The bundle's
contents, caps, throttling and failures run through the real handlers in tests/scenarios/test_evidence.py."""

from __future__ import annotations

from typing import Any

from autoheal.adapters.evidence import LogPage
from autoheal.policy import Action
from autoheal.remediate.claim import Claimed
from autoheal.remediate.evidence import Evidence, EvidencePolicy, capture_before
from tests.unit.test_remediate_stages import NOW, acting_plan


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowStore:
    """Every call takes `seconds` of the stand-in clock; writes succeed."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.puts: list[str] = []

    def _tick(self) -> None:
        self.clock.now += self.seconds

    def log_streams(self, group: str, prefix: str) -> list[str]:
        self._tick()
        return []

    def log_events(self, group: str, stream: str, start_ms: int, end_ms: int, max_bytes: int) -> LogPage:
        self._tick()
        return LogPage((), truncated=False)

    def describe_node(self, cluster: str, instance_id: str) -> dict[str, Any]:
        self._tick()
        return {"InstanceId": instance_id}

    def cluster_arn(self, cluster: str) -> str:
        self._tick()
        return "arn:aws:sagemaker:us-east-1:123456789012:cluster/abcdefghijkl"

    def put(self, key: str, body: bytes, content_type: str = "application/json") -> str:
        self.puts.append(key)
        return f"s3://b/{key}"


def claimed() -> Claimed:
    p = acting_plan()
    return Claimed(p.node, p.decision, Action.REPLACE, before=p.history, claimed=p.history)


def test_once_the_invocations_budget_is_spent_later_calls_get_no_bundle_and_are_not_blocked() -> None:
    clock = Clock()
    store = SlowStore(clock, seconds=30)
    policy = EvidencePolicy(budget_seconds=100, invocation_budget_seconds=60, workers=1)
    evidence = Evidence(store, policy, sleep=lambda _: None, monotonic=clock)
    first = capture_before([claimed()], Action.REPLACE, evidence, NOW)
    [c] = first.ready
    assert c.evidence is not None  # written, partial: the node's own budget was cut to what was left
    assert first.metrics.total("EvidenceCaptured", Outcome="partial") == 1
    written = len(store.puts)
    second = capture_before([claimed()], Action.REPLACE, evidence, NOW)
    [c2] = second.ready
    assert c2.evidence is None and second.held == []
    assert second.metrics.total("EvidenceCaptured", Outcome="failed") == 1
    assert len(store.puts) == written  # nothing read or written for it


def test_a_reboot_is_never_captured() -> None:
    store = SlowStore(Clock(), seconds=0)
    out = capture_before([claimed()], Action.REBOOT, Evidence(store), NOW)
    assert [c.evidence for c in out.ready] == [None] and store.puts == []
