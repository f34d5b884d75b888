"""CreateCluster on the local plane accepts what the real API accepts and rejects what it rejects (issue 19).

The botocore model (and the API reference,
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ClusterInstanceGroupSpecification.html)
makes ``InstanceCount``, ``InstanceGroupName`` and ``ExecutionRole`` the required members of an instance
group; ``ThreadsPerCore`` and ``LifeCycleConfig`` are optional. A request without them must create a
cluster with its nodes; a request without a required member (sent past botocore's own check) must get a
``ValidationException`` (HTTP 400), never a 500.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import AwsEnv

ROLE = "arn:aws:iam::123456789012:role/hyperpod-minimal"


def _no_retry(aws: AwsEnv, **extra: Any) -> Any:
    return aws.client("sagemaker", config=Config(retries={"max_attempts": 1}, **extra))


def test_a_minimal_create_cluster_over_http_creates_the_nodes(aws: AwsEnv) -> None:
    sm = _no_retry(aws)
    arn = sm.create_cluster(
        ClusterName="minimal",
        InstanceGroups=[
            {
                "InstanceGroupName": "gpu",
                "InstanceType": "ml.p5.48xlarge",
                "InstanceCount": 2,
                "ExecutionRole": ROLE,
            }
        ],
    )["ClusterArn"]
    assert arn.startswith("arn:aws:sagemaker:")
    nodes = sm.list_cluster_nodes(ClusterName="minimal")["ClusterNodeSummaries"]
    assert len(nodes) == 2
    described = sm.describe_cluster_node(ClusterName="minimal", NodeId=nodes[0]["InstanceId"])["NodeDetails"]
    assert "ThreadsPerCore" not in described  # not given, no default documented: not reported
    group = sm.describe_cluster(ClusterName="minimal")["InstanceGroups"][0]
    assert (group["InstanceGroupName"], group["CurrentCount"]) == ("gpu", 2)
    assert "LifeCycleConfig" not in group and "ThreadsPerCore" not in group  # moto's stand-ins are gone


@pytest.mark.parametrize(
    ("missing", "path"),
    [
        ("ExecutionRole", "instanceGroups.1.member.executionRole"),
        ("InstanceCount", "instanceGroups.1.member.instanceCount"),
        ("InstanceGroupName", "instanceGroups.1.member.instanceGroupName"),
    ],
)
def test_a_create_cluster_without_a_required_member_is_a_validation_error(
    aws: AwsEnv, missing: str, path: str
) -> None:
    sm = _no_retry(aws, parameter_validation=False)  # what a hand-made HTTP request can send
    group = {
        "InstanceGroupName": "gpu",
        "InstanceType": "ml.p5.48xlarge",
        "InstanceCount": 1,
        "ExecutionRole": ROLE,
    }
    del group[missing]
    with pytest.raises(ClientError) as raised:
        sm.create_cluster(ClusterName="incomplete", InstanceGroups=[group])
    error = raised.value.response["Error"]
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Code"] == "ValidationException"
    assert f"Value null at '{path}' failed to satisfy constraint: Member must not be null" in error["Message"]
    assert sm.list_clusters()["ClusterSummaries"] == []  # nothing half-created


def test_a_create_cluster_without_instance_groups_is_a_validation_error(aws: AwsEnv) -> None:
    sm = _no_retry(aws)
    with pytest.raises(ClientError) as raised:
        sm.create_cluster(ClusterName="empty")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert sm.list_clusters()["ClusterSummaries"] == []
