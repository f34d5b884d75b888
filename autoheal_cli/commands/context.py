"""What every command gets: clients, the resolved service, and the clock; and the two look-ups every
steering command shares: which cluster a reference names, and who is asking."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from autoheal.adapters.approvals import LedgerApprovals
from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.control import LedgerBreakers, LedgerCooldowns, LedgerPauses
from autoheal.adapters.directory import ClusterInfo, ClusterNotFound, NodeDirectory
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal_cli import ids
from autoheal_cli.errors import EXIT_NOT_FOUND, CliError
from autoheal_cli.resolve import Service


@dataclass(frozen=True)
class Context:
    clients: Callable[[str], Any]
    service: Service
    now: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep  # how a command waits (`selftest`; tests pass their own)
    _clusters: dict[str, ClusterInfo] = field(default_factory=dict, compare=False, repr=False)

    def node_states(self) -> LedgerNodeStates:
        return LedgerNodeStates(self.clients("dynamodb"), self.service.require_table())

    def attempts(self) -> LedgerAttempts:
        return LedgerAttempts(self.clients("dynamodb"), self.service.require_table())

    def open_nodes(self) -> LedgerOpenNodes:
        return LedgerOpenNodes(self.clients("dynamodb"), self.service.require_table())

    def pauses(self) -> LedgerPauses:
        return LedgerPauses(self.clients("dynamodb"), self.service.require_table())

    def breakers(self) -> LedgerBreakers:
        return LedgerBreakers(self.clients("dynamodb"), self.service.require_table())

    def cooldowns(self) -> LedgerCooldowns:
        return LedgerCooldowns(self.clients("dynamodb"), self.service.require_table())

    def approvals(self) -> LedgerApprovals:
        return LedgerApprovals(self.clients("dynamodb"), self.service.require_table())

    def cluster_info(self, ref: str) -> ClusterInfo:
        """The cluster a name or ARN names (DescribeCluster, once per reference per run). A cluster
        that does not exist is an error with exit code 1."""
        checked = ids.cluster_ref(ref)
        assert checked is not None
        if checked not in self._clusters:
            try:
                self._clusters[checked] = NodeDirectory(self.clients("sagemaker")).info(checked)
            except ClusterNotFound as exc:
                raise CliError(f"cluster {checked!r} not found (DescribeCluster)", EXIT_NOT_FOUND) from exc
        return self._clusters[checked]

    def cluster(self, ref: str | None) -> str | None:
        """The canonical key of a cluster reference: its name (an ARN is resolved with DescribeCluster,
        the same rule as the functions'). None passes: no cluster given."""
        return None if ref is None else self.cluster_info(ref).name

    def caller(self) -> str:
        """Who is asking, for the record: the ARN STS GetCallerIdentity returns for the credentials."""
        return str(self.clients("sts").get_caller_identity()["Arn"])
