"""The local HyperPod control plane, exercised only through real boto3 clients (plus the test handle).

Each test pins one documented behaviour of the real service (limits, codes, identities, lifecycles)
or one knob of the control plane, so a regression in the fake shows up here before it misleads the
tests of the service built on it.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hyperpod_local.plane import (
    ClusterFixture,
    ControlPlane,
    GroupSpec,
    NodeTimings,
    create_cluster,
    in_process,
)

if TYPE_CHECKING:
    from tests.conftest import AwsEnv

pytestmark = pytest.mark.integration

TIMINGS = NodeTimings()
CLUSTER = "hp-train"
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
INSTANCE_ID_RE = re.compile(r"i-[0-9a-f]{17}")
UNKNOWN_INSTANCE_ID = "i-0123456789abcdef0"
UNKNOWN_LOGICAL_ID = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def sm(aws: AwsEnv) -> Any:
    """SageMaker client without botocore retries, so every API call is exactly one request."""
    return aws.client("sagemaker", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


@pytest.fixture
def cluster(aws: AwsEnv, sm: Any) -> ClusterFixture:
    return create_cluster(
        sm,
        aws.control,
        CLUSTER,
        groups=[
            GroupSpec("controller", "ml.m5.xlarge", 1, node_type="Controller"),
            GroupSpec("login", "ml.m5.xlarge", 1, node_type="Login"),
            GroupSpec("gpu-a", "ml.p5.48xlarge", 30, node_type="Compute"),
        ],
    )


def _error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def _status(sm: Any, **node: str) -> str:
    return str(
        sm.describe_cluster_node(ClusterName=CLUSTER, **node)["NodeDetails"]["InstanceStatus"]["Status"]
    )


def _details(sm: Any, **node: str) -> dict[str, Any]:
    details: dict[str, Any] = sm.describe_cluster_node(ClusterName=CLUSTER, **node)["NodeDetails"]
    return details


# ------------------------------------------------------------------------------------ identity


def test_nodes_have_realistic_unique_identities(cluster: ClusterFixture) -> None:
    assert len(cluster.nodes) == 32
    assert all(INSTANCE_ID_RE.fullmatch(node.instance_id) for node in cluster.nodes)
    assert all(UUID_RE.fullmatch(node.logical_id) for node in cluster.nodes)
    assert len({node.instance_id for node in cluster.nodes}) == 32
    assert len({node.logical_id for node in cluster.nodes}) == 32
    assert re.fullmatch(r"arn:aws:sagemaker:us-east-1:123456789012:cluster/[a-z0-9]{12}", cluster.arn)


def test_describe_cluster_splices_what_moto_drops(sm: Any, cluster: ClusterFixture) -> None:
    by_name = sm.describe_cluster(ClusterName=CLUSTER)
    by_arn = sm.describe_cluster(ClusterName=cluster.arn)

    assert by_name["ClusterArn"] == by_arn["ClusterArn"] == cluster.arn
    assert by_name["NodeRecovery"] == "None"
    assert by_name["NodeProvisioningMode"] == "Continuous"
    assert by_name["Orchestrator"] == {"Slurm": {"SlurmConfigStrategy": "Managed"}}
    groups = {group["InstanceGroupName"]: group for group in by_name["InstanceGroups"]}
    assert groups["controller"]["SlurmConfig"]["NodeType"] == "Controller"
    assert groups["login"]["SlurmConfig"]["NodeType"] == "Login"
    assert (groups["gpu-a"]["CurrentCount"], groups["gpu-a"]["TargetCount"]) == (30, 30)


def test_node_recovery_is_configurable_per_cluster(aws: AwsEnv, sm: Any) -> None:
    create_cluster(sm, aws.control, "auto", [GroupSpec("w", "ml.m5.xlarge", 1)], node_recovery="Automatic")
    assert sm.describe_cluster(ClusterName="auto")["NodeRecovery"] == "Automatic"

    aws.control.set_node_recovery("auto", "None")

    assert sm.describe_cluster(ClusterName="auto")["NodeRecovery"] == "None"


def test_describe_cluster_node_by_either_id_and_never_both(sm: Any, cluster: ClusterFixture) -> None:
    node = cluster.in_group("gpu-a")[0]

    by_id = _details(sm, NodeId=node.instance_id)
    by_logical = _details(sm, NodeLogicalId=node.logical_id)

    assert by_id == by_logical
    assert (by_id["InstanceId"], by_id["NodeLogicalId"]) == (node.instance_id, node.logical_id)
    assert by_id["InstanceStatus"]["Status"] == "Running"
    with pytest.raises(ClientError) as both:
        sm.describe_cluster_node(ClusterName=CLUSTER, NodeId=node.instance_id, NodeLogicalId=node.logical_id)
    assert _error(both)[0] == "ValidationException"
    with pytest.raises(ClientError) as unknown:
        sm.describe_cluster_node(ClusterName=CLUSTER, NodeId=UNKNOWN_INSTANCE_ID)
    assert _error(unknown)[0] == "ResourceNotFound"


def test_list_returns_logical_ids_only_when_asked(sm: Any, cluster: ClusterFixture) -> None:
    plain = sm.list_cluster_nodes(ClusterName=CLUSTER)["ClusterNodeSummaries"]
    with_ids = sm.list_cluster_nodes(ClusterName=CLUSTER, IncludeNodeLogicalIds=True)["ClusterNodeSummaries"]

    assert all("NodeLogicalId" not in summary for summary in plain)
    assert [s["NodeLogicalId"] for s in with_ids] == cluster.logical_ids()
    assert [s["InstanceId"] for s in plain] == cluster.instance_ids()


def test_paginator_walks_more_than_100_nodes(aws: AwsEnv, sm: Any) -> None:
    big = create_cluster(
        sm,
        aws.control,
        "big",
        [GroupSpec("gpu-a", "ml.p5.48xlarge", 64), GroupSpec("gpu-b", "ml.p5.48xlarge", 100)],
    )
    paginator = sm.get_paginator("list_cluster_nodes")

    pages = list(paginator.paginate(ClusterName="big", PaginationConfig={"PageSize": 50}))
    default_pages = list(paginator.paginate(ClusterName="big"))

    listed = [s["InstanceId"] for page in pages for s in page["ClusterNodeSummaries"]]
    assert [len(page["ClusterNodeSummaries"]) for page in pages] == [50, 50, 50, 14]
    assert listed == big.instance_ids()
    assert sum(len(page["ClusterNodeSummaries"]) for page in default_pages) == 164
    gpu_b = [
        s
        for page in paginator.paginate(ClusterName="big", InstanceGroupNameContains="gpu-b")
        for s in page["ClusterNodeSummaries"]
    ]
    assert len(gpu_b) == 100


def test_list_filters_sorting_and_max_results(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    replaced = cluster.in_group("gpu-a")[0]
    sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[replaced.instance_id])
    aws.control.advance(TIMINGS.replace_seconds)
    new_instance = aws.control.node(replaced.logical_id).instance_id
    launched_at = aws.control.node(replaced.logical_id).launch_time

    newest_first = sm.list_cluster_nodes(ClusterName=CLUSTER, SortOrder="Descending", MaxResults=1)
    recent = sm.list_cluster_nodes(ClusterName=CLUSTER, CreationTimeAfter=launched_at - timedelta(seconds=1))
    logins = sm.list_cluster_nodes(ClusterName=CLUSTER, InstanceGroupNameContains="log")
    with pytest.raises(ClientError) as too_many:
        sm.list_cluster_nodes(ClusterName=CLUSTER, MaxResults=101)

    assert [s["InstanceId"] for s in newest_first["ClusterNodeSummaries"]] == [new_instance]
    assert "NextToken" in newest_first
    assert [s["InstanceId"] for s in recent["ClusterNodeSummaries"]] == [new_instance]
    assert [s["InstanceGroupName"] for s in logins["ClusterNodeSummaries"]] == ["login"]
    assert _error(too_many)[0] == "ValidationException"


# ------------------------------------------------------------------------------- limits


def test_reboot_accepts_25_node_ids_and_rejects_26(sm: Any, cluster: ClusterFixture) -> None:
    ids = cluster.instance_ids("gpu-a")

    with pytest.raises(ClientError) as too_many:
        sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=ids[:26])
    ok = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=ids[:25])

    code, message, status = _error(too_many)
    assert (code, status) == ("ValidationException", 400)
    assert (
        "at 'nodeIds' failed to satisfy constraint: Member must have length less than or equal to 25"
        in message
    )
    assert ok["Successful"] == ids[:25]
    assert ok["Failed"] == []
    assert _status(sm, NodeId=ids[25]) == "Running"


def test_replace_rejects_26_logical_ids(sm: Any, cluster: ClusterFixture) -> None:
    logical = cluster.logical_ids("gpu-a")

    with pytest.raises(ClientError) as too_many:
        sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=logical[:26])
    ok = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=logical[:25])

    code, message, _ = _error(too_many)
    assert code == "ValidationException"
    assert "at 'nodeLogicalIds' failed to satisfy constraint" in message
    assert ok["SuccessfulNodeLogicalIds"] == logical[:25]
    assert ok["FailedNodeLogicalIds"] == []


def test_id_patterns_are_enforced_server_side(sm: Any, cluster: ClusterFixture) -> None:
    with pytest.raises(ClientError) as bad_id:
        sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=["i-XYZ", "workers-0"])
    with pytest.raises(ClientError) as bad_logical:
        sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=["-leading-dash"])

    code, message, _ = _error(bad_id)
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: ")
    assert (
        "'nodeIds.1.member' failed to satisfy constraint: Member must satisfy regular expression pattern"
        in message
    )
    assert _error(bad_logical)[0] == "ValidationException"


def test_one_id_list_is_required(sm: Any, cluster: ClusterFixture) -> None:
    with pytest.raises(ClientError) as neither:
        sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER)

    assert _error(neither)[0] == "ValidationException"


def test_delete_limits(sm: Any, cluster: ClusterFixture) -> None:
    unknown = [f"i-{n:017x}" for n in range(100)]
    logical = [f"node-{n}" for n in range(51)]

    answered = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeIds=unknown[:99])
    rejections = []
    for request in (
        {"NodeIds": unknown},  # 100 > 99
        {"NodeLogicalIds": logical},  # 51 > 50
        {"NodeIds": unknown[:30], "NodeLogicalIds": logical[:21]},  # combined 51 > 50
    ):
        with pytest.raises(ClientError) as rejected:
            sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, **request)
        rejections.append(_error(rejected)[0])

    assert [failure["Code"] for failure in answered["Failed"]] == ["NodeIdNotFound"] * 99
    assert rejections == ["ValidationException"] * 3


def test_add_limits(sm: Any, cluster: ClusterFixture) -> None:
    rejections = []
    for nodes in (
        [{"InstanceGroupName": f"g{n}", "IncrementTargetCountBy": 1} for n in range(6)],
        [{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 51}],
        [
            {"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 30},
            {"InstanceGroupName": "login", "IncrementTargetCountBy": 21},
        ],
    ):
        with pytest.raises(ClientError) as rejected:
            sm.batch_add_cluster_nodes(ClusterName=CLUSTER, NodesToAdd=nodes)
        rejections.append(_error(rejected)[0])

    assert rejections == ["ValidationException"] * 3
    assert (
        len(sm.list_cluster_nodes(ClusterName=CLUSTER, IncludeNodeLogicalIds=True)["ClusterNodeSummaries"])
        == 32
    )


# ---------------------------------------------------------------------------- lifecycles


def test_reboot_goes_pending_then_running_with_the_same_instance_id(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]

    sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    during = _status(sm, NodeId=node.instance_id)
    aws.control.advance(TIMINGS.reboot_seconds - 1)
    almost = _status(sm, NodeId=node.instance_id)
    aws.control.advance(1)

    assert (during, almost) == ("Pending", "Pending")
    assert _status(sm, NodeId=node.instance_id) == "Running"


def test_replace_issues_a_new_instance_id_and_keeps_the_logical_id(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]

    answer = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    shutting_down = _details(sm, NodeLogicalId=node.logical_id)
    aws.control.advance(TIMINGS.shutdown_seconds)
    pending = _details(sm, NodeLogicalId=node.logical_id)
    aws.control.advance(TIMINGS.replace_seconds - TIMINGS.shutdown_seconds)
    running = _details(sm, NodeLogicalId=node.logical_id)

    assert answer["Successful"] == [node.instance_id]
    assert (shutting_down["InstanceStatus"]["Status"], shutting_down["InstanceId"]) == (
        "ShuttingDown",
        node.instance_id,
    )
    assert pending["InstanceStatus"]["Status"] == "Pending"
    assert INSTANCE_ID_RE.fullmatch(pending["InstanceId"]) and pending["InstanceId"] != node.instance_id
    assert (running["InstanceStatus"]["Status"], running["InstanceId"]) == ("Running", pending["InstanceId"])
    listed = [s["InstanceId"] for s in sm.list_cluster_nodes(ClusterName=CLUSTER)["ClusterNodeSummaries"]]
    assert pending["InstanceId"] in listed and node.instance_id not in listed
    stale = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    assert stale["Failed"][0]["ErrorCode"] == "InstanceIdNotFound"


def test_busy_node_is_in_use_until_its_operation_completes(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]
    sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])

    again = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    by_logical = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[node.logical_id])
    aws.control.advance(TIMINGS.reboot_seconds)
    after = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])

    assert again["Successful"] == []
    assert again["Failed"][0]["ErrorCode"] == "InstanceIdInUse"
    assert by_logical["FailedNodeLogicalIds"][0]["ErrorCode"] == "InstanceIdInUse"
    assert after["Successful"] == [node.instance_id]


def test_set_busy_models_an_operation_the_caller_did_not_start(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[1]
    aws.control.set_busy(node.instance_id, seconds=300)

    busy = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    busy_delete = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    aws.control.advance(300)
    free = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])

    assert busy["Failed"][0]["ErrorCode"] == "InstanceIdInUse"
    assert "Wait for completion" in busy["Failed"][0]["Message"]
    assert busy_delete["Failed"][0]["Code"] == "NodeIdInUse"
    assert free["Successful"] == [node.instance_id]


def test_naming_a_node_twice_in_one_request_marks_the_second_in_use(sm: Any, cluster: ClusterFixture) -> None:
    node = cluster.in_group("gpu-a")[0]

    answer = sm.batch_reboot_cluster_nodes(
        ClusterName=CLUSTER, NodeIds=[node.instance_id], NodeLogicalIds=[node.logical_id]
    )

    assert answer["Successful"] == [node.instance_id]
    assert answer["FailedNodeLogicalIds"][0]["ErrorCode"] == "InstanceIdInUse"


def test_status_that_disallows_the_action_is_invalid_instance_status(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    failed, checking = cluster.in_group("gpu-a")[:2]
    aws.control.set_status(failed.instance_id, "Failure", "Instance failed health checks")
    aws.control.set_status(checking.instance_id, "DeepHealthCheckInProgress")

    reboot = sm.batch_reboot_cluster_nodes(
        ClusterName=CLUSTER, NodeIds=[failed.instance_id, checking.instance_id]
    )
    delete = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeIds=[checking.instance_id])
    replace = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=[failed.instance_id])

    assert [f["ErrorCode"] for f in reboot["Failed"]] == ["InvalidInstanceStatus", "InvalidInstanceStatus"]
    assert delete["Failed"][0]["Code"] == "InvalidNodeStatus"
    assert replace["Successful"] == [failed.instance_id]


def test_unknown_ids_fail_per_entry(sm: Any, cluster: ClusterFixture) -> None:
    known = cluster.in_group("gpu-a")[0]

    answer = sm.batch_reboot_cluster_nodes(
        ClusterName=CLUSTER,
        NodeIds=[UNKNOWN_INSTANCE_ID, known.instance_id],
        NodeLogicalIds=[UNKNOWN_LOGICAL_ID],
    )

    assert answer["Successful"] == [known.instance_id]
    assert answer["Failed"] == [
        {
            "NodeId": UNKNOWN_INSTANCE_ID,
            "ErrorCode": "InstanceIdNotFound",
            "Message": answer["Failed"][0]["Message"],
        }
    ]
    assert answer["FailedNodeLogicalIds"][0]["ErrorCode"] == "InstanceIdNotFound"
    assert answer["SuccessfulNodeLogicalIds"] == []


def test_unknown_cluster_is_resource_not_found(sm: Any, cluster: ClusterFixture) -> None:
    calls = [
        lambda: sm.batch_reboot_cluster_nodes(
            ClusterName="no-such-cluster", NodeIds=[cluster.instance_ids()[0]]
        ),
        lambda: sm.batch_delete_cluster_nodes(
            ClusterName="no-such-cluster", NodeIds=[cluster.instance_ids()[0]]
        ),
        lambda: sm.batch_add_cluster_nodes(
            ClusterName="no-such-cluster",
            NodesToAdd=[{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 1}],
        ),
        lambda: sm.describe_cluster(ClusterName="no-such-cluster"),
        lambda: sm.list_cluster_nodes(ClusterName="no-such-cluster"),
    ]
    errors = []
    for call in calls:
        with pytest.raises(ClientError) as missing:
            call()
        errors.append(_error(missing))

    assert [(code, status) for code, _, status in errors] == [("ResourceNotFound", 400)] * len(calls)
    assert isinstance(missing.value, sm.exceptions.ResourceNotFound)


def test_delete_answers_with_code_and_removes_the_node(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    victim = cluster.in_group("gpu-a")[0]

    answer = sm.batch_delete_cluster_nodes(
        ClusterName=CLUSTER, NodeIds=[victim.instance_id, UNKNOWN_INSTANCE_ID]
    )
    by_logical = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[UNKNOWN_LOGICAL_ID])
    shutting_down = _status(sm, NodeId=victim.instance_id)
    aws.control.advance(TIMINGS.delete_seconds)

    assert answer["Successful"] == [victim.instance_id]
    assert answer["Failed"][0]["Code"] == "NodeIdNotFound"
    assert "ErrorCode" not in answer["Failed"][0]
    assert by_logical["FailedNodeLogicalIds"][0]["Code"] == "NodeLogicalIdNotFound"
    assert "Successful" not in by_logical  # the model gives these lists a minimum length of 1
    assert shutting_down == "ShuttingDown"
    with pytest.raises(ClientError) as gone:
        sm.describe_cluster_node(ClusterName=CLUSTER, NodeId=victim.instance_id)
    assert _error(gone)[0] == "ResourceNotFound"
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER)["InstanceGroups"]}
    assert groups["gpu-a"]["TargetCount"] == 29


def test_slurm_controller_cannot_be_replaced_or_deleted(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    controller = cluster.in_group("controller")[0]
    login = cluster.in_group("login")[0]

    replace = sm.batch_replace_cluster_nodes(
        ClusterName=CLUSTER, NodeIds=[controller.instance_id, login.instance_id]
    )
    delete = sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[controller.logical_id])
    aws.control.advance(TIMINGS.replace_seconds)
    reboot = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[controller.instance_id])

    assert replace["Successful"] == [login.instance_id]
    assert replace["Failed"][0]["NodeId"] == controller.instance_id
    assert replace["Failed"][0]["ErrorCode"] == "InvalidInstanceStatus"
    assert "Slurm controller" in replace["Failed"][0]["Message"]
    assert delete["FailedNodeLogicalIds"][0]["Code"] == "InvalidNodeStatus"
    assert reboot["Successful"] == [controller.instance_id]


def test_replacement_without_capacity_ends_in_failure_with_an_error_event(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    lucky, unlucky = cluster.in_group("gpu-a")[:2]
    aws.control.set_capacity(CLUSTER, "gpu-a", 1)

    answer = sm.batch_replace_cluster_nodes(
        ClusterName=CLUSTER, NodeIds=[lucky.instance_id, unlucky.instance_id]
    )
    aws.control.advance(TIMINGS.replace_seconds)

    assert answer["Successful"] == [lucky.instance_id, unlucky.instance_id]  # accepted; fails later
    assert _status(sm, NodeLogicalId=lucky.logical_id) == "Running"
    failed = _details(sm, NodeLogicalId=unlucky.logical_id)
    assert failed["InstanceStatus"]["Status"] == "Failure"
    assert "sufficient capacity" in failed["InstanceStatus"]["Message"]
    errors = [event for event in aws.control.events(CLUSTER) if event.event_level == "Error"]
    assert len(errors) == 1
    assert errors[0].instance_group_name == "gpu-a"
    assert errors[0].metadata["Instance"] == {
        "FailureMessage": "We currently do not have sufficient capacity to launch new ml.p5.48xlarge instances. "
        "Please try again.",
        "NodeLogicalId": unlucky.logical_id,
    }
    aws.control.set_capacity(CLUSTER, "gpu-a", None)
    retry = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[unlucky.logical_id])
    assert retry["SuccessfulNodeLogicalIds"] == [unlucky.logical_id]


# ---------------------------------------------------------------------------------- add


def test_add_is_idempotent_per_client_token_for_8_hours(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    request = {
        "ClusterName": CLUSTER,
        "NodesToAdd": [{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 3}],
    }

    first = sm.batch_add_cluster_nodes(ClientToken="scale-out-1", **request)
    aws.control.advance(TIMINGS.add_seconds)
    replay = sm.batch_add_cluster_nodes(ClientToken="scale-out-1", **request)
    other_token = sm.batch_add_cluster_nodes(ClientToken="scale-out-2", **request)
    with pytest.raises(ClientError) as mismatch:
        sm.batch_add_cluster_nodes(
            ClusterName=CLUSTER,
            ClientToken="scale-out-1",
            NodesToAdd=[{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 4}],
        )
    aws.control.advance(8 * 3600)
    expired = sm.batch_add_cluster_nodes(ClientToken="scale-out-1", **request)

    first_ids = [item["NodeLogicalId"] for item in first["Successful"]]
    assert len(set(first_ids)) == 3 and all(UUID_RE.fullmatch(i) for i in first_ids)
    assert [item["Status"] for item in first["Successful"]] == ["Pending"] * 3
    assert [item["NodeLogicalId"] for item in replay["Successful"]] == first_ids
    assert [item["Status"] for item in replay["Successful"]] == ["Running"] * 3  # latest status
    assert not set(first_ids) & {item["NodeLogicalId"] for item in other_token["Successful"]}
    assert _error(mismatch)[0] == "ValidationException"
    assert not set(first_ids) & {item["NodeLogicalId"] for item in expired["Successful"]}


def _counts(sm: Any, group: str) -> tuple[int, int]:
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER)["InstanceGroups"]}
    return groups[group]["TargetCount"], groups[group]["CurrentCount"]


def test_delete_lowers_the_target_count_at_once_and_nothing_refills_the_slot(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    victim = cluster.in_group("gpu-a")[0]

    sm.batch_delete_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[victim.logical_id])
    during = _counts(sm, "gpu-a")
    aws.control.advance(TIMINGS.delete_seconds + 8 * 3600)
    after = _counts(sm, "gpu-a")
    members = [n for n in aws.control.nodes(CLUSTER) if n.instance_group_name == "gpu-a"]
    added = sm.batch_add_cluster_nodes(
        ClusterName=CLUSTER, NodesToAdd=[{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 1}]
    )
    restored = _counts(sm, "gpu-a")

    assert during == (29, 29)  # the deleted node is ShuttingDown: neither targeted nor running
    assert after == (29, 29)  # a Continuous cluster does not launch a node back
    assert len(members) == 29
    assert added["Successful"][0]["Status"] == "Pending"
    assert restored == (30, 29)


def test_capacity_shortage_keeps_added_nodes_pending_until_it_ends(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    request = {
        "ClusterName": CLUSTER,
        "ClientToken": "restore-1",
        "NodesToAdd": [{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 1}],
    }
    aws.control.capacity_shortage(CLUSTER, "gpu-a", 3 * TIMINGS.add_seconds)

    first = sm.batch_add_cluster_nodes(**request)
    new = first["Successful"][0]["NodeLogicalId"]
    aws.control.advance(2 * TIMINGS.add_seconds)
    waiting = _details(sm, NodeLogicalId=new)
    replay = sm.batch_add_cluster_nodes(**request)
    aws.control.advance(TIMINGS.add_seconds)
    running = _details(sm, NodeLogicalId=new)

    assert waiting["InstanceStatus"]["Status"] == "Pending" and "InstanceId" not in waiting
    assert "sufficient capacity" in waiting["InstanceStatus"]["Message"]
    errors = [e for e in aws.control.events(CLUSTER) if e.event_level == "Error"]
    assert [e.metadata["Instance"]["NodeLogicalId"] for e in errors] == [new]
    assert [(i["NodeLogicalId"], i["Status"]) for i in replay["Successful"]] == [(new, "Pending")]
    assert running["InstanceStatus"]["Status"] == "Running" and INSTANCE_ID_RE.fullmatch(
        running["InstanceId"]
    )
    assert _counts(sm, "gpu-a") == (31, 31)
    aws.control.capacity_shortage(CLUSTER, "gpu-a", 0)
    with pytest.raises(ValueError):
        aws.control.capacity_shortage(CLUSTER, "gpu-a", -1)


def test_added_nodes_are_pending_without_instance_id_then_running(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    answer = sm.batch_add_cluster_nodes(
        ClusterName=CLUSTER,
        NodesToAdd=[
            {"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 2},
            {"InstanceGroupName": "gpu-z", "IncrementTargetCountBy": 4},
        ],
    )
    new = answer["Successful"][0]["NodeLogicalId"]
    pending = _details(sm, NodeLogicalId=new)
    hidden = sm.list_cluster_nodes(ClusterName=CLUSTER)["ClusterNodeSummaries"]
    aws.control.advance(TIMINGS.add_seconds)
    running = _details(sm, NodeLogicalId=new)

    assert answer["Failed"] == [
        {
            "InstanceGroupName": "gpu-z",
            "ErrorCode": "InstanceGroupNotFound",
            "FailedCount": 4,
            "Message": answer["Failed"][0]["Message"],
        }
    ]
    assert pending["InstanceStatus"]["Status"] == "Pending" and "InstanceId" not in pending
    assert len(hidden) == 32  # ListClusterNodes without IncludeNodeLogicalIds lists only instances
    assert running["InstanceStatus"]["Status"] == "Running"
    assert INSTANCE_ID_RE.fullmatch(running["InstanceId"])
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER)["InstanceGroups"]}
    assert groups["gpu-a"]["CurrentCount"] == 32


def test_add_to_a_group_that_is_not_in_service_fails_per_group(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    aws.control.set_group_status(CLUSTER, "gpu-a", "Updating")

    answer = sm.batch_add_cluster_nodes(
        ClusterName=CLUSTER, NodesToAdd=[{"InstanceGroupName": "gpu-a", "IncrementTargetCountBy": 2}]
    )

    assert answer["Successful"] == []
    assert (answer["Failed"][0]["ErrorCode"], answer["Failed"][0]["FailedCount"]) == (
        "InvalidInstanceGroupStatus",
        2,
    )
    groups = {g["InstanceGroupName"]: g for g in sm.describe_cluster(ClusterName=CLUSTER)["InstanceGroups"]}
    assert groups["gpu-a"]["Status"] == "Updating"


def test_logical_ids_and_add_need_continuous_provisioning(aws: AwsEnv, sm: Any) -> None:
    legacy = create_cluster(
        sm, aws.control, "legacy", [GroupSpec("w", "ml.m5.xlarge", 2)], provisioning_mode=None
    )

    with pytest.raises(ClientError) as logical:
        sm.batch_reboot_cluster_nodes(ClusterName="legacy", NodeLogicalIds=[legacy.logical_ids()[0]])
    with pytest.raises(ClientError) as add:
        sm.batch_add_cluster_nodes(
            ClusterName="legacy", NodesToAdd=[{"InstanceGroupName": "w", "IncrementTargetCountBy": 1}]
        )
    by_id = sm.batch_reboot_cluster_nodes(ClusterName="legacy", NodeIds=[legacy.instance_ids()[0]])

    assert _error(logical)[0] == _error(add)[0] == "ValidationException"
    assert "NodeProvisioningMode" not in sm.describe_cluster(ClusterName="legacy")
    assert by_id["Successful"] == [legacy.instance_ids()[0]]


# ------------------------------------------------------------------------------- knobs


def test_throttling_injection(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    node = cluster.in_group("gpu-a")[0].instance_id
    aws.control.throttle(1.0)
    with pytest.raises(ClientError) as throttled:
        sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node])
    assert _error(throttled) == ("ThrottlingException", "Rate exceeded", 400)
    assert _status(sm, NodeId=node) == "Running"  # nothing happened

    aws.control.throttle(0.5, seed=7)
    outcomes = []
    for _ in range(40):
        try:
            sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[UNKNOWN_INSTANCE_ID])
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    aws.control.throttle(0.0)
    sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node])

    assert set(outcomes) == {"ok", "ThrottlingException"}
    assert 10 <= outcomes.count("ThrottlingException") <= 30
    logged = [call.throttled for call in aws.control.calls]
    assert logged == [True] + [o == "ThrottlingException" for o in outcomes] + [False]


def test_injected_entry_error_fails_the_next_calls_naming_the_node(
    aws: AwsEnv, sm: Any, cluster: ClusterFixture
) -> None:
    node = cluster.in_group("gpu-a")[0]
    aws.control.inject_entry_error(node.instance_id, "InternalServerError", times=2)

    first = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])
    second = sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeLogicalIds=[node.logical_id])
    third = sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=[node.instance_id])

    assert first["Failed"][0]["ErrorCode"] == "InternalServerError"
    assert second["FailedNodeLogicalIds"][0]["ErrorCode"] == "InternalServerError"
    assert third["Successful"] == [node.instance_id]


def test_calls_log_every_batch_request(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    gpu = cluster.instance_ids("gpu-a")
    sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=gpu[:3])
    with pytest.raises(ClientError):
        sm.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=gpu[:26])
    sm.batch_add_cluster_nodes(
        ClusterName=CLUSTER,
        ClientToken="t",
        NodesToAdd=[{"InstanceGroupName": "x", "IncrementTargetCountBy": 2}],
    )
    sm.list_cluster_nodes(ClusterName=CLUSTER)  # not a Batch* call: not logged

    calls = aws.control.calls

    assert [(c.action, c.size, c.error_code) for c in calls] == [
        ("BatchRebootClusterNodes", 3, None),
        ("BatchReplaceClusterNodes", 26, "ValidationException"),
        ("BatchAddClusterNodes", 2, None),
    ]
    assert calls[0].node_ids == tuple(gpu[:3]) and calls[0].cluster == CLUSTER
    assert calls[2].client_token == "t" and calls[2].failed_codes == ("InstanceGroupNotFound",)
    assert calls[0].at <= calls[1].at <= calls[2].at


def test_concurrent_workers_get_consistent_answers(aws: AwsEnv, cluster: ClusterFixture) -> None:
    ids = cluster.instance_ids("gpu-a")
    results: list[dict[str, Any]] = []
    lock = threading.Lock()

    def worker() -> None:
        client = aws.client("sagemaker", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        answer = client.batch_replace_cluster_nodes(ClusterName=CLUSTER, NodeIds=ids[:10])
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    successful = [node for answer in results for node in answer["Successful"]]
    in_use = [f for answer in results for f in answer["Failed"] if f["ErrorCode"] == "InstanceIdInUse"]
    assert sorted(successful) == sorted(ids[:10])  # each node replaced exactly once
    assert len(in_use) == 50
    assert len(aws.control.calls) == 6


def test_reset_forgets_everything(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=cluster.instance_ids()[:1])
    aws.control.throttle(1.0)

    aws.local.reset()

    assert sm.list_clusters()["ClusterSummaries"] == []
    assert aws.control.calls == []
    with pytest.raises(ClientError) as missing:
        sm.describe_cluster(ClusterName=CLUSTER)
    assert _error(missing)[0] == "ResourceNotFound"
    recreated = create_cluster(sm, aws.control, CLUSTER, [GroupSpec("w", "ml.m5.xlarge", 1)])
    assert sm.batch_reboot_cluster_nodes(ClusterName=CLUSTER, NodeIds=recreated.instance_ids())["Successful"]


def test_cluster_status_knob_and_delete_by_arn(aws: AwsEnv, sm: Any, cluster: ClusterFixture) -> None:
    aws.control.set_cluster_status(CLUSTER, "SystemUpdating")
    status = sm.describe_cluster(ClusterName=CLUSTER)["ClusterStatus"]

    deleted = sm.delete_cluster(ClusterName=cluster.arn)

    assert status == "SystemUpdating"
    assert deleted["ClusterArn"] == cluster.arn
    assert sm.list_clusters()["ClusterSummaries"] == []


def test_only_one_control_plane_per_process(aws: AwsEnv) -> None:
    with pytest.raises(RuntimeError, match="already installed"), in_process(ControlPlane()):
        pass


def test_env_points_plain_boto3_at_the_local_endpoint(aws: AwsEnv, cluster: ClusterFixture) -> None:
    import boto3

    plain = boto3.session.Session().client("sagemaker")

    assert plain.meta.endpoint_url == aws.endpoint_url
    assert plain.describe_cluster(ClusterName=CLUSTER)["ClusterArn"] == cluster.arn
