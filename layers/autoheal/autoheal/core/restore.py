"""The retire rung's restore, pure: how many nodes to add, the ClientToken, where a restore stands.

A retire deletes a lemon with BatchDeleteClusterNodes; its restore adds a fresh node to the same
instance group with BatchAddClusterNodes, so the cluster is not left short. Rules:

- **never overshoot**: the group's TargetCount is read before the retire (kept in the ledger) and
  again before the add; a restore adds `min(1, target before - target now)` (one slot per retired
  node; 0 when the delete did not lower the target -- Continuous provisioning then refills the slot
  itself -- or when an earlier add already restored it);
- **one token per retire record**, generated with the claim and written before any call, reused on
  every retry: within `TOKEN_TTL` the same token and parameters return the same NodeLogicalIds (that
  is how a retry learns what a lost first call did); past it the token means nothing, so the counts
  are read again and only a missing slot is added
  (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BatchAddClusterNodes.html).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

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


def nodes_to_add(target_before: int | None, target_now: int) -> int:
    """How many nodes this retire's restore adds: its one slot, if the group is still below the
    target it had before the retire."""
    if target_before is None:
        return 0
    return max(0, min(1, target_before - target_now))


def token_valid(h: NodeState, now: datetime) -> bool:
    """Does a retry with the stored token still return the first call's nodes?"""
    return h.restore_at is None or now - h.restore_at < TOKEN_TTL


def pending(h: NodeState) -> bool:
    """A retire whose restore has not been resolved (no add outcome recorded yet)."""
    return h.restore_token is not None and h.restore_status in (None, RestoreStatus.PLANNED.value)


def tracking(h: NodeState) -> bool:
    """A restore whose added nodes are not all Running yet."""
    return h.restore_status == RestoreStatus.ADDED.value
