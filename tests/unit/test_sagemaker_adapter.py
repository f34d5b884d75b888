"""The adapter enforces the API maxima before sending and turns every error into receipts."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from autoheal.adapters.sagemaker import HyperPodNodes, RequestTooLarge
from autoheal.core.results import EntryOutcome, IdKind


def _ids(n: int) -> list[str]:
    return [f"i-{i:017x}" for i in range(n)]


@pytest.fixture
def sagemaker():  # type: ignore[no-untyped-def]
    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        yield client, stub


def test_26_ids_are_refused_before_anything_is_sent(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    with pytest.raises(RequestTooLarge):
        HyperPodNodes(client).reboot("c1", {IdKind.NODE_ID: _ids(26)})
    with pytest.raises(RequestTooLarge):
        HyperPodNodes(client).replace("c1", {IdKind.LOGICAL_ID: [f"n-{i}" for i in range(26)]})
    stub.assert_no_pending_responses()


def test_25_ids_go_out_in_one_call(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    ids = _ids(25)
    stub.add_response(
        "batch_reboot_cluster_nodes", {"Successful": ids, "Failed": []}, {"ClusterName": "c1", "NodeIds": ids}
    )
    receipt = HyperPodNodes(client).reboot("c1", {IdKind.NODE_ID: ids})
    assert receipt.size == 25 and all(r.outcome is EntryOutcome.ACCEPTED for r in receipt.results)


def test_a_cluster_that_does_not_exist_closes_every_entry(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    stub.add_client_error(
        "batch_replace_cluster_nodes", service_error_code="ResourceNotFound", http_status_code=400
    )
    receipt = HyperPodNodes(client).replace("gone", {IdKind.NODE_ID: _ids(3)})
    assert receipt.call_error == "ResourceNotFound"
    assert {r.outcome for r in receipt.results} == {EntryOutcome.CLUSTER_GONE}


def test_throttling_makes_every_entry_transient(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    stub.add_client_error(
        "batch_reboot_cluster_nodes", service_error_code="ThrottlingException", http_status_code=400
    )
    receipt = HyperPodNodes(client).reboot("c1", {IdKind.NODE_ID: _ids(2)})
    assert {r.outcome for r in receipt.results} == {EntryOutcome.TRANSIENT}


def test_delete_reads_code_not_error_code(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    a, b = _ids(2)
    stub.add_response(
        "batch_delete_cluster_nodes",
        {"Successful": [a], "Failed": [{"NodeId": b, "Code": "NodeIdInUse", "Message": "busy"}]},
        {"ClusterName": "c1", "NodeIds": [a, b]},
    )
    results = {r.node_id: r for r in HyperPodNodes(client).delete("c1", {IdKind.NODE_ID: [a, b]}).results}
    assert results[a].outcome is EntryOutcome.ACCEPTED
    assert (results[b].outcome, results[b].error_code) == (EntryOutcome.TRANSIENT, "NodeIdInUse")


def test_delete_limit_is_50_nodes_combined(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, _ = sagemaker
    with pytest.raises(RequestTooLarge):
        HyperPodNodes(client).delete(
            "c1", {IdKind.NODE_ID: _ids(30), IdKind.LOGICAL_ID: [f"n-{i}" for i in range(21)]}
        )


@pytest.mark.parametrize(
    "increments",
    [{}, {f"g{i}": 1 for i in range(6)}, {"g": 51}, {"g": 0}, {"a": 30, "b": 21}],
)
def test_add_limits(sagemaker, increments: dict[str, int]) -> None:  # type: ignore[no-untyped-def]
    client, _ = sagemaker
    with pytest.raises(RequestTooLarge):
        HyperPodNodes(client).add("c1", increments, "token-1")


def test_add_sends_the_client_token(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, stub = sagemaker
    stub.add_response(
        "batch_add_cluster_nodes",
        {
            "Successful": [{"NodeLogicalId": "n-1", "InstanceGroupName": "gpu", "Status": "Pending"}],
            "Failed": [],
        },
        {
            "ClusterName": "c1",
            "ClientToken": "tok",
            "NodesToAdd": [{"InstanceGroupName": "gpu", "IncrementTargetCountBy": 1}],
        },
    )
    (result,) = HyperPodNodes(client).add("c1", {"gpu": 1}, "tok")
    assert result.node_logical_ids == ("n-1",)


def test_a_node_named_twice_is_refused(sagemaker) -> None:  # type: ignore[no-untyped-def]
    client, _ = sagemaker
    a = _ids(1)[0]
    with pytest.raises(ValueError, match="twice"):
        HyperPodNodes(client).reboot("c1", {IdKind.NODE_ID: [a, a]})
