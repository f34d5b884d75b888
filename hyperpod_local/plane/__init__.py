"""A local HyperPod control plane on top of moto. It never imports the service nor the demo.

Public surface:

* :class:`LocalAws` - moto's threaded server on loopback with the control plane installed;
  :func:`in_process` - the same control plane without a server, for ``moto.mock_aws()``.
* :class:`ControlPlane` - the control plane and its test handle (time, call log, fault injection).
* :class:`ControlPlaneClock`, :class:`NodeTimings` - simulated time and operation durations.
* :func:`create_cluster`, :class:`GroupSpec`, :class:`ClusterFixture`, :class:`CreatedNode` - realistic
  clusters created through a real boto3 client.
* :class:`BatchCall`, :class:`ClusterEvent`, :class:`NodeView` - snapshots for assertions.

Inside: :mod:`~.control` (the two faces behind one lock), :mod:`~.api` (the SageMaker actions) and
:mod:`~.batches` (its Batch*ClusterNodes actions), :mod:`~.lifecycle`, :mod:`~.registry`, :mod:`~.model`,
:mod:`~.validation`, :mod:`~.pagination`, :mod:`~.faults`, :mod:`~.calls`, :mod:`~.clock`, :mod:`~.ids`,
:mod:`~.errors`; :mod:`~.ports` (what it needs from moto) and :mod:`~._moto` (the only module touching
moto internals); :mod:`~.server`.
"""

from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.clusters import ClusterFixture, CreatedNode, GroupSpec, create_cluster
from hyperpod_local.plane.control import ControlPlane
from hyperpod_local.plane.model import BatchCall, ClusterEvent, NodeTimings, NodeView
from hyperpod_local.plane.server import LocalAws, in_process

__all__ = [
    "BatchCall",
    "ClusterEvent",
    "ClusterFixture",
    "ControlPlane",
    "ControlPlaneClock",
    "CreatedNode",
    "GroupSpec",
    "LocalAws",
    "NodeTimings",
    "NodeView",
    "create_cluster",
    "in_process",
]
