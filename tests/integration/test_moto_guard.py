"""Guard: the moto internals hyperpod_local relies on are still there.

hyperpod_local/plane/_moto.py patches moto's SageMaker response class and reads moto's SageMaker backend.
None of that is public API, so moto is pinned exactly and these tests fail with a pointed message
when an upgrade (or a drifting venv) changes what the local control plane stands on.
"""

from __future__ import annotations

import inspect
import time
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from tests.conftest import AwsEnv

pytestmark = pytest.mark.integration

PINNED_MOTO = "5.2.5"
GUARD = "moto internals changed - review hyperpod_local/plane/_moto.py before using this moto version: "
PROBE_ACCOUNT = "000000000000"  # not the default account, so no test's clusters are touched


def test_moto_version_is_the_pinned_one() -> None:
    installed = version("moto")
    assert installed == PINNED_MOTO, (
        GUARD + f"moto=={installed} is installed, hyperpod_local was verified against moto=={PINNED_MOTO} "
        "(requirements-dev.txt pins it; rerun these guards after any bump)"
    )


def test_sagemaker_response_dispatches_by_class_function_name() -> None:
    from moto.core.responses import BaseResponse
    from moto.core.utils import camelcase_to_underscores, method_names_from_class
    from moto.sagemaker.responses import SageMakerResponse

    source = inspect.getsource(BaseResponse.call_action)

    assert "method_names_from_class(self.__class__)" in source and "getattr(self, action)" in source, (
        GUARD + "BaseResponse.call_action no longer looks actions up on the response class at request time"
    )
    assert camelcase_to_underscores("BatchRebootClusterNodes") == "batch_reboot_cluster_nodes", (
        GUARD + "action names are no longer mapped to snake_case method names"
    )
    assert SageMakerResponse().automated_parameter_parsing is True, (
        GUARD + "SageMakerResponse no longer parses parameters from the botocore model"
    )
    assert "self.params = " in inspect.getsource(BaseResponse.parse_parameters), (
        GUARD + "parsed request parameters are no longer stored on the response as self.params"
    )

    class Probe:
        def probe_action(self) -> None: ...

    assert "probe_action" in method_names_from_class(Probe), (
        GUARD + "method_names_from_class no longer lists plain functions set on a class"
    )


def test_patched_actions_are_sagemaker_operations() -> None:
    import botocore.session
    from moto.core.utils import camelcase_to_underscores

    from hyperpod_local.plane import _moto

    operations = set(botocore.session.get_session().get_service_model("sagemaker").operation_names)

    for method_name, operation in _moto.PATCHED_ACTIONS.items():
        assert operation in operations, f"botocore's SageMaker model has no {operation} operation"
        assert camelcase_to_underscores(operation) == method_name, (
            GUARD + f"{operation} no longer maps to {method_name}"
        )


def test_moto_still_lacks_the_batch_calls_we_provide() -> None:
    from hyperpod_local.plane import _moto

    implemented_by_moto = [
        action
        for action in _moto.PATCHED_ACTIONS
        if action.startswith("batch_") and _moto._originals.get(action)
    ]

    assert implemented_by_moto == [], (
        GUARD + f"moto now implements {implemented_by_moto}; decide whether the local versions still need to "
        "replace them"
    )


def test_patched_actions_answer_through_the_server(aws: AwsEnv) -> None:
    from moto.sagemaker.responses import SageMakerResponse

    from hyperpod_local.plane import _moto

    sm = aws.client("sagemaker", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
    with pytest.raises(ClientError) as missing:
        sm.batch_reboot_cluster_nodes(ClusterName="guard-missing", NodeIds=["i-0123456789abcdef0"])

    assert _moto.installed_control() is aws.control
    assert all(callable(SageMakerResponse.__dict__.get(action)) for action in _moto.PATCHED_ACTIONS), (
        GUARD + "the patched actions are not set on SageMakerResponse"
    )
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound", (
        GUARD + "a (body, headers) tuple returned by a response method is no longer sent as the HTTP answer"
    )


