"""The bench's DynamoDB section splits requests by what they were for and judges the issue's goals;
its tags follow a request into the thread pools that send it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import dynamodb, purposes
from bench.purposes import Purposes


def _storm(n: int, calls: int, by_purpose: dict[str, dict[str, int]]) -> dict[str, Any]:
    requests: dict[str, int] = {}
    for ops in by_purpose.values():
        for op, k in ops.items():
            requests[op] = requests.get(op, 0) + k
    reads = sum(k for op, k in requests.items() if op in {"BatchGetItem", "Query", "Scan", "GetItem"})
    return {
        "faults": n,
        "calls": calls,
        "nodes_remediated": n,
        "dynamodb": {
            "requests": requests,
            "by_purpose": by_purpose,
            "reads": reads,
            "writes": sum(requests.values()) - reads,
            "write_items": 4 * n,
        },
    }


ONE = _storm(
    1,
    1,
    {
        "node states": {"BatchGetItem": 1},
        "switches": {"Query": 1},
        "pause re-checks": {"BatchGetItem": 1},
        "claims": {"PutItem": 1},
        "sending marks": {"BatchWriteItem": 1},
        "outcomes": {"BatchWriteItem": 1},
    },
)
STORM = _storm(
    1000,
    40,
    {
        "node states": {"BatchGetItem": 20},
        "switches": {"Query": 1},
        "pause re-checks": {"BatchGetItem": 40},
        "claims": {"PutItem": 1000},
        "sending marks": {"BatchWriteItem": 40},
        "outcomes": {"BatchWriteItem": 80},
    },
)
GUARDED = _storm(1, 1, {**ONE["dynamodb"]["by_purpose"], "canary waves": {"BatchGetItem": 1}})


def test_reads_at_one_fault_are_judged_against_two_plus_the_pause_rechecks() -> None:
    text = "\n".join(dynamodb.section([ONE, STORM], [GUARDED]))
    assert "| 1 | relaxed | 1 | 3 | 3 ok |" in text
    assert "| 1 | template defaults | 1 | 4 | 3 OVER |" in text
    assert "canary waves: BatchGetItem 1" in text


def test_writes_per_node_are_shown_with_and_without_the_sending_marks() -> None:
    text = "\n".join(dynamodb.section([ONE, STORM], []))
    row = next(line for line in text.splitlines() if line.startswith("| 1000 |"))
    assert "| 1.120 OVER | 1.080 ok |" in row
    assert "| 1.000 | 0.040 | 0.080 |" in row  # claims, sending marks, outcomes per node
    assert "Without the mark a storm writes 1.080 requests per node" in text


def test_a_tag_follows_its_request_into_a_thread_pool_and_is_gone_after() -> None:
    from autoheal.adapters.node_states import LedgerNodeStates

    seen: list[str] = []

    def commit(self: Any, *_: Any) -> None:
        with ThreadPoolExecutor(2) as pool:
            pool.submit(lambda: seen.append(purposes.current())).result()
        seen.append(purposes.current())

    original = LedgerNodeStates.commit
    LedgerNodeStates.commit = commit  # type: ignore[method-assign]
    try:
        with Purposes():
            LedgerNodeStates.commit(object())  # type: ignore[arg-type]
        assert seen == ["outcomes", "outcomes"]
        assert purposes.current() == purposes.OTHER
        assert LedgerNodeStates.commit is commit
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(purposes.current).result() == purposes.OTHER
    finally:
        LedgerNodeStates.commit = original  # type: ignore[method-assign]
