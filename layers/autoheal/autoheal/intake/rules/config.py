"""The settings intake's rules read, one small config per rule that reads any.

Apart from the rules themselves so that building them (`autoheal.intake.wiring.rule_config`) imports no
rule module: each rule, and the models it reads, loads on the first event of its kind.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The alarm name prefix that marks an alarm as meant for intake (`AUTOHEAL_ALARM_NAME_PREFIX`'s default).
NAME_PREFIX = "autoheal:"


@dataclass(frozen=True)
class AlarmRuleConfig:
    """The settings the alarm rules read: which alarms are meant for intake, and the metric dimensions
    that name the node and its cluster."""

    node_dimension: str
    cluster_dimension: str
    name_prefix: str = NAME_PREFIX
    operational_prefix: str = ""  # "<stack>-": this stack's own alarms; empty: none known


@dataclass(frozen=True)
class HmaRuleConfig:
    """The setting the HMA rule reads: Xids that are the application's, not the node's."""

    ignored_xids: frozenset[int]


@dataclass(frozen=True)
class RuleConfig:
    """The settings intake's rules read, one small config per rule that reads any."""

    alarm: AlarmRuleConfig
    hma: HmaRuleConfig
