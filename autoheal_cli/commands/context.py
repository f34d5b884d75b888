"""What every command gets: clients, the resolved service, and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from autoheal.adapters.ledger import Ledger
from autoheal.adapters.switches import Switches
from autoheal_cli.resolve import Service


@dataclass(frozen=True)
class Context:
    clients: Callable[[str], Any]
    service: Service
    now: Callable[[], datetime]

    def ledger(self) -> Ledger:
        return Ledger(self.clients("dynamodb"), self.service.require_table())

    def switches(self) -> Switches:
        return Switches(self.clients("dynamodb"), self.service.require_table())
