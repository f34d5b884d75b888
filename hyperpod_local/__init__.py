"""A local HyperPod control plane on top of moto (tests and demo only; never in the Lambda layer).

Public surface:

* :class:`LocalAws` - moto's threaded server on loopback with the control plane installed;
  :func:`in_process` - the same control plane without a server, for ``moto.mock_aws()``.
* :class:`ControlPlane` - the control plane and its test handle (time, call log, fault injection).
* :class:`ControlPlaneClock`, :class:`NodeTimings` - simulated time and operation durations.
* :func:`create_cluster`, :class:`GroupSpec`, :class:`ClusterFixture`, :class:`NodeRef` - realistic
  clusters created through a real boto3 client.
* :class:`BatchCall`, :class:`ClusterEvent`, :class:`NodeView` - snapshots for assertions.
"""

from hyperpod_local.clock import ControlPlaneClock
from hyperpod_local.control import ControlPlane
from hyperpod_local.fixtures import ClusterFixture, GroupSpec, NodeRef, create_cluster
from hyperpod_local.model import BatchCall, ClusterEvent, NodeTimings, NodeView
from hyperpod_local.server import LocalAws, in_process

__all__ = [
    "BatchCall",
    "ClusterEvent",
    "ClusterFixture",
    "ControlPlane",
    "ControlPlaneClock",
    "GroupSpec",
    "LocalAws",
    "NodeRef",
    "NodeTimings",
    "NodeView",
    "create_cluster",
    "in_process",
]
