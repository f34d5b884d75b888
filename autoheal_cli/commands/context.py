"""What every command gets: clients, the resolved service, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoheal.adapters.attempts import Attempts
from autoheal.adapters.control import Breakers, Pauses
from autoheal.adapters.node_states import NodeStates
from autoheal.adapters.open_nodes import OpenNodes
from autoheal_cli.resolve import Service


@dataclass(frozen=True)
class Context:
    clients: Callable[[str], Any]
    service: Service
    now: Callable[[], datetime]

    def node_states(self) -> NodeStates:
        return NodeStates(self.clients("dynamodb"), self.service.require_table())

    def attempts(self) -> Attempts:
        return Attempts(self.clients("dynamodb"), self.service.require_table())

    def open_nodes(self) -> OpenNodes:
        return OpenNodes(self.clients("dynamodb"), self.service.require_table())

    def pauses(self) -> Pauses:
        return Pauses(self.clients("dynamodb"), self.service.require_table())

    def breakers(self) -> Breakers:
        return Breakers(self.clients("dynamodb"), self.service.require_table())
