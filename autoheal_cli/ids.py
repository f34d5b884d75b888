"""Operator-supplied ids, checked with the SageMaker API patterns the service uses (`autoheal.faults`)."""

from __future__ import annotations

from autoheal.faults import CLUSTER_ARN_RE, CLUSTER_NAME_RE, INSTANCE_ID_RE, LOGICAL_ID_RE
from autoheal_cli.errors import CliError

LOGICAL_ID_MAX = 128
_SHOWN = 80


def node_ref(value: str) -> str:
    """A NodeLogicalId or an EC2 instance id."""
    if INSTANCE_ID_RE.fullmatch(value) or (len(value) <= LOGICAL_ID_MAX and LOGICAL_ID_RE.fullmatch(value)):
        return value
    raise CliError(f"not a NodeLogicalId or EC2 instance id: {value[:_SHOWN]!r}")


def is_instance_id(value: str) -> bool:
    return INSTANCE_ID_RE.fullmatch(value) is not None


def cluster_ref(value: str | None) -> str | None:
    """A HyperPod cluster name or ARN (None passes: no cluster given)."""
    if value is None or CLUSTER_NAME_RE.fullmatch(value) or CLUSTER_ARN_RE.fullmatch(value):
        return value
    raise CliError(f"not a HyperPod cluster name or ARN: {value[:_SHOWN]!r}")
