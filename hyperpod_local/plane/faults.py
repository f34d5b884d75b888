"""Injected faults: per-entry errors for named nodes, whole-request errors for one cluster's calls
(``AccessDeniedException`` on its ListClusterNodes, say), and throttling of Batch* calls.

Simplified on purpose: the real service's throttling is rate-based and per account; here a seeded
coin decides, per Batch* call, whether it is answered ``ThrottlingException`` ("Rate exceeded",
HTTP 400), so a test can dial in "30 % of calls" reproducibly.

Not thread-safe by itself: callers hold the control-plane lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from hyperpod_local.plane.errors import InjectedError, ThrottlingException
from hyperpod_local.plane.model import LocalNode

DEFAULT_MESSAGES = {
    "InternalServerError": "An internal error occurred while processing this node.",
    "InstanceIdInUse": "Another operation is already in progress for this node.",
    "NodeIdInUse": "Another operation is already in progress for this node.",
}


@dataclass
class _EntryError:
    refs: frozenset[str]
    code: str
    message: str
    remaining: int


@dataclass
class _CallError:
    clusters: frozenset[str]  # the cluster's name and ARN: a request may name it either way
    actions: frozenset[str] | None  # None: every action naming the cluster
    code: str
    message: str
    remaining: int | None  # None: until cleared


class FaultInjector:
    """Holds the faults a test asked for and hands them out as requests arrive."""

    def __init__(self) -> None:
        self._entry_errors: list[_EntryError] = []
        self._throttle_rate = 0.0
        self._throttle_rng = random.Random(0)
        self._call_errors: list[_CallError] = []

    def add_call_error(
        self,
        clusters: frozenset[str],
        code: str,
        actions: frozenset[str] | None,
        times: int | None,
        message: str | None,
    ) -> None:
        if times is not None and times < 1:
            raise ValueError("times must be >= 1 (or None: until cleared)")
        text = message or f"Injected {code} for cluster {min(clusters)}."
        self._call_errors.append(_CallError(clusters, actions, code, text, times))

    def clear_call_errors(self, clusters: frozenset[str]) -> None:
        self._call_errors = [e for e in self._call_errors if not e.clusters & clusters]

    @property
    def has_call_errors(self) -> bool:
        return bool(self._call_errors)

    def check_call_error(self, action: str, clusters: frozenset[str]) -> None:
        """Raise the injected error for a request of ``action`` naming one of ``clusters``, if any."""
        for error in self._call_errors:
            if error.clusters & clusters and (error.actions is None or action in error.actions):
                if error.remaining is not None:
                    error.remaining -= 1
                    if error.remaining == 0:
                        self._call_errors.remove(error)
                raise InjectedError(error.code, error.message)

    def add_entry_error(self, refs: frozenset[str], code: str, times: int, message: str | None) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        text = message or DEFAULT_MESSAGES.get(code, f"Injected failure {code}.")
        self._entry_errors.append(_EntryError(refs=refs, code=code, message=text, remaining=times))

    def take_entry_error(self, ref: str, node: LocalNode | None) -> tuple[str, str] | None:
        """Consume one injected ``(code, message)`` matching this entry, if any."""
        for error in self._entry_errors:
            if ref in error.refs or (node is not None and node.logical_id in error.refs):
                error.remaining -= 1
                if error.remaining == 0:
                    self._entry_errors.remove(error)
                return error.code, error.message
        return None

    def set_throttle(self, rate: float, seed: int) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        self._throttle_rate = rate
        self._throttle_rng = random.Random(seed)

    def check_throttle(self) -> None:
        """Raise ``ThrottlingException`` for the configured fraction of calls."""
        if self._throttle_rate > 0 and self._throttle_rng.random() < self._throttle_rate:
            raise ThrottlingException()
