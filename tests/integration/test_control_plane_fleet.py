"""The local control plane models today's fleets: every instance type and every node status the installed
botocore SageMaker model knows, with the real service's answers for the ones it does not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hyperpod_local.plane import GroupSpec, create_cluster
from hyperpod_local.plane.errors import ValidationException
from hyperpod_local.plane.model import InstanceStatus
from hyperpod_local.plane.validation import validate_create_cluster
from hyperpod_local.service_model import cluster_instance_statuses, cluster_instance_types

if TYPE_CHECKING:
    from tests.conftest import AwsEnv

pytestmark = pytest.mark.integration

TODAYS_FLEET = ["ml.p5en.48xlarge", "ml.p6-b200.48xlarge", "ml.trn2.48xlarge"]  # not in moto's list
UNKNOWN_TYPE = "ml.p9.48xlarge"


@pytest.fixture
def sm(aws: AwsEnv) -> Any:
    return aws.client("sagemaker", config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def test_clusters_of_todays_instance_types_are_created_and_listed(aws: AwsEnv, sm: Any) -> None:
    groups = [GroupSpec(f"g{i}", instance_type, 2) for i, instance_type in enumerate(TODAYS_FLEET)]
    create_cluster(sm, aws.control, "fleet", groups)

    listed = sm.list_cluster_nodes(ClusterName="fleet")["ClusterNodeSummaries"]
    assert sorted(n["InstanceType"] for n in listed) == sorted(TODAYS_FLEET * 2)
    described = sm.describe_cluster(ClusterName="fleet")["InstanceGroups"]
    assert [g["InstanceType"] for g in described] == TODAYS_FLEET


def _group(instance_type: str) -> dict[str, Any]:
    """An instance group with the members CreateCluster requires, of `instance_type`."""
    return {
        "InstanceType": instance_type,
        "InstanceCount": 1,
        "InstanceGroupName": "g",
        "ExecutionRole": "arn:aws:iam::123456789012:role/hyperpod-g",
    }


def test_every_instance_type_of_the_model_passes_validation() -> None:
    assert len(cluster_instance_types()) > 100
    validate_create_cluster([_group(t) for t in cluster_instance_types()])  # raises nothing


def test_an_unknown_instance_type_is_the_real_validation_exception_and_creates_nothing(
    aws: AwsEnv, sm: Any
) -> None:
    groups = [GroupSpec("controller", "ml.m5.xlarge", 1), GroupSpec("gpu", UNKNOWN_TYPE, 2)]
    with pytest.raises(ClientError) as refused:
        create_cluster(sm, aws.control, "typo", groups)

    error = refused.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"].startswith(
        f"1 validation error detected: Value '{UNKNOWN_TYPE}' at 'instanceGroups.2.member.instanceType' "
        "failed to satisfy constraint: Member must satisfy enum value set: [ml.p4d.24xlarge, "
    )
    assert "ml.p5en.48xlarge" in error["Message"] and error["Message"].endswith("]")
    assert sm.list_clusters()["ClusterSummaries"] == []


def test_several_unknown_types_are_reported_together() -> None:
    with pytest.raises(ValidationException, match=r"^2 validation errors detected: Value 'a' at "):
        validate_create_cluster([_group("a"), _group("ml.m5.xlarge"), _group("b")])


def test_the_control_plane_knows_every_node_status_of_the_model() -> None:
    assert [s.value for s in InstanceStatus] == list(cluster_instance_statuses())


@pytest.mark.parametrize("status", cluster_instance_statuses())
def test_a_node_can_be_put_in_any_status_and_is_listed_in_it(aws: AwsEnv, sm: Any, status: str) -> None:
    cluster = create_cluster(sm, aws.control, "s", [GroupSpec("w", "ml.trn2.48xlarge", 1)])
    (node,) = cluster.nodes
    aws.control.set_status(node.instance_id, status)

    (listed,) = sm.list_cluster_nodes(ClusterName="s")["ClusterNodeSummaries"]
    assert listed["InstanceStatus"]["Status"] == status
    described = sm.describe_cluster_node(ClusterName="s", NodeId=node.instance_id)["NodeDetails"]
    assert described["InstanceStatus"]["Status"] == status


def test_a_status_the_model_does_not_know_is_refused(aws: AwsEnv, sm: Any) -> None:
    cluster = create_cluster(sm, aws.control, "s", [GroupSpec("w", "ml.m5.xlarge", 1)])
    with pytest.raises(ValueError):
        aws.control.set_status(cluster.nodes[0].instance_id, "Hibernating")


@pytest.mark.parametrize(
    ("status", "code"),
    [("NotFound", "InstanceIdNotFound"), ("DetachInProgress", "InvalidInstanceStatus")],
)
def test_batch_entries_answer_by_the_node_s_status(aws: AwsEnv, sm: Any, status: str, code: str) -> None:
    cluster = create_cluster(sm, aws.control, "s", [GroupSpec("w", "ml.m5.xlarge", 2)])
    node = cluster.nodes[0]
    aws.control.set_status(node.instance_id, status)

    answer = sm.batch_reboot_cluster_nodes(ClusterName="s", NodeIds=[node.instance_id])
    assert [f["ErrorCode"] for f in answer["Failed"]] == [code]
    by_logical = sm.batch_replace_cluster_nodes(ClusterName="s", NodeLogicalIds=[node.logical_id])
    assert [f["ErrorCode"] for f in by_logical["FailedNodeLogicalIds"]] == [code]
