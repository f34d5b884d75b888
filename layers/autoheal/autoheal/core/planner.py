"""Group planned actions into the fewest API requests the platform allows.

One request per (cluster, action, id kind) and per limit (25 nodes for reboot/replace, 50 for a
retire's delete): a storm of N faults on one cluster makes ceil(N / limit) calls per action, never N.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from autoheal.core.batching import (
    MAX_NODES_PER_DELETE,
    MAX_NODES_PER_REBOOT_OR_REPLACE,
    chunked,
    unique_in_order,
)
from autoheal.core.results import IdKind
from autoheal.policy import Action


def max_ids(action: Action) -> int:
    """How many nodes one request of `action` may name."""
    return MAX_NODES_PER_DELETE if action is Action.RETIRE else MAX_NODES_PER_REBOOT_OR_REPLACE


@dataclass(frozen=True)
class Target:
    """A resolved node the service is about to act on."""

    cluster: str  # what the API takes as ClusterName (name or ARN)
    node_key: str  # the ledger key: NodeLogicalId when known, else the instance id
    instance_id: str | None = None
    node_logical_id: str | None = None
    instance_group: str | None = None

    @property
    def id_kind(self) -> IdKind:
        """Instance ids work in every provisioning mode, so they are preferred when known."""
        return IdKind.NODE_ID if self.instance_id else IdKind.LOGICAL_ID

    @property
    def api_id(self) -> str:
        node = self.instance_id or self.node_logical_id
        if not node:
            raise ValueError(f"target {self.node_key} has no id to call the API with")
        return node


@dataclass(frozen=True)
class BatchRequest:
    """One mutating call: at most `max_ids(action)` ids of one kind, for one cluster and action."""

    cluster: str
    action: Action
    id_kind: IdKind
    ids: tuple[str, ...]

    def __post_init__(self) -> None:
        limit = max_ids(self.action)
        if not 1 <= len(self.ids) <= limit:
            raise ValueError(f"a {self.action} request takes 1-{limit} ids, got {len(self.ids)}")

    @property
    def requested(self) -> Mapping[IdKind, tuple[str, ...]]:
        return {self.id_kind: self.ids}


def plan_requests(planned: Iterable[tuple[Target, Action]]) -> list[BatchRequest]:
    """Requests for the planned (target, action) pairs, grouped and split at each action's limit."""
    groups: dict[tuple[str, Action, IdKind], list[str]] = {}
    for target, action in planned:
        groups.setdefault((target.cluster, action, target.id_kind), []).append(target.api_id)
    return [
        BatchRequest(cluster=cluster, action=action, id_kind=kind, ids=tuple(chunk))
        for (cluster, action, kind), ids in groups.items()
        for chunk in chunked(unique_in_order(ids), max_ids(action))
    ]
