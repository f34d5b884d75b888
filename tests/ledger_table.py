"""Every ledger-table adapter over one client and table, for tests that check several record kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoheal.adapters.attempts import Attempts
from autoheal.adapters.control import Breakers, Cooldowns, Pauses
from autoheal.adapters.node_states import NodeStates
from autoheal.adapters.open_nodes import OpenNodes


@dataclass(frozen=True)
class LedgerTable:
    name: str
    states: NodeStates
    attempts: Attempts
    open_nodes: OpenNodes
    pauses: Pauses
    breakers: Breakers
    cooldowns: Cooldowns

    @classmethod
    def of(cls, client: Any, table_name: str) -> LedgerTable:
        return cls(
            name=table_name,
            states=NodeStates(client, table_name),
            attempts=Attempts(client, table_name),
            open_nodes=OpenNodes(client, table_name),
            pauses=Pauses(client, table_name),
            breakers=Breakers(client, table_name),
            cooldowns=Cooldowns(client, table_name),
        )
