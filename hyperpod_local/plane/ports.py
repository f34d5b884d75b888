"""Where the control plane meets moto, as types on neither side: the store of clusters it reads
(moto's SageMaker backend) and the one method the moto extension calls on it.

:mod:`hyperpod_local.plane._moto` implements :class:`ClusterSource` over moto and calls an
:class:`ActionServer` (the :class:`~hyperpod_local.plane.control.ControlPlane`); keeping the types here
lets the control plane stay free of moto imports, ``_moto`` free of the control plane, and the guard
test check exactly the moto attributes listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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


class ActionServer(Protocol):
    """Answers one SageMaker action with its parsed parameters (what the moto extension calls)."""

    def serve(
        self,
        action: str,
        scope: Scope,
        params: Mapping[str, Any],
        create_in_backend: Callable[[], object] | None = None,
    ) -> dict[str, Any]: ...