def test_backend_cluster_shape() -> None:
    from moto.sagemaker.models import PAGINATION_MODEL, sagemaker_backends

    backend: Any = sagemaker_backends[PROBE_ACCOUNT]["us-east-1"]
    assert isinstance(getattr(backend, "clusters", None), dict), (
        GUARD + "sagemaker_backends[account][region].clusters is no longer a dict of clusters"
    )
    group = {
        "InstanceGroupName": "w",
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 2,
        "LifeCycleConfig": {"SourceS3Uri": "s3://sagemaker-guard/", "OnCreate": "on_create.sh"},
        "ExecutionRole": f"arn:aws:iam::{PROBE_ACCOUNT}:role/guard",
        "ThreadsPerCore": 1,
        "SlurmConfig": {"NodeType": "Compute"},
    }
    backend.create_cluster(cluster_name="guard-probe", instance_groups=[group], vpc_config=None, tags=None)
    try:
        cluster = backend.clusters["guard-probe"]
        for attribute in ("cluster_name", "arn", "status", "instance_groups", "nodes", "tags"):
            assert hasattr(cluster, attribute), GUARD + f"moto's Cluster has no attribute {attribute!r}"
        assert callable(cluster.describe), GUARD + "moto's Cluster has no describe()"
        assert isinstance(cluster.nodes, dict) and len(cluster.nodes) == 2, (
            GUARD + "moto's create_cluster no longer fills Cluster.nodes with one node per instance"
        )
        assert {node.instance_group_name for node in cluster.nodes.values()} == {"w"}, (
            GUARD + "moto's ClusterNode no longer carries instance_group_name"
        )
        assert cluster.instance_groups[0].get("SlurmConfig") == {"NodeType": "Compute"}, (
            GUARD + "moto no longer keeps SlurmConfig in Cluster.instance_groups"
        )
        assert cluster.arn.endswith(":cluster/guard-probe"), (
            GUARD + "moto's cluster ARN format changed (the control plane swaps it for a realistic one)"
        )
    finally:
        del backend.clusters["guard-probe"]
    assert PAGINATION_MODEL["list_cluster_nodes"]["unique_attribute"] == "arn", (
        GUARD
        + "moto's list_cluster_nodes paginator no longer keys on 'arn' (nodes carry a unique arn for it)"
    )


def test_threaded_server_binds_a_free_port() -> None:
    from moto.server import ThreadedMotoServer

    parameters = inspect.signature(ThreadedMotoServer.__init__).parameters

    assert {"ip_address", "port", "verbose"} <= set(parameters), (
        GUARD + "ThreadedMotoServer(ip_address=, port=, verbose=) changed"
    )
    assert callable(getattr(ThreadedMotoServer, "get_host_and_port", None)), (
        GUARD + "ThreadedMotoServer.get_host_and_port() is gone (LocalAws reads the bound port from it)"
    )


def test_cluster_checks_instance_types_with_the_method_the_control_plane_switches_off() -> None:
    from moto.sagemaker.models import Cluster

    from hyperpod_local.plane import _moto

    assert _moto.INSTANCE_TYPE_CHECK in Cluster.__dict__, (
        GUARD + f"moto's Cluster has no {_moto.INSTANCE_TYPE_CHECK}() any more"
    )
    assert f"self.{_moto.INSTANCE_TYPE_CHECK}(" in inspect.getsource(Cluster.__init__), (
        GUARD + f"moto's Cluster no longer checks instance types with {_moto.INSTANCE_TYPE_CHECK}()"
    )


def test_sqs_and_events_read_the_time_through_the_globals_the_service_clock_replaces(aws: AwsEnv) -> None:
    """install_service_clock (a scaled local stack's queues and bus on its clock) swaps module globals."""
    import importlib

    from hyperpod_local.plane._moto import CLOCKED_MODULES, install_service_clock, uninstall_service_clock

    for name in CLOCKED_MODULES:
        assert {"unix_time", "unix_time_millis"} <= set(vars(importlib.import_module(name)))
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="clocked")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
    install_service_clock(lambda: time.time() + 901)  # the stack's clock, 15 minutes ahead
    try:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", [])
    finally:
        uninstall_service_clock()
    assert [m["Body"] for m in got] == ["later"]
