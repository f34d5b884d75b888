"""What each DynamoDB request of a remediate invocation was for: the ledger adapter methods that make
them, tagged while they run (per thread: claims are written side by side), so the request counter can
split a batch's requests into claims, `sending` marks, outcomes, reads of the node states, the
switches and the pause re-checks.

Bench-only instrumentation: the methods are wrapped for the duration of a `with Purposes():` block and
put back after; the innermost tag wins (the switches' one Query answers a pause read made at planning).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: (module, class, method) -> what its requests are for.
TAGGED: tuple[tuple[str, str, str, str], ...] = (
    ("autoheal.adapters.node_states", "LedgerNodeStates", "load", "node states"),
    ("autoheal.adapters.node_states", "LedgerNodeStates", "put_if_unchanged", "claims"),
    ("autoheal.adapters.node_states", "LedgerNodeStates", "put_claimed", "sending marks"),
    ("autoheal.adapters.node_states", "LedgerNodeStates", "commit", "outcomes"),
    ("autoheal.adapters.control", "LedgerPauses", "paused", "pause re-checks"),
    ("autoheal.adapters.switches", "_Snapshot", "_partition", "switches"),
    ("autoheal.adapters.control", "_ControlPartition", "_put", "control records"),
    ("autoheal.adapters.open_nodes", "LedgerOpenNodes", "open_nodes", "open-node index"),
    ("autoheal.adapters.waves", "LedgerWaves", "waves", "canary waves"),
    ("autoheal.adapters.approvals", "LedgerApprovals", "for_nodes", "approvals"),
    ("autoheal.adapters.ladder_stats", "LedgerLadderStats", "counters", "ladder counters"),
)
OTHER = "other"

_local = threading.local()


def current() -> str:
    """The innermost tag of this thread, or `OTHER`."""
    stack: list[str] = getattr(_local, "stack", [])
    return stack[-1] if stack else OTHER


def _tagged(fn: Callable[..., Any], tag: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        stack = _local.__dict__.setdefault("stack", [])
        stack.append(tag)
        try:
            return fn(*args, **kwargs)
        finally:
            stack.pop()

    return wrapper


def _carrying(submit: Callable[..., Any]) -> Callable[..., Any]:
    """`ThreadPoolExecutor.submit` whose task runs under the submitting thread's tags (a commit's
    BatchWriteItems are sent from a pool)."""

    @functools.wraps(submit)
    def wrapper(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        tags = list(getattr(_local, "stack", []))

        def run(*a: Any, **k: Any) -> Any:
            saved = getattr(_local, "stack", [])
            _local.stack = list(tags)
            try:
                return fn(*a, **k)
            finally:
                _local.stack = saved

        return submit(self, run, *args, **kwargs)

    return wrapper


class Purposes:
    """While open, the adapter methods of `TAGGED` tag their requests (see `current`), and tasks
    submitted to a thread pool carry their submitter's tags."""

    def __init__(self) -> None:
        self._saved: list[tuple[type, str, Any]] = []

    def __enter__(self) -> Purposes:
        import importlib

        for module, cls_name, method, tag in TAGGED:
            cls = getattr(importlib.import_module(module), cls_name)
            original = cls.__dict__[method]
            self._saved.append((cls, method, original))
            setattr(cls, method, _tagged(original, tag))
        original_submit = ThreadPoolExecutor.__dict__["submit"]
        self._saved.append((ThreadPoolExecutor, "submit", original_submit))
        ThreadPoolExecutor.submit = _carrying(original_submit)  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        for cls, method, original in reversed(self._saved):
            setattr(cls, method, original)
        self._saved.clear()
