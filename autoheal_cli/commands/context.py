"""What every command gets: clients, the resolved service, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.control import LedgerBreakers, LedgerPauses
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.open_nodes import LedgerOpenNodes
from autoheal_cli.resolve import Service


@dataclass(frozen=True)
class Context:
    clients: Callable[[str], Any]
    service: Service
    now: Callable[[], datetime]

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
