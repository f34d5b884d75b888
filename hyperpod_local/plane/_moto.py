"""The only module touching moto internals (moto==5.2.5, guarded by tests/integration/test_moto_guard.py).

What it relies on:

* ``moto.sagemaker.responses.SageMakerResponse`` dispatches each request by looking up the snake_case
  action name among the *class's* functions at request time, with the parameters already parsed from
  the installed botocore model into ``self.params`` (``automated_parameter_parsing``); so functions
  set on the class answer calls moto lacks (the four Batch* calls) and replace the ones it gets
  wrong, both in-process (``mock_aws``) and in a ``ThreadedMotoServer`` in the same process.
* Such a function may return an ``ActionResult(dict)`` (serialised against the operation's output
  shape) or a ``(body, headers)`` tuple (sent as is, status from ``headers["status"]``); a moto
  ``ServiceException`` it lets through (moto's own CreateCluster validation) becomes an AWS error.
* ``moto.sagemaker.models.sagemaker_backends[account][region].clusters`` maps cluster name -> moto
  ``Cluster`` with ``cluster_name``, ``arn``, ``status``, ``instance_groups``, ``nodes`` and
  ``describe()``; moto's CreateCluster fills ``nodes`` with one ``ClusterNode`` per instance.

* ``moto.sagemaker.models.Cluster.__init__`` checks each instance group's type with the method
  ``valid_cluster_node_instance_types``, against a hard-coded list that lacks today's fleets
  (``ml.p5en.48xlarge``, ``ml.p6-b200.48xlarge``, ``ml.trn2.48xlarge``, ...). While installed, that
  method accepts everything: the control plane checks the types against the installed botocore model
  before moto creates the cluster (:func:`~hyperpod_local.plane.validation.validate_create_cluster`).

Patched actions: create_cluster (hook: adopt the new cluster), delete_cluster (accepts the ARN),
describe_cluster, describe_cluster_node, list_cluster_nodes, and the four Batch* calls.

SQS and EventBridge: ``moto.sqs.models`` and ``moto.events.models`` read the time through their module
globals ``unix_time`` and ``unix_time_millis`` (delays, visibility timeouts, long polls, retention; a
PutEvents entry's default ``time``); :func:`install_service_clock` points them at the control plane's
clock, so that a scaled local stack's queues and bus keep its time.

EventBridge: moto's ``TestEventPattern`` answers nothing (``EventsHandler.test_event_pattern`` returns
an empty body); it is answered with moto's own rule matcher, ``moto.events.models.EventPattern`` (what
``PutEvents`` matches rules with), so that a pattern tested and a rule's delivery agree locally.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from moto.core.responses import ActionResult
from moto.events.models import EventPattern
from moto.events.responses import EventsHandler
from moto.sagemaker.models import Cluster, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from hyperpod_local.plane.errors import ApiError, ValidationException
from hyperpod_local.plane.ports import ActionServer, RawCluster, Scope

RESPONSE_CLASS = SageMakerResponse
PATCHED_ACTIONS = {  # response-class method name -> SageMaker operation
    "create_cluster": "CreateCluster",
    "delete_cluster": "DeleteCluster",
    "describe_cluster": "DescribeCluster",
    "describe_cluster_node": "DescribeClusterNode",
    "list_cluster_nodes": "ListClusterNodes",
    "batch_reboot_cluster_nodes": "BatchRebootClusterNodes",
    "batch_replace_cluster_nodes": "BatchReplaceClusterNodes",
    "batch_delete_cluster_nodes": "BatchDeleteClusterNodes",
    "batch_add_cluster_nodes": "BatchAddClusterNodes",
    "list_tags": "ListTags",  # clusters only; other resources go to moto
}

_install_lock = threading.Lock()
_installed: ActionServer | None = None
_originals: dict[str, Any] = {}
#: moto's Cluster method that checks an instance type against moto's own list (see the module doc).
INSTANCE_TYPE_CHECK = "valid_cluster_node_instance_types"
_events_original: dict[str, Any] = {}

ERROR_HTTP_STATUS = 400

_Response = ActionResult | tuple[str, dict[str, Any]]  # what a response-class method may return
_Handler = Callable[[Any], _Response]


class MotoClusters:
    """:class:`~hyperpod_local.plane.ports.ClusterSource` over moto's SageMaker backends."""

    def lookup(self, scope: Scope, name_or_arn: str) -> RawCluster | None:
        clusters: dict[str, Any] = sagemaker_backends[scope.account_id][scope.region].clusters
        if name_or_arn.startswith("arn:"):
            return next((cluster for cluster in clusters.values() if cluster.arn == name_or_arn), None)
        cluster: RawCluster | None = clusters.get(name_or_arn)
        return cluster

    def all_clusters(self) -> Iterator[tuple[Scope, RawCluster]]:
        for account_id, per_region in list(sagemaker_backends.items()):
            for region, backend in list(per_region.items()):
                for cluster in list(backend.clusters.values()):
                    yield Scope(account_id, region), cluster

    def delete(self, scope: Scope, name: str) -> None:
        del sagemaker_backends[scope.account_id][scope.region].clusters[name]


def install(control: ActionServer) -> None:
    """Answer the patched SageMaker actions with ``control`` (process-wide; one control plane at a time)."""
    global _installed
    with _install_lock:
        if _installed is not None:
            raise RuntimeError("a ControlPlane is already installed in this process; uninstall() it first")
        for method_name, operation in PATCHED_ACTIONS.items():
            original = RESPONSE_CLASS.__dict__.get(method_name)
            _originals[method_name] = original
            setattr(RESPONSE_CLASS, method_name, _handler(control, operation, original))
        _originals[INSTANCE_TYPE_CHECK] = Cluster.__dict__[INSTANCE_TYPE_CHECK]
        setattr(Cluster, INSTANCE_TYPE_CHECK, _any_instance_type)
        _events_original["test_event_pattern"] = EventsHandler.__dict__.get("test_event_pattern")
        setattr(EventsHandler, "test_event_pattern", _test_event_pattern)  # noqa: B010
        _installed = control


