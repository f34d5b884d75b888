"""Names reserved for `autoheal selftest`: its event source and the cluster names it may use.

The self-test publishes a Node Health Event from `SELFTEST_SOURCE` naming a cluster called
`RESERVED_CLUSTER_PREFIX` + random characters, which cannot exist, so that the deployed stack's wiring
is exercised end to end and nothing can be acted on. Anyone allowed `events:PutEvents` can send such an
event, so the prefix is enforced three times: the EventBridge rule matches the source only with a
reserved cluster name (template.yaml, `IntakeFunction` `HyperPodEvents`), intake ignores and counts a
self-test event naming any other cluster, and remediate's guards never act on a cluster whose name has
the prefix. Do not give a real HyperPod cluster a name that starts with it.

Pure: no imports, so that the decision core may use it.
"""

from __future__ import annotations

#: The custom EventBridge source of self-test events (custom PutEvents cannot use `aws.*` sources).
SELFTEST_SOURCE = "autoheal.selftest"
#: Cluster names that start with this are reserved for self-tests: nothing is ever done to them.
RESERVED_CLUSTER_PREFIX = "autoheal-selftest-"


def is_reserved_cluster(name: str | None) -> bool:
    """True for a cluster name reserved for self-tests (an ARN or None is not a name: False)."""
    return name is not None and name.startswith(RESERVED_CLUSTER_PREFIX)
