"""What the control plane needs from the store of clusters (moto's SageMaker backend).

:mod:`hyperpod_local._moto` implements these protocols over moto; keeping them here lets the control
plane stay free of moto imports, and the guard test check exactly the moto attributes listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Scope:
    """The account and region a request was addressed to."""

    account_id: str
    region: str


class RawCluster(Protocol):
    """The attributes of moto's ``Cluster`` the control plane reads or writes."""

    cluster_name: str
    arn: str
    status: str
    instance_groups: list[dict[str, Any]]
    nodes: dict[str, Any]
    tags: list[dict[str, str]]

    def describe(self) -> dict[str, Any]: ...


class ClusterSource(Protocol):
    """Finds, enumerates and deletes moto clusters."""

    def lookup(self, scope: Scope, name_or_arn: str) -> RawCluster | None: ...

    def all_clusters(self) -> Iterable[tuple[Scope, RawCluster]]: ...

    def delete(self, scope: Scope, name: str) -> None: ...
