"""``ControlPlane``: the local HyperPod control plane and its test handle.

Two faces behind one re-entrant lock, so the threaded moto server and concurrent test workers always
see one consistent state:

* :meth:`ControlPlane.serve` answers SageMaker cluster actions for the moto extension (behaviour and
  error choices are documented in :mod:`hyperpod_local.plane.api` and, for the node batches,
  :mod:`hyperpod_local.plane.batches`, lifecycles in :mod:`hyperpod_local.plane.lifecycle`, limits in
  :mod:`hyperpod_local.plane.validation`);
* the test handle: simulated time (:meth:`~ControlPlane.advance`), observation
  (:attr:`~ControlPlane.calls`, :meth:`~ControlPlane.node`, :meth:`~ControlPlane.nodes`,
  :meth:`~ControlPlane.events`) and knobs (:meth:`~ControlPlane.set_busy`,
  :meth:`~ControlPlane.set_status`, :meth:`~ControlPlane.inject_entry_error`,
  :meth:`~ControlPlane.throttle`, :meth:`~ControlPlane.fail_calls`, :meth:`~ControlPlane.set_capacity`,
  :meth:`~ControlPlane.capacity_shortage`,
  ...).

Test-handle methods name clusters by name or ARN and nodes by instance id or NodeLogicalId, and
raise ``KeyError`` for unknown ones. Snapshots they return are frozen; mutating state goes through
the knobs only.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from hyperpod_local.plane._moto import MotoClusters
from hyperpod_local.plane.api import ClusterApi
from hyperpod_local.plane.calls import CallLog
from hyperpod_local.plane.clock import ControlPlaneClock
from hyperpod_local.plane.faults import FaultInjector
from hyperpod_local.plane.ids import IdFactory
from hyperpod_local.plane.lifecycle import Lifecycle
from hyperpod_local.plane.model import (
    BatchCall,
    ClusterEvent,
    ClusterState,
    InstanceStatus,
    LocalNode,
    NodeTimings,
    NodeView,
)
from hyperpod_local.plane.ports import ClusterSource, Scope
from hyperpod_local.plane.registry import ClusterRegistry

NODE_RECOVERY_VALUES = ("Automatic", "None")


class ControlPlane:
    """State and behaviour of the local HyperPod control plane (thread-safe).

    Args:
        clock: simulated time; real time by default (``ControlPlaneClock.frozen()`` for tests,
            ``ControlPlaneClock(scale=60)`` for a demo where a minute passes each second).
        timings: durations of node operations (simulated seconds).
        seed: seed for instance ids, logical ids, cluster ids, addresses (``None``: random).
        source: where clusters live; moto's SageMaker backend by default.
    """

    def __init__(
        self,
        *,
        clock: ControlPlaneClock | None = None,
        timings: NodeTimings | None = None,
        seed: int | None = None,
        source: ClusterSource | None = None,
    ) -> None:
        self.clock = clock or ControlPlaneClock()
        self.timings = timings or NodeTimings()
        self._source = source or MotoClusters()
        self._seed = seed
        self._lock = threading.RLock()
        self._build()

    def _build(self) -> None:
        ids = IdFactory(self._seed)
        self._lifecycle = Lifecycle(self.timings, ids)
        self._registry = ClusterRegistry(self._source, self._lifecycle, ids, self.clock)
        self._faults = FaultInjector()
        self._calls = CallLog(self.clock)
        self._api = ClusterApi(
            clock=self.clock,
            registry=self._registry,
            lifecycle=self._lifecycle,
            faults=self._faults,
            calls=self._calls,
        )

    # ============================================================================ serving

    def serve(
        self,
        action: str,
        scope: Scope,
        params: Mapping[str, Any],
        create_in_backend: Callable[[], object] | None = None,
    ) -> dict[str, Any]:
        """Answer one SageMaker action (e.g. ``"BatchReplaceClusterNodes"``) with parsed ``params``.

        Raises :class:`~hyperpod_local.plane.errors.ApiError` for whole-request errors.
        """
        with self._lock:
            return self._api.serve(action, scope, params, create_in_backend)

    # ============================================================================== time

    def advance(self, seconds: float) -> None:
        """Move simulated time forward and apply every transition that became due."""
        with self._lock:
            self.clock.advance(seconds)
            self._registry.all()

    def now(self) -> datetime:
        return self.clock.now()

    # ======================================================================= observation

    @property
    def calls(self) -> list[BatchCall]:
        """Every Batch* request received since the last reset, oldest first (a copy)."""
        with self._lock:
            return self._calls.snapshot()

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def node(self, ref: str, cluster: str | None = None) -> NodeView:
        """Snapshot of the node whose instance id or NodeLogicalId is ``ref``.

        A replaced node is found by its new instance id or its NodeLogicalId, not its old id.
        """
        with self._lock:
            state, node = self._registry.find_node(ref, cluster)
            return self._view(state, node)

    def nodes(self, cluster: str) -> list[NodeView]:
        """Snapshots of every node of ``cluster``, in creation order."""
        with self._lock:
            state = self._registry.find(cluster)
            return [self._view(state, node) for node in state.nodes.values()]

    def events(self, cluster: str | None = None) -> list[ClusterEvent]:
        """Cluster events (fields of ClusterEventDetail) of one or all clusters, by event time."""
        with self._lock:
            states = [self._registry.find(cluster)] if cluster is not None else self._registry.all()
            return sorted((event for state in states for event in state.events), key=lambda e: e.event_time)

    # ============================================================================= knobs

    def set_busy(self, ref: str, seconds: float, reason: str = "replacement") -> None:
        """Make a node answer ``InstanceIdInUse``/``NodeIdInUse`` for ``seconds`` of simulated time.

        Models an operation the caller did not start (e.g. HyperPod's own recovery, or the stuck
        internal replacement seen with ``NodeRecovery=None``); the node's status is unchanged.
        """
        with self._lock:
            _, node = self._registry.find_node(ref)
            now = self.clock.now()
            node.busy_since, node.busy_until, node.busy_reason = now, now + timedelta(seconds=seconds), reason

    def set_status(self, ref: str, status: str, message: str = "") -> None:
        """Force a node's InstanceStatus: any ``ClusterInstanceStatus`` value (e.g. ``Failure``,
        ``DeepHealthCheckInProgress``, ``DetachInProgress``, ``NotFound``); ``ValueError`` for others.

        An operation in progress is not cancelled: its next transition overrides this status. Batch*
        entries answer by the status: a ``NotFound`` node is not found, any other status but the
        action's own (see :mod:`~hyperpod_local.plane.batches`) is an invalid status.
        """
        with self._lock:
            _, node = self._registry.find_node(ref)
            node.status = InstanceStatus(status)
            node.status_message = message

    def inject_entry_error(self, ref: str, code: str, times: int = 1, message: str | None = None) -> None:
        """Fail the next ``times`` Batch* entries naming this node with per-entry ``code``.

        ``ref`` is an instance id or NodeLogicalId; an existing node also matches by its other id,
        and keeps matching after a replacement. The code goes verbatim into ``ErrorCode`` (or
        ``Code`` for BatchDelete); the node itself is untouched.
        """
        with self._lock:
            refs = {ref}
            with contextlib.suppress(KeyError):  # an id no node has: matched literally
                refs.add(self._registry.find_node(ref)[1].logical_id)
            self._faults.add_entry_error(frozenset(refs), code, times, message)

    def fail_calls(
        self,
        cluster: str,
        code: str,
        *,
        actions: tuple[str, ...] | None = None,
        times: int | None = None,
        message: str | None = None,
    ) -> None:
        """Answer requests naming ``cluster`` (by name or ARN) with a whole-request error ``code``
        (e.g. ``AccessDeniedException``), for ``actions`` (e.g. ``("ListClusterNodes",)``; None: every
        action), the next ``times`` requests or until :meth:`stop_failing_calls`. Other clusters are
        untouched."""
        with self._lock:
            state = self._registry.find(cluster)
            self._faults.add_call_error(
                frozenset({state.name, state.arn}),
                code,
                frozenset(actions) if actions is not None else None,
                times,
                message,
            )

    def stop_failing_calls(self, cluster: str) -> None:
        """Forget the errors injected with :meth:`fail_calls` for ``cluster``."""
        with self._lock:
            state = self._registry.find(cluster)
            self._faults.clear_call_errors(frozenset({state.name, state.arn}))

    def throttle(self, rate: float, seed: int = 0) -> None:
        """Answer a fraction ``rate`` (0..1) of Batch* calls with ``ThrottlingException``; 0 stops it."""
        with self._lock:
            self._faults.set_throttle(rate, seed)

    def set_capacity(self, cluster: str, group: str, count: int | None) -> None:
        """Allow ``count`` more instance launches (replacements, additions) in a group; None = unlimited."""
        if count is not None and count < 0:
            raise ValueError("count must be >= 0 or None")
        with self._lock:
            self._registry.find_group(cluster, group).capacity = count

    def capacity_shortage(self, cluster: str, group: str, seconds: float) -> None:
        """A capacity shortage in a group for ``seconds`` from now (0 ends it): nodes added by
        BatchAddClusterNodes stay ``Pending`` until it ends, then run (Continuous mode keeps retrying)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            until = self.clock.now() + timedelta(seconds=seconds)
            self._registry.find_group(cluster, group).shortage_until = until if seconds else None

    def set_group_status(self, cluster: str, group: str, status: str) -> None:
        """Set an instance group's Status; BatchAdd answers InvalidInstanceGroupStatus unless InService."""
        with self._lock:
            self._registry.find_group(cluster, group).status = status

    def set_cluster_status(self, cluster: str, status: str) -> None:
        """Set ClusterStatus (e.g. ``Updating``, ``SystemUpdating``) as DescribeCluster reports it."""
        with self._lock:
            self._registry.find(cluster).backend_cluster.status = status

    def set_node_recovery(self, cluster: str, node_recovery: str) -> None:
        """Set NodeRecovery (``Automatic`` | ``None``) as DescribeCluster reports it."""
        if node_recovery not in NODE_RECOVERY_VALUES:
            raise ValueError(f"node_recovery must be one of {NODE_RECOVERY_VALUES}")
        with self._lock:
            self._registry.find(cluster).node_recovery = node_recovery

    def reset(self) -> None:
        """Forget all control-plane state (cluster extras, calls, faults, id sequence); restart the clock.

        moto's own state is reset separately: ``LocalAws.reset()`` does both, which is what tests want.
        """
        with self._lock:
            self.clock.restart()
            self._build()

    # ========================================================================= internals

    def _view(self, state: ClusterState, node: LocalNode) -> NodeView:
        return NodeView(
            cluster_name=state.name,
            instance_group_name=node.instance_group_name,
            node_type=state.groups[node.instance_group_name].node_type,
            logical_id=node.logical_id,
            instance_id=node.instance_id,
            status=node.status.value,
            status_message=node.status_message,
            instance_type=node.instance_type,
            launch_time=node.launch_time,
            busy=node.is_busy(self.clock.now()),
            operation=node.operation.kind.value if node.operation is not None else None,
        )
