"""The mutating remediations the service can ask HyperPod for: a name only, so that whatever needs it
(node state, notifications, settings) does not import the policy model and everything it is built from."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """A mutating remediation the service can ask HyperPod for."""

    REBOOT = "reboot"
    REPLACE = "replace"
    RETIRE = "retire"  # BatchDeleteClusterNodes, then BatchAddClusterNodes restores the group's size
