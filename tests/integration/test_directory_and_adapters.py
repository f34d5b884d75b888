"""Adapters through real boto3 clients against the local control plane."""

from __future__ import annotations

import uuid

import pytest
from botocore.config import Config

from autoheal.adapters.directory import ClusterNotFound, ClusterUnreachable, NodeDirectory
from autoheal.adapters.notify import HumanNeeded, Notifier
from autoheal.adapters.sagemaker import HyperPodNodes, RequestTooLarge
from autoheal.core.results import EntryOutcome, IdKind
from hyperpod_local.plane.clusters import GroupSpec, create_cluster
from hyperpod_local.stack.resources import create_stack_resources

pytestmark = pytest.mark.integration


@pytest.fixture
def big_cluster(aws):  # type: ignore[no-untyped-def]
    return create_cluster(
        aws.client("sagemaker"),
        aws.control,
        "big",
        [
            GroupSpec(name="controller", instance_type="ml.m5.xlarge", count=1, node_type="Controller"),
            GroupSpec(name="gpu", instance_type="ml.p5.48xlarge", count=230, node_type="Compute"),
        ],
    )


def test_the_directory_pages_through_large_clusters(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    directory = NodeDirectory(aws.client("sagemaker"))
    nodes = directory.cluster("big")
    assert len(nodes.by_instance) == 231
    assert directory.list_calls == 3  # 100 per page
    some = big_cluster.in_group("gpu")[150]
    found = nodes.find(some.instance_id, None)
    assert found is not None and (found.node_logical_id, found.instance_group) == (some.logical_id, "gpu")
    directory.cluster("big")
    assert directory.list_calls == 3  # cached for the invocation


def test_the_directory_locates_a_node_without_its_cluster(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    node = big_cluster.in_group("gpu")[7]
    found = NodeDirectory(aws.client("sagemaker")).locate(node.instance_id, None)
    assert found is not None and found.cluster_name == "big"


def test_an_unknown_cluster_is_reported(aws) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClusterNotFound):
        NodeDirectory(aws.client("sagemaker")).cluster("nope")


def test_a_cluster_named_by_arn_resolves_to_its_name_once(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    directory = NodeDirectory(aws.client("sagemaker"))
    assert directory.canonical(big_cluster.arn) == directory.canonical("big") == "big"
    nodes = directory.cluster(directory.canonical(big_cluster.arn))
    assert nodes.cluster_name == "big" and directory.info(big_cluster.arn).name == "big"
    assert {n.cluster_name for n in nodes.by_instance.values()} == {"big"}


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("ValidationException", "ListClusterNodes"),  # a request problem, not a missing cluster
        ("AccessDeniedException", "ListClusterNodes"),
        ("ThrottlingException", "DescribeCluster"),
        ("AccessDeniedException", "ListTags"),
    ],
)
def test_only_resource_not_found_means_gone_any_other_error_is_unreachable(
    aws,  # type: ignore[no-untyped-def]
    big_cluster,  # type: ignore[no-untyped-def]
    code: str,
    action: str,
) -> None:
    aws.control.fail_calls("big", code, actions=(action,))
    directory = NodeDirectory(aws.client("sagemaker", config=Config(retries={"total_max_attempts": 1})))
    read = directory.cluster if action == "ListClusterNodes" else directory.info
    with pytest.raises(ClusterUnreachable) as first:
        read("big")
    assert (first.value.cluster, first.value.code) == ("big", code)
    calls = directory.list_calls
    with pytest.raises(ClusterUnreachable):  # remembered for the invocation: not asked again
        read("big")
    assert directory.list_calls == calls


def test_an_injected_error_stops_one_cluster_only(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    create_cluster(
        aws.client("sagemaker"), aws.control, "other", [GroupSpec("gpu", "ml.p5.48xlarge", count=2)]
    )
    aws.control.fail_calls(big_cluster.arn, "AccessDeniedException", times=1)
    directory = NodeDirectory(aws.client("sagemaker"))
    assert len(directory.cluster("other").by_instance) == 2
    with pytest.raises(ClusterUnreachable):
        directory.cluster("big")
    assert len(NodeDirectory(aws.client("sagemaker")).cluster("big").by_instance) == 231  # times=1


def test_a_node_not_found_while_a_cluster_cannot_be_listed_is_unreachable_not_absent(
    aws, big_cluster
) -> None:  # type: ignore[no-untyped-def]
    aws.control.fail_calls("big", "AccessDeniedException", actions=("ListClusterNodes",))
    with pytest.raises(ClusterUnreachable):  # the node may be in the cluster we could not list
        NodeDirectory(aws.client("sagemaker")).locate(big_cluster.instance_ids("gpu")[0], None)


def test_the_adapter_refuses_26_before_the_server_sees_it(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    ids = big_cluster.instance_ids("gpu")[:26]
    with pytest.raises(RequestTooLarge):
        HyperPodNodes(aws.client("sagemaker")).reboot("big", {IdKind.NODE_ID: ids})
    assert aws.control.calls == []


def test_reboot_receipts_through_boto3(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    ids = big_cluster.instance_ids("gpu")[:25]
    aws.control.set_busy(ids[0], 60)
    receipt = HyperPodNodes(aws.client("sagemaker")).reboot("big", {IdKind.NODE_ID: ids})
    outcomes = {r.node_id: (r.outcome, r.error_code) for r in receipt.results}
    assert outcomes[ids[0]] == (EntryOutcome.TRANSIENT, "InstanceIdInUse")
    assert all(outcomes[i] == (EntryOutcome.ACCEPTED, None) for i in ids[1:])
    assert receipt.request_id


def test_delete_receipts_read_code(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    a, b = big_cluster.instance_ids("gpu")[:2]
    aws.control.set_busy(b, 60)
    results = {
        r.node_id: r
        for r in HyperPodNodes(aws.client("sagemaker")).delete("big", {IdKind.NODE_ID: [a, b]}).results
    }
    assert results[a].outcome is EntryOutcome.ACCEPTED
    assert results[b].outcome is EntryOutcome.TRANSIENT and results[b].error_code == "NodeIdInUse"


def test_add_is_idempotent_with_its_client_token(aws, big_cluster) -> None:  # type: ignore[no-untyped-def]
    nodes = HyperPodNodes(aws.client("sagemaker"))
    first = nodes.add("big", {"gpu": 2}, "token-1")
    again = nodes.add("big", {"gpu": 2}, "token-1")
    assert first[0].node_logical_ids == again[0].node_logical_ids and len(first[0].node_logical_ids) == 2


def test_needs_human_is_published_once_per_cluster(aws) -> None:  # type: ignore[no-untyped-def]
    stack = create_stack_resources(aws.client, suffix=uuid.uuid4().hex[:8])
    sqs = aws.client("sqs")
    tap = sqs.create_queue(QueueName="tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=tap, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws.client("sns").subscribe(TopicArn=stack.topic_arn, Protocol="sqs", Endpoint=arn)
    notifier = Notifier(aws.client("sns"), stack.topic_arn)
    people = [HumanNeeded("c1", f"n{i}", None, "ladder_exhausted", "replace", "Xid79") for i in range(3)]
    people.append(HumanNeeded("c2", "m1", None, "budget_exhausted", "replace", "Xid79"))
    assert notifier.needs_human(people) == 2
    got = sqs.receive_message(QueueUrl=tap, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 2