def uninstall() -> None:
    """Restore moto's own SageMaker actions."""
    global _installed
    with _install_lock:
        check = _originals.pop(INSTANCE_TYPE_CHECK, None)
        if check is not None:
            setattr(Cluster, INSTANCE_TYPE_CHECK, check)
        for action, original in _originals.items():
            if original is None:
                delattr(RESPONSE_CLASS, action)
            else:
                setattr(RESPONSE_CLASS, action, original)
        _originals.clear()
        for action, original in _events_original.items():
            if original is not None:
                setattr(EventsHandler, action, original)
        _events_original.clear()
        _installed = None


def _any_instance_type(self: Any, instance_type: str) -> None:
    """moto's instance-type check, switched off: the control plane validated the request already."""


def _test_event_pattern(self: Any) -> str:
    """TestEventPattern with moto's rule matcher: ``{"Result": bool}``."""
    pattern = EventPattern.load(self._get_param("EventPattern"))
    event = json.loads(self._get_param("Event"))
    return json.dumps({"Result": bool(pattern.matches_event(event))})


#: moto modules that read the time through their own `unix_time` / `unix_time_millis` globals.
CLOCKED_MODULES = ("moto.sqs.models", "moto.events.models")
_CLOCK_NAMES = ("unix_time", "unix_time_millis")
_clock_originals: dict[tuple[str, str], Any] = {}


def install_service_clock(now: Callable[[], float]) -> None:
    """moto's SQS and EventBridge on `now` (epoch seconds, e.g. the control plane clock's) until
    :func:`uninstall_service_clock`: message delays, visibility timeouts, long polls and an event's
    default ``time`` then follow a scaled local stack's clock."""
    import importlib

    from moto.core.utils import unix_time as moto_unix_time

    def unix_time(dt: Any = None) -> float:  # moto's signature: the time of `dt`, else now
        return moto_unix_time(dt) if dt is not None else now()

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    with _install_lock:
        if _clock_originals:
            raise RuntimeError("a service clock is already installed in this process")
        for name in CLOCKED_MODULES:
            module = importlib.import_module(name)
            found: dict[str, Any] = vars(module)  # moto does not re-export the names it imported
            for attribute, replacement in zip(_CLOCK_NAMES, (unix_time, unix_time_millis), strict=True):
                _clock_originals[(name, attribute)] = found[attribute]
                setattr(module, attribute, replacement)


def uninstall_service_clock() -> None:
    import importlib

    with _install_lock:
        for (name, attribute), original in _clock_originals.items():
            setattr(importlib.import_module(name), attribute, original)
        _clock_originals.clear()


def installed_control() -> ActionServer | None:
    return _installed


def _answer(produce: Callable[[], dict[str, Any]]) -> _Response:
    """Serialise a result with moto's serialiser, or an :class:`ApiError` as an AWS JSON 1.1 error.

    Errors are rendered here rather than raised as moto ``ServiceException``s: moto's serialiser
    looks the code up among SageMaker's modelled errors and warns on ``ThrottlingException``, which
    the real service sends but does not model. The body is what AWS sends and botocore parses:
    ``{"__type": code, "message": ...}`` with HTTP 400 and ``x-amzn-ErrorType``.
    """
    try:
        return ActionResult(produce())
    except ApiError as error:
        body = json.dumps({"__type": error.code, "message": error.message})
        headers = {
            "status": ERROR_HTTP_STATUS,
            "content-type": "application/x-amz-json-1.1",
            "x-amzn-ErrorType": error.code,
        }
        return body, headers


def _handler(control: ActionServer, operation: str, original: _Handler | None) -> _Handler:
    """A function to set on the response class: parsed parameters in, control plane's answer out."""

    def handler(self: Any) -> _Response:
        create_in_backend: Callable[[], object] | None = None
        if operation == "CreateCluster" and original is not None:
            create_in_backend = functools.partial(_create_in_moto, original, self)
        params: dict[str, Any] = self.params  # parsed from the botocore model by moto
        if operation == "ListTags" and ":cluster/" not in str(params.get("ResourceArn", "")):
            assert original is not None
            return original(self)
        return _answer(lambda: control.serve(operation, _scope(self), params, create_in_backend))

    return handler


#: Optional CreateCluster members moto's Cluster indexes as if required (a KeyError, HTTP 500, without
#: them), with stand-ins that pass its checks; they are removed again once moto has created the cluster.
_MOTO_STAND_INS: dict[str, Any] = {
    "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-"},
    "ThreadsPerCore": None,
}


def _create_in_moto(original: _Handler, response: Any) -> object:
    """moto's CreateCluster, given stand-ins for the optional members it indexes (then taken out of the
    instance groups it keeps); whatever else it cannot read is the request's fault: a 400, not a 500."""
    groups = [g for g in response.params.get("InstanceGroups") or [] if isinstance(g, dict)]
    added = [[key for key in _MOTO_STAND_INS if key not in g] for g in groups]
    for group, keys in zip(groups, added, strict=True):
        group.update({key: _MOTO_STAND_INS[key] for key in keys})
    try:
        return original(response)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValidationException(
            f"CreateCluster: the local plane cannot read this request ({exc!r})"
        ) from exc
    finally:
        for group, keys in zip(groups, added, strict=True):
            for key in keys:
                group.pop(key, None)


def _scope(response: Any) -> Scope:
    return Scope(account_id=str(response.current_account), region=str(response.region))
