"""The retire rung's restore, pure: how many nodes to add, the ClientToken, where a restore stands.

A retire deletes a lemon with BatchDeleteClusterNodes; its restore adds a fresh node to the same
instance group with BatchAddClusterNodes, so the cluster is not left short. Rules:

- **never overshoot**: the group's TargetCount is read before the retire (kept in the ledger) and
  again before the add; a group's restores add `min(its retired nodes, target before - target now)`
  (one slot per retired node; 0 when the delete did not lower the target -- Continuous provisioning
  then refills the slot itself -- or when an earlier add already restored it);
- **batched to the API's limits**: the restores of one cluster share as few calls as the API allows
  (`plan_adds`: at most 5 groups and 50 nodes per call, so Σ ceil(n/50) calls per cluster when its
  groups fit in 5);
- **one token per add call, in every member's record before the call**: each member's state item
  holds the call's ClientToken, its exact `NodesToAdd` and the member's slot in it (its index among
  the group's returned ids, sorted), written before the call and reused on every retry: within
  `TOKEN_TTL` the same token and parameters return the same NodeLogicalIds (that is how a retry learns
  what a lost first call did), so a redelivered member -- alone or with others, however its message
  is regrouped -- re-sends its own call, never a new one; past it the token means nothing, so the
  counts are read again and only a missing slot is added
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchAddClusterNodes.html).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from autoheal.core.batching import MAX_GROUPS_PER_ADD, MAX_NODES_PER_ADD
from autoheal.core.state import NodeState

#: BatchAddClusterNodes' ClientToken is valid for 8 hours.
TOKEN_TTL = timedelta(hours=8)
TOKEN_PREFIX = "autoheal-"


class RestoreStatus(StrEnum):
    PLANNED = "planned"  # token and target written; no add yet (or its outcome was lost)
    ADDED = "added"  # the add returned NodeLogicalIds: tracked until Running
    RUNNING = "running"  # every added node runs: restored
    NOT_NEEDED = "not_needed"  # the group was not below its target: nothing to add
    FAILED = "failed"  # the add failed (its ErrorCode in last_error_code), or the deadline passed


def new_token() -> str:
    """A fresh ClientToken (printable, <= 64 characters)."""
    return TOKEN_PREFIX + uuid.uuid4().hex


def token_valid(h: NodeState, now: datetime) -> bool:
    """Does a retry with the stored token still return the first call's nodes?"""
    return h.restore_at is None or now - h.restore_at < TOKEN_TTL


def pending(h: NodeState) -> bool:
    """A retire whose restore has not been resolved (no add outcome recorded yet)."""
    return h.restore_token is not None and h.restore_status in (None, RestoreStatus.PLANNED.value)


def tracking(h: NodeState) -> bool:
    """A restore whose added nodes are not all Running yet."""
    return h.restore_status == RestoreStatus.ADDED.value


@dataclass(frozen=True)
class AddCall:
    """One BatchAddClusterNodes call: its token, its exact NodesToAdd (in order: a retry must send the
    same parameters) and each member's slot, node key -> index among its group's returned ids."""

    token: str
    nodes_to_add: tuple[tuple[str, int], ...]
    slots: Mapping[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(n for _, n in self.nodes_to_add)


def stored_call(h: NodeState) -> AddCall | None:
    """The add call this member's record says was (or may have been) made, if any. A record written
    before adds were batched has no `restore_batch`: its call was one node of its group, under its
    own token."""
    if h.restore_token is None:
        return None
    if h.restore_batch and h.restore_slot is not None:
        return AddCall(h.restore_token, h.restore_batch, {h.node_key: h.restore_slot})
    if h.restore_at is not None and h.instance_group:
        return AddCall(h.restore_token, ((h.instance_group, 1),), {h.node_key: 0})
    return None


def plan_adds(
    members: Sequence[NodeState], counts: Mapping[str, int], token: Callable[[], str] = new_token
) -> tuple[list[AddCall], list[str]]:
    """The fewest add calls restoring these retires of one cluster (counts: each group's TargetCount
    now), and the node keys that need no add. A group gets back at most its lost slots:
    min(members, target before - target now); its first members by node key take them."""
    wanted: list[tuple[str, str]] = []  # (group, node key), grouped, in order
    not_needed: list[str] = []
    by_group: dict[str, list[NodeState]] = {}
    for h in members:
        by_group.setdefault(h.instance_group or "", []).append(h)
    for group in sorted(by_group):
        ordered = sorted(by_group[group], key=lambda h: h.node_key)
        before = max((h.restore_target for h in ordered if h.restore_target is not None), default=None)
        lost = 0 if before is None else max(0, before - counts.get(group, 0))
        wanted += [(group, h.node_key) for h in ordered[:lost]]
        not_needed += [h.node_key for h in ordered[lost:]]
    return _packed(wanted, token), not_needed


def _packed(wanted: Sequence[tuple[str, str]], token: Callable[[], str]) -> list[AddCall]:
    """(group, node key) pairs, grouped, into calls of <= 5 groups and <= 50 nodes."""
    calls: list[dict[str, list[str]]] = []
    for group, key in wanted:
        if not calls or _full(calls[-1], group):
            calls.append({})
        calls[-1].setdefault(group, []).append(key)
    return [
        AddCall(
            token(),
            tuple((g, len(keys)) for g, keys in call.items()),
            {k: i for keys in call.values() for i, k in enumerate(keys)},
        )
        for call in calls
    ]


def _full(call: Mapping[str, Sequence[str]], group: str) -> bool:
    """Would one more node of `group` break the call's limits?"""
    nodes = sum(len(keys) for keys in call.values())
    return nodes >= MAX_NODES_PER_ADD or (group not in call and len(call) >= MAX_GROUPS_PER_ADD)
