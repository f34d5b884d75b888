"""Every ledger-table adapter over one client and table, for tests that check several record kinds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autoheal.adapters.attempts import LedgerAttempts
from autoheal.adapters.control import LedgerBreakers, LedgerCooldowns, LedgerPauses
from autoheal.adapters.node_states import LedgerNodeStates
from autoheal.adapters.open_nodes import LedgerOpenNodes


@dataclass(frozen=True)
class LedgerTable:
    name: str
    states: LedgerNodeStates
    attempts: LedgerAttempts
    open_nodes: LedgerOpenNodes
    pauses: LedgerPauses
    breakers: LedgerBreakers
    cooldowns: LedgerCooldowns

    @classmethod
    def of(cls, client: Any, table_name: str) -> LedgerTable:
        return cls(
            name=table_name,
            states=LedgerNodeStates(client, table_name),
            attempts=LedgerAttempts(client, table_name),
            open_nodes=LedgerOpenNodes(client, table_name),
            pauses=LedgerPauses(client, table_name),
            breakers=LedgerBreakers(client, table_name),
            cooldowns=LedgerCooldowns(client, table_name),
        )
